// The player of the watch and embed pages: hls.js with p2p-media-loader (WebRTC between viewers,
// signalled by our WebSocket tracker), every segment checked against the video's segments-sha256
// JSON (from peers and from HTTP), a quality menu, keyboard controls and live P2P statistics.
// A private video's files are loaded with a video file token (`videoFileToken`) on every request
// to our origin, and without P2P (the tracker does not track private videos).
// State for tests and curious users: window.fleuvePlayer.
import { HlsJsP2PEngine } from "p2p-media-loader-hlsjs";
import { sha256Hex } from "./sha256.js";
import { bytes, session } from "./common.js";

const params = new URLSearchParams(location.search);
// Set by startPlayer.
let video, box, errorBox, qualityMenu, statsLine, playlist;
let fileToken = null;

/** `url` with the video file token, for requests to our own origin. */
function withToken(url) {
  if (!fileToken) return url;
  const u = new URL(url, location.href);
  if (u.origin !== location.origin) return url;
  u.searchParams.set("videoFileToken", fileToken);
  return u.toString();
}

// PeerTube's VOD loader settings (p2p-media-loader 0.6 names) expressed as p2p-media-loader 2.x
// time windows: priorities count segments ahead of the playhead, so window = priority x segment.
const SEGMENT_SECS = 4;
const PEERTUBE = {
  requiredSegmentsPriority: 3,
  httpDownloadMaxPriority: 9,
  p2pDownloadMaxPriority: 50,
  simultaneousHttpDownloads: 1,
  httpFailedSegmentTimeout: 1000,
};

const stats = {
  peers: new Set(),
  bytes: { http: 0, p2p: 0 },
  uploaded: 0,
  segments: { http: 0, p2p: 0 },
  validated: { http: 0, p2p: 0 },
  rejected: { http: 0, p2p: 0 },
  trackerErrors: [],
};
const state = {
  ready: false,
  p2pEnabled: false,
  errors: [],
  levels: [],
  stats,
  get peerCount() {
    return stats.peers.size;
  },
  get p2pShare() {
    const total = stats.bytes.http + stats.bytes.p2p;
    return total ? stats.bytes.p2p / total : 0;
  },
};
window.fleuvePlayer = state;

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

// --- segment validation -------------------------------------------------------------------
let hashes = null;
let hashesAt = 0;

async function loadHashes(force) {
  if (hashes && !force) return hashes;
  if (force && Date.now() - hashesAt < 500) await new Promise((r) => setTimeout(r, 500));
  const r = await fetch(withToken(playlist.segmentsSha256Url), { cache: force ? "no-cache" : "default" });
  if (!r.ok) throw new Error(`segments-sha256 answered ${r.status}`);
  hashes = await r.json();
  hashesAt = Date.now();
  return hashes;
}

async function validate(source, url, byteRange, data) {
  try {
    const name = decodeURIComponent(new URL(url, location.href).pathname.split("/").pop());
    let table;
    // An unknown file name may mean a stale JSON: refetch it (PeerTube: 10 tries, 500 ms apart).
    for (let attempt = 0; attempt < 10 && !table; attempt++) {
      table = (await loadHashes(attempt > 0))[name];
    }
    const want = byteRange ? table?.[`${byteRange.start}-${byteRange.end}`] : table;
    const got = await sha256Hex(data);
    if (typeof want === "string" && got === want) {
      stats.validated[source]++;
      return true;
    }
    stats.rejected[source]++;
    console.warn(`segment ${name} ${byteRange?.start}-${byteRange?.end} from ${source}: sha256 mismatch`);
    return false;
  } catch (e) {
    stats.rejected[source]++;
    console.warn(`cannot validate a segment from ${source}: ${e.message}`);
    return false;
  }
}

// --- the player -----------------------------------------------------------------------------
function renderStats() {
  const total = stats.bytes.http + stats.bytes.p2p;
  const share = total ? Math.round((100 * stats.bytes.p2p) / total) : 0;
  const summary = statsLine.querySelector('[data-stat="summary"]');
  statsLine.classList.toggle("live", state.p2pEnabled && stats.peers.size > 0);
  if (!state.p2pEnabled) {
    summary.textContent = "P2P off · all from the server";
    return;
  }
  const peers = stats.peers.size;
  summary.textContent =
    `${peers} ${peers === 1 ? "peer" : "peers"} · ${bytes(stats.bytes.p2p)} from peers (${share}%)` +
    ` · ${bytes(stats.bytes.http)} from the server · ${bytes(stats.uploaded)} shared`;
}

