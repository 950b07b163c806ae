// A stand-in for `webrtc-polyfill` (the WebRTC module simple-peer imports), loaded in its place
// by bittorrent_tracker_ws.mjs. Why: the real one wraps the native `node-datachannel`, which
// cannot be built or downloaded here, and importing bittorrent-tracker's client loads it.
// This test is about the tracker's signalling (offers out in announces, relayed, answers back);
// a real WebRTC connection through our tracker is covered by libtorrent's test (tracker.rs).
//
// Only what simple-peer calls on the way to its `signal` events is here: create an offer or an
// answer, set it locally, then end ICE gathering (a null candidate) so the non-trickle SDP goes
// out. No connection is ever made. Every SDP made is remembered, so the receiving side can check
// that the one it was handed is byte for byte one that was sent.

import { randomBytes } from 'node:crypto'

export const sent = new Set()
export const received = []

const sdp = type =>
  [
    'v=0',
    `o=- ${BigInt('0x' + randomBytes(7).toString('hex'))} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    `a=ice-ufrag:${randomBytes(3).toString('hex')}`,
    `a=ice-pwd:${randomBytes(12).toString('base64')}`,
    `a=setup:${type === 'offer' ? 'actpass' : 'active'}`,
    'a=mid:0',
    'a=sctp-port:5000',
    'a=candidate:1 1 UDP 2122252543 127.0.0.1 9 typ host',
    ''
  ].join('\r\n')

export class RTCSessionDescription {
  constructor ({ type, sdp }) {
    this.type = type
    this.sdp = sdp
  }
}

export class RTCIceCandidate {
  constructor (init) {
    Object.assign(this, init)
  }
}

export class RTCPeerConnection {
  constructor () {
    this.localDescription = null
    this.remoteDescription = null
    this.iceConnectionState = 'new'
    this.iceGatheringState = 'new'
    this.signalingState = 'stable'
  }

  createDataChannel (label) {
    return { label, readyState: 'connecting', close () {} }
  }

  async createOffer () {
    return new RTCSessionDescription({ type: 'offer', sdp: sdp('offer') })
  }

  async createAnswer () {
    return new RTCSessionDescription({ type: 'answer', sdp: sdp('answer') })
  }

  async setLocalDescription (d) {
    this.localDescription = new RTCSessionDescription(d)
    sent.add(d.sdp)
    setTimeout(() => this.onicecandidate?.({ candidate: null }), 0)
  }

  async setRemoteDescription (d) {
    this.remoteDescription = new RTCSessionDescription(d)
    received.push(d)
  }

  async addIceCandidate () {}

  async getStats () {
    return []
  }

  close () {}
}
