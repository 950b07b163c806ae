// Three broken responses that the conformance check must refuse, one error each: a VideoFile
// without `torrentUrl`, one with a string `size`, and a Thumbnail with an aspect ratio PeerTube
// does not have (tests/rest_conformance.rs, a_broken_response_fails_the_check).
import type * as PT from '@peertube/peertube-types'
import { wire, type Wire } from './wire.js'

const file = {
  id: 1,
  resolution: { id: 240, label: '240p' },
  size: 12345,
  torrentDownloadUrl: 'http://127.0.0.1/download/torrents/a.torrent',
  fileUrl: 'http://127.0.0.1/static/streaming-playlists/hls/u/a.mp4',
  fileDownloadUrl: 'http://127.0.0.1/static/streaming-playlists/hls/u/a.mp4',
  fps: 25,
  magnetUri: null,
  hasAudio: true,
  hasVideo: true,
  storage: 0,
  encoder: 'libx264',
} as const
export const missing: Wire<PT.VideoFile> = wire(file)

const file2 = { ...file, size: '12345', torrentUrl: 'http://127.0.0.1/lazy-static/torrents/a.torrent' } as const
export const wrongType: Wire<PT.VideoFile> = wire(file2)

const thumbnail = { height: 180, width: 320, aspectRatio: '21:9', fileUrl: 'http://127.0.0.1/t.jpg' } as const
export const thumb: Wire<PT.Thumbnail> = wire(thumbnail)