function fillQualityMenu(hls) {
  state.levels = hls.levels.map((l, index) => ({
    index,
    height: l.height,
    width: l.width,
    bitrate: l.bitrate,
    label: `${Math.min(l.height, l.width) || l.height}p`,
  }));
  qualityMenu.replaceChildren(new Option("Auto", "-1"));
  for (const l of [...state.levels].sort((a, b) => b.height - a.height)) {
    qualityMenu.append(new Option(l.label, String(l.index)));
  }
  qualityMenu.disabled = false;
  qualityMenu.addEventListener("change", () => {
    hls.currentLevel = Number(qualityMenu.value);
  });
  hls.on(window.Hls.Events.LEVEL_SWITCHED, (_e, d) => {
    const auto = qualityMenu.options[0];
    auto.textContent = hls.autoLevelEnabled ? `Auto (${state.levels[d.level]?.label})` : "Auto";
  });
}

function keyboard() {
  const target = box;
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && t !== video && /^(INPUT|TEXTAREA|SELECT|BUTTON|SUMMARY)$/.test(t.tagName)) return;
    if (t && t.tagName === "A") return;
    const k = e.key.toLowerCase();
    let handled = true;
    if (k === " " || k === "k") video.paused ? video.play() : video.pause();
    else if (k === "arrowleft") video.currentTime = Math.max(0, video.currentTime - 5);
    else if (k === "arrowright") video.currentTime = Math.min(video.duration || 0, video.currentTime + 5);
    else if (k === "arrowup") video.volume = Math.min(1, video.volume + 0.1);
    else if (k === "arrowdown") video.volume = Math.max(0, video.volume - 0.1);
    else if (k === "m") video.muted = !video.muted;
    else if (k === "f") {
      if (document.fullscreenElement) document.exitFullscreen();
      else target.requestFullscreen?.();
    } else if (/^[0-9]$/.test(k) && video.duration) video.currentTime = (video.duration * Number(k)) / 10;
    else handled = false;
    if (handled) e.preventDefault();
  });
}

// A large play button over the picture (not the browser's control bar) until the video first
// plays, as every video site has: a click in the middle of the native <video> did nothing
// before the first play (only the small ▶ of the control bar started it). After the first
// play the browser's own controls take clicks on the picture (play/pause); without them
// (`controls=0`), a click toggles here.
function bigPlayButton() {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "big-play";
  button.setAttribute("aria-label", "Play");
  button.innerHTML =
    '<svg viewBox="0 0 64 64" aria-hidden="true" focusable="false"><circle cx="32" cy="32" r="30"/><path d="M26 20v24l19-12z"/></svg>';
  button.addEventListener("click", () => {
    video.play().catch((e) => showError(`Playback could not start (${e.message}).`));
  });
  video.addEventListener("play", () => { button.hidden = true; });
  video.addEventListener("click", () => {
    if (!video.controls) video.paused ? video.play().catch(() => {}) : video.pause();
  });
  box.append(button);
  state.bigPlayButton = button;
}

// PeerTube's embed options that change the page rather than the stream.
function applyEmbedOptions() {
  if (params.get("controls") === "0") video.controls = false;
  const link = document.querySelector(".embed-title");
  if (link && (params.get("title") === "0" || params.get("peertubeLink") === "0")) link.hidden = true;
}

/**
 * Starts the player on the page's player markup for `data` (the video's API document).
 * `options.videoFileToken`: the token a private video's files need.
 */
