// Two `bittorrent-tracker` (npm, the WebTorrent reference client) clients announce one torrent
// to a WebSocket tracker and signal each other through it:
//   A (seeder, left: 0) announces; once answered, B (leecher, no `left`, as browsers send)
//   announces with its offers; the tracker relays one to A; A's answer goes back through the
//   tracker to B; then A scrapes (the answer must not have changed who is a seeder). The
//   library's own code builds, sends and handles every message.
// Usage: node bittorrent_tracker_ws.mjs ws://HOST:PORT/tracker/socket <info hash, 40 hex>
// Prints one JSON line and exits 0 when all of that happened, 1 (with the state) after 30 s.

import { register } from 'node:module'

const [url, infoHash] = process.argv.slice(2)
if (!/^wss?:\/\//.test(url ?? '') || !/^[0-9a-fA-F]{40}$/.test(infoHash ?? '')) {
  console.error('usage: node bittorrent_tracker_ws.mjs ws://HOST:PORT/PATH <info hash, 40 hex>')
  process.exit(2)
}

// WebRTC is replaced by a signalling-only stand-in: see fake_webrtc.mjs for why.
const stub = new URL('./fake_webrtc.mjs', import.meta.url).href
register('data:text/javascript,' + encodeURIComponent(`
  export async function resolve (specifier, context, next) {
    if (specifier === 'webrtc-polyfill') return { url: ${JSON.stringify(stub)}, shortCircuit: true }
    return next(specifier, context)
  }`))
const { default: Client } = await import('bittorrent-tracker/client')
const webrtc = await import(stub)

// Peer ids with a NUL, a quote, a backslash, a newline and bytes >= 0x80: on the wire they are
// 20-character latin1 strings inside JSON, which the tracker must decode and re-encode exactly.
const PEER_IDS = {
  a: '2d5757303030312d' + 'a000ff225c0a7f80c3e9fe01',
  b: '2d5757303030312d' + 'b000ff225c0a7f80c3e9fe02'
}
const state = {}
const warnings = []

function start (name, announceOpts) {
  const s = (state[name] = { peer_id: PEER_IDS[name], updates: [], offers_from: [], answers_from: [] })
  const client = new Client({
    infoHash,
    peerId: PEER_IDS[name],
    // The library keeps one socket per announce URL in a process; two browsers would each have
    // their own, so each client gets its own URL (a query string the tracker ignores).
    announce: [`${url}?client=${name}`],
    port: 6881,
    getAnnounceOpts: () => announceOpts
  })
  client.on('update', d => s.updates.push({ complete: d.complete, incomplete: d.incomplete }))
  // A 'peer' made from a relayed offer is not the initiator; one completed by an answer is.
  client.on('peer', peer => (peer.initiator ? s.answers_from : s.offers_from).push(peer.id))
  client.on('scrape', d => (state.scrape = { complete: d.complete, incomplete: d.incomplete }))
  // Tracker errors (`failure reason`) and socket errors arrive as warnings: fail at once.
  client.on('warning', err => {
    warnings.push(`${name}: ${err.message}`)
    finish(`${name} warned: ${err.message}`)
  })
  client.on('error', err => finish(`${name}: client error: ${err.message}`))
  client.start()
  return client
}

const clients = [start('a', { left: 0 })]
const deadline = setTimeout(() => finish('deadline (30 s) passed'), 30_000)
const poll = setInterval(() => {
  const { a, b } = state
  if (!b && a.updates.length > 0) clients.push(start('b', {}))
  const signalled =
    b?.updates.length > 0 &&
    a.offers_from.includes(PEER_IDS.b) &&
    b.answers_from.includes(PEER_IDS.a) &&
    webrtc.received.some(d => d.type === 'answer')
  if (signalled && !state.scrape_sent) {
    state.scrape_sent = true
    clients[0].scrape()
  }
  if (state.scrape) finish(null)
}, 20)

let finished = false
function finish (failure) {
  if (finished) return
  finished = true
  clearTimeout(deadline)
  clearInterval(poll)
  // Each description a peer was handed must be one a peer produced, unchanged.
  const intact = webrtc.received.every(d => webrtc.sent.has(d.sdp))
  if (!failure && !intact) failure = 'a relayed SDP differs from every SDP sent'
  const summary = {
    ok: !failure,
    failure,
    a: state.a,
    b: state.b,
    scrape: state.scrape,
    sdp_sent: webrtc.sent.size,
    sdp_received: webrtc.received.map(d => d.type),
    sdp_intact: intact,
    warnings
  }
  console.log(JSON.stringify(summary))
  if (failure) console.error(`bittorrent-tracker client: ${failure}`)
  for (const c of clients) c.destroy()
  process.exit(failure ? 1 : 0)
}