export function startPlayer(data, options = {}) {
  video = document.getElementById("video");
  box = video.closest("[data-player]");
  errorBox = box.querySelector(".player-error");
  qualityMenu = document.getElementById("quality");
  statsLine = document.getElementById("p2p-stats");
  playlist = (data.streamingPlaylists || [])[0];
  fileToken = options.videoFileToken || null;
  applyEmbedOptions();
  if (!playlist) return showError("This video has no playable stream yet.");
  bigPlayButton();
  const Hls = window.Hls;
  if (!Hls) return showError("The player could not load (hls.js is missing on the server).");
  const trackers = (data.trackerUrls || []).filter((u) => /^wss?:\/\//.test(u));
  state.p2pEnabled =
    !fileToken &&
    params.get("p2p") !== "0" &&
    // The logged-in viewer's own setting (`p2pEnabled` of /api/v1/users/me, read at login).
    session()?.p2pEnabled !== false &&
    trackers.length > 0 &&
    !!playlist.segmentsSha256Url &&
    !!window.RTCPeerConnection;
  keyboard();
  if (!Hls.isSupported()) {
    // Safari on iOS: native HLS, no P2P (and the media playlists of a private video cannot carry
    // the token there).
    state.p2pEnabled = false;
    video.src = withToken(playlist.playlistUrl);
    state.ready = true;
    renderStats();
    return;
  }
  const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
  const hls = new HlsWithP2P({
    // Playlists and init segments (hls.js's own loader) carry the token.
    xhrSetup: fileToken ? (xhr, url) => xhr.open("GET", withToken(url), true) : undefined,
    maxBufferLength: 30,
    // Segments load once the viewer presses play: opening a page costs only the playlists.
    autoStartLoad: false,
    // hls.js transfers segment buffers to its worker, which detaches them: the P2P engine keeps
    // those same buffers to share with peers, so they would go out empty (0 bytes).
    enableWorker: false,
    p2p: {
      core: {
        announceTrackers: trackers,
        // Only our own tracker: no third-party STUN servers are contacted.
        rtcConfig: { iceServers: [] },
        simultaneousHttpDownloads: PEERTUBE.simultaneousHttpDownloads,
        highDemandTimeWindow: PEERTUBE.requiredSegmentsPriority * SEGMENT_SECS,
        httpDownloadTimeWindow: PEERTUBE.httpDownloadMaxPriority * SEGMENT_SECS,
        p2pDownloadTimeWindow: PEERTUBE.p2pDownloadMaxPriority * SEGMENT_SECS,
        httpNotReceivingBytesTimeoutMs: Math.max(3000, PEERTUBE.httpFailedSegmentTimeout),
        isP2PDisabled: !state.p2pEnabled,
        validateP2PSegment: (url, range, data) => validate("p2p", url, range, data),
        validateHTTPSegment: (url, range, data) => validate("http", url, range, data),
        // Segments fetched over HTTP by the P2P engine carry the token too.
        httpRequestSetup: fileToken
          ? async (url, _segmentRange, signal, range) =>
              new Request(withToken(url), {
                headers: range ? { Range: `bytes=${range.start}-${range.end ?? ""}` } : {},
                signal,
              })
          : undefined,
      },
    },
  });
  state.hls = hls;
  const engine = hls.p2pEngine;
  engine.addEventListener("onPeerConnect", (p) => stats.peers.add(p.peerId));
  engine.addEventListener("onPeerClose", (p) => stats.peers.delete(p.peerId));
  engine.addEventListener("onChunkDownloaded", (n, source) => {
    stats.bytes[source] = (stats.bytes[source] || 0) + n;
  });
  engine.addEventListener("onChunkUploaded", (n) => {
    stats.uploaded += n;
  });
  engine.addEventListener("onSegmentLoaded", (d) => {
    stats.segments[d.downloadSource] = (stats.segments[d.downloadSource] || 0) + 1;
  });
  engine.addEventListener("onTrackerError", (d) => stats.trackerErrors.push(String(d.error?.message || d.error)));
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    fillQualityMenu(hls);
    state.ready = true;
    const startAt = Number(params.get("start"));
    if (startAt > 0) video.currentTime = startAt;
    if (params.get("autoplay") === "1") video.play().catch(() => {});
  });
  hls.on(Hls.Events.ERROR, (_e, d) => {
    state.errors.push({ fatal: d.fatal, type: d.type, details: d.details });
    if (!d.fatal) return;
    if (d.type === Hls.ErrorTypes.NETWORK_ERROR) {
      hls.startLoad();
    } else if (d.type === Hls.ErrorTypes.MEDIA_ERROR) {
      hls.recoverMediaError();
    } else {
      showError(`Playback failed (${d.details}).`);
      hls.destroy();
    }
  });
  if (params.get("muted") === "1") video.muted = true;
  if (params.get("loop") === "1") video.loop = true;
  video.addEventListener(
    "play",
    () => hls.startLoad(video.currentTime > 0 ? video.currentTime : -1),
    { once: true },
  );
  hls.loadSource(withToken(playlist.playlistUrl));
  hls.attachMedia(video);
  renderStats();
  setInterval(renderStats, 1000);
}

// The watch and embed pages of public videos carry the video's document; the page of a private
// video starts the player itself (watch-private.js) once it has a token.
const embedded = document.getElementById("video-data");
if (embedded) startPlayer(JSON.parse(embedded.textContent));
