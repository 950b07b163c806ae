// The player of the watch and embed pages: hls.js with p2p-media-loader (WebRTC between viewers,
// signalled by our WebSocket tracker), every segment checked against the video's segments-sha256
// JSON (from peers and from HTTP), a quality menu, keyboard controls and live P2P statistics.
// A private video's files are loaded with a video file token (`videoFileToken`) on every request
// to our origin, and without P2P (the tracker does not track private videos).
// Mirrors (`streamingPlaylists[0].redundancies`, PeerTube's redundancy: other servers keeping a
// copy of the playlist directory, each file under its own name): HTTP segments go to the origin
// and the mirrors in turn (PeerTube's player picks at random), each one checked against the
// hashes whichever base served it (with P2P off too, when hls.js loads segments itself). A base
// that fails a segment (error, timeout or sha256 mismatch) is left out for the rest of the
// session (all of them are tried again if none is left); wrong bytes are taken again at once
// from another base. Beyond PeerTube, playlists, init segments and the segments-sha256 JSON fall
// back to the mirrors when the origin does not answer.
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
  // Mirrors: the base URLs given, those dropped ({base, reason}, in order), whether the origin is
  // left out (and the last reason it was), how often every base had failed and all were tried
  // again, and the mirror that answered when the origin did not (origin files go there first).
  mirrors: [],
  droppedMirrors: [],
  originDown: false,
  originDownReason: null,
  mirrorResets: 0,
  playlistMirror: null,
  // URL origin (scheme://host:port) -> HTTP segments validated from it / playlists and init
  // segments loaded from it.
  segmentSources: {},
  playlistSources: {},
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

// --- mirrors (PeerTube's redundancy) ------------------------------------------------------
// A base is a directory URL without a trailing slash: the origin's (where the master playlist
// is) or a mirror's `baseUrl`. The file X of the playlist is at `${base}/${basename(X)}` on each.
const FALLBACK_FIRST_BYTE_MS = 5000;
const bases = { origin: null, mirrors: [], down: new Set() };

/** `url` made absolute (against the page). */
const absolute = (url) => new URL(url, location.href);

/** `base` absolute, without its trailing slash (mirrors may give one). */
function normaliseBase(base) {
  return absolute(`${String(base).replace(/\/+$/, "")}/`).href.slice(0, -1);
}

/** The last segment of `url`'s path, without the query (still percent-encoded). */
function basename(url) {
  return absolute(url).pathname.split("/").pop();
}

function directory(url) {
  const u = absolute(url);
  return u.origin + u.pathname.slice(0, u.pathname.lastIndexOf("/"));
}

/** The known base `url` is in, or null. */
function baseOf(url) {
  const dir = directory(url);
  return dir === bases.origin || bases.mirrors.includes(dir) ? dir : null;
}

const allBases = () => [bases.origin, ...bases.mirrors];
const aliveBases = () => allBases().filter((b) => !bases.down.has(b));

/** The copy of `url` on `base`: `url` itself on its own base (and on the origin when it is under
 * no known base: the origin's token and query stay), else the file of the same name. */
function urlOn(base, url) {
  const own = baseOf(url);
  if (base === own || (base === bases.origin && own === null)) return url;
  return `${base}/${basename(url)}`;
}

/** Sets the bases up from the video document's playlist. */
function setUpMirrors(pl) {
  bases.origin = directory(pl.playlistUrl);
  const given = (pl.redundancies || []).map((r) => r && r.baseUrl).filter((b) => typeof b === "string" && b);
  for (const b of given) {
    try {
      const base = normaliseBase(b);
      if (base !== bases.origin && !bases.mirrors.includes(base)) bases.mirrors.push(base);
    } catch {
      console.warn(`mirror ${b}: not a URL`);
    }
  }
  state.mirrors = [...bases.mirrors];
}

/** Leaves `base` out for the rest of the session: a mirror is dropped, the origin marked down. */
function markDown(base, reason) {
  // Without mirrors there is nothing to switch to: the origin stays the one base.
  if (!base || !bases.mirrors.length || bases.down.has(base)) return;
  bases.down.add(base);
  if (base === bases.origin) {
    state.originDown = true;
    state.originDownReason = reason;
  } else {
    state.droppedMirrors.push({ base, reason });
    if (state.playlistMirror === base) state.playlistMirror = null;
  }
  console.warn(`${base === bases.origin ? "origin" : "mirror"} ${base} left out: ${reason}`);
  // Never end with nothing to try: when every base has failed, all of them get another chance.
  if (!aliveBases().length) {
    bases.down.clear();
    state.originDown = false;
    state.playlistMirror = null;
    state.mirrorResets++;
  }
}

/**
 * Where to ask for the file `url` ({base, url}, in order), when one base may not answer: its own
 * base while alive, the other live bases, the bases already left out last. An origin file goes
 * first to the mirror that answered a playlist when the origin did not.
 */
function candidates(url) {
  if (!bases.mirrors.length) return [{ base: baseOf(url) ?? bases.origin, url }];
  const own = baseOf(url) ?? bases.origin;
  const alive = aliveBases();
  const first = [own === bases.origin && state.playlistMirror, alive.includes(own) && own].filter(Boolean);
  const order = [...new Set([...first, ...alive, ...allBases()])];
  return order.map((base) => ({ base, url: urlOn(base, url) }));
}

/** Counts a load from `url`'s origin (scheme://host:port) in `sources`. */
function countSource(sources, url) {
  const origin = absolute(url).origin;
  sources[origin] = (sources[origin] || 0) + 1;
}

/** Whether a failed load is worth asking another base for: no answer, 404 or a server error
 * (not a refusal such as 403, which every copy would repeat). */
const worthFallback = (status) => !status || status === 404 || status >= 500;

// Which base each HTTP segment request of the P2P engine went to (key: segment URL and byte
// range), so that the error or sha256 mismatch that follows is blamed on the right one.
const segmentBases = new Map();
const segmentKey = (url, range) => `${url}|${range ? `${range.start}-${range.end}` : ""}`;

// PeerTube's redundancy-url-manager picks a base at random for each segment; here the live
// bases take turns from a random start: the same even share on average, without runs of bad
// luck that leave a mirror unused (or all the load on one) for a whole short video.
let turn = Math.floor(Math.random() * 1024);

/** The next live base in turn (origin and mirrors alike). */
function pickBase() {
  const alive = aliveBases();
  return alive[turn++ % alive.length];
}

/** Where to ask for the media segment `url` (hls.js's own loads): the next live base in turn,
 * then the other live ones, then those already left out. */
function segmentCandidates(url) {
  const order = [...new Set([pickBase(), ...aliveBases(), ...allBases()])];
  return order.map((base) => ({ base, url: urlOn(base, url) }));
}

/** The base that served the HTTP segment `url` (P2P engine), forgotten once asked: a failure
 * blamed here (sha256 mismatch) is not blamed again by the error event that follows. */
function takeSegmentBase(url, range) {
  const key = segmentKey(url, range);
  const base = segmentBases.get(key);
  segmentBases.delete(key);
  return base;
}

/** p2p-media-loader's `httpRequestSetup`: each segment from the origin or a live mirror in turn
 * (PeerTube's redundancy-url-manager picks at random), the token on our own origin. */
async function segmentRequest(url, segmentRange, signal, range) {
  let target = url;
  if (bases.mirrors.length) {
    const base = pickBase();
    segmentBases.set(segmentKey(url, segmentRange), base);
    target = urlOn(base, url);
  }
  return new Request(withToken(target), {
    headers: range ? { Range: `bytes=${range.start}-${range.end ?? ""}` } : {},
    signal,
  });
}

// Segments whose bytes failed their sha256 check in the P2P engine: p2p-media-loader 2.2.2 then
// forgets a byte-range segment's length, and each later HTTP try of it fails its Content-Range
// check (silently, until httpNotReceivingBytesTimeoutMs): those failures are not the base's.
const lengthLost = new Set();

/** A failed HTTP segment (p2p-media-loader's `onSegmentError`, {segment, error, downloadSource};
 * the engine swallows its own HTTP errors and validation failures, which arrive as
 * "bytes-receiving-timeout" once httpNotReceivingBytesTimeoutMs has passed): the base that
 * served it is left out. */
function segmentFailed(d) {
  if (d.downloadSource !== "http" || !d.segment) return;
  const key = segmentKey(d.segment.url, d.segment.byteRange);
  const base = segmentBases.get(key);
  segmentBases.delete(key);
  if (lengthLost.has(key)) return;
  markDown(base, `segment ${basename(d.segment.url)}: ${d.error?.type || d.error?.message || "failed"}`);
}

function segmentAborted(d) {
  if (d.downloadSource === "http" && d.segment) segmentBases.delete(segmentKey(d.segment.url, d.segment.byteRange));
}

/** hls.js's loader settings for a try with another base after it: no retries of its own and a
 * shorter wait for the first byte, so that the next base is asked soon. */
function quickConfig(config) {
  const policy = config.loadPolicy;
  if (!policy) return config;
  const firstByte = Math.min(policy.maxTimeToFirstByteMs || Infinity, policy.maxLoadTimeMs || Infinity, FALLBACK_FIRST_BYTE_MS);
  return { ...config, loadPolicy: { ...policy, maxTimeToFirstByteMs: firstByte, timeoutRetry: null, errorRetry: null } };
}

/** Whether `context` (hls.js) is a media segment's (not a playlist's or an init segment's). */
const isMediaSegment = (context) => !!context.frag && context.frag.sn !== "initSegment";

/** The byte range of an hls.js context, as p2p-media-loader and the sha256 JSON give it (end
 * included), or undefined. */
const rangeOf = (context) => (context.rangeEnd ? { start: context.rangeStart || 0, end: context.rangeEnd - 1 } : undefined);

/**
 * hls.js's loader (config `loader`; p2p-media-loader's playlist loader wraps it, and its fragment
 * loader uses it for init segments, and for every media segment while P2P is off) with mirrors:
 * when a base does not answer, the same request goes to the next candidate before hls.js hears of
 * the error. Media segments of a video with mirrors start on the next base in turn and are
 * checked against the sha256 JSON before hls.js sees a byte (a mismatch drops the base and asks
 * the next one). hls.js gets back its own context and the stats object it holds (a loader loads
 * once: each try is a fresh `Inner` writing into that object). The response's URL is the base
 * that answered, so the variants of a master playlist loaded from a mirror resolve to it.
 */
function mirrorLoader(Inner) {
  return class MirrorLoader {
    constructor(config) {
      this.hlsConfig = config;
      this.inner = new Inner(config);
      this.stats = this.inner.stats;
      this.context = null;
      this.aborted = false;
    }

    load(context, config, callbacks) {
      this.context = context;
      this.config = config;
      this.callbacks = callbacks;
      this.verify = bases.mirrors.length > 0 && isMediaSegment(context);
      this.tries = this.verify ? segmentCandidates(context.url) : candidates(context.url);
      this.attempt(0);
    }

    /** Asks the next candidate after try `i` failed, or tells hls.js with `report`. */
    next(i, reason, report) {
      if (i === this.tries.length - 1) return report();
      console.warn(`${this.tries[i].url}: ${reason}, asking ${this.tries[i + 1].url}`);
      this.attempt(i + 1);
    }

    attempt(i) {
      const { context, callbacks } = this;
      const { base, url } = this.tries[i];
      const last = i === this.tries.length - 1;
      if (i > 0) {
        this.inner.destroy();
        this.inner = new Inner(this.hlsConfig);
        Object.assign(this.stats, this.inner.stats);
      }
      this.inner.stats = this.stats;
      const what = `${this.verify ? "segment" : "file"} ${basename(url)}`;
      const failed = (reason, report) => {
        if (!this.callbacks) return; // destroyed meanwhile: hls.js no longer listens
        markDown(base, `${what}: ${reason}`);
        this.next(i, reason, report);
      };
      const deliver = (response, details) => {
        if (this.verify) {
          // Held back until checked: hls.js gets the data now, as the inner loader gives it.
          callbacks.onProgress?.(this.stats, context, response.data, details);
        } else if (!isMediaSegment(context)) {
          countSource(state.playlistSources, response.url || url);
        }
        if (base !== bases.origin && state.originDown) state.playlistMirror = base;
        callbacks.onSuccess(response, this.stats, context, details);
      };
      this.inner.load(url === context.url ? context : { ...context, url }, last ? this.config : quickConfig(this.config), {
        onSuccess: (response, _stats, _context, details) => {
          if (!this.verify) return deliver(response, details);
          // hls.js transmuxes what onProgress gives it: nothing goes out before the check.
          validate("http", context.url, rangeOf(context), response.data, base).then((verdict) => {
            if (!this.callbacks || this.aborted) return;
            if (verdict === "valid") return deliver(response, details);
            const report = () => callbacks.onError({ code: 0, text: `sha256 ${verdict}` }, context, details, this.stats);
            // A mismatch dropped the base (validate): the next one may hold the right bytes; a
            // segment with no hash to compare with is the same everywhere.
            if (verdict === "mismatch") this.next(i, "sha256 mismatch", report);
            else report();
          });
        },
        onError: (error, _context, details) => {
          const report = () => callbacks.onError(error, context, details, this.stats);
          if (worthFallback(error.code)) failed(`HTTP ${error.code || "error"}`, report);
          else report();
        },
        onTimeout: (_stats, _context, details) => failed("timeout", () => callbacks.onTimeout(this.stats, context, details)),
        onAbort: (_stats, _context, details) => callbacks.onAbort?.(this.stats, context, details),
        // Data as it arrives only when nothing is to be checked (delivered whole otherwise).
        onProgress:
          callbacks.onProgress && !this.verify
            ? (_stats, _context, data, details) => callbacks.onProgress(this.stats, context, data, details)
            : undefined,
      });
    }

    abort() {
      this.aborted = true;
      this.inner?.abort();
    }

    destroy() {
      this.callbacks = null;
      this.inner?.destroy();
      this.inner = null;
    }

    getCacheAge() {
      return this.inner?.getCacheAge?.() ?? null;
    }

    getResponseHeader(name) {
      return this.inner?.getResponseHeader?.(name) ?? null;
    }
  };
}

// --- segment validation -------------------------------------------------------------------
let hashes = null;
let hashesAt = 0;

/** The segments-sha256 JSON: from the origin, else from each mirror's copy in turn. */
async function loadHashes(force) {
  if (hashes && !force) return hashes;
  if (force && Date.now() - hashesAt < 500) await new Promise((r) => setTimeout(r, 500));
  let failure;
  for (const { base, url } of candidates(playlist.segmentsSha256Url)) {
    let status = 0;
    try {
      const r = await fetch(withToken(url), { cache: force ? "no-cache" : "default" });
      status = r.status;
      if (!r.ok) throw new Error(`segments-sha256 answered ${r.status}`);
      hashes = await r.json();
      hashesAt = Date.now();
      return hashes;
    } catch (e) {
      failure = e;
      if (worthFallback(status)) markDown(base, `segments-sha256: ${e.message}`);
    }
  }
  throw failure;
}

/**
 * Checks segment bytes against the segments-sha256 JSON: "valid", "mismatch", or "unchecked" (no
 * hash to compare with). Counts them (validated/rejected per source; HTTP ones that pass per URL
 * origin of `base`, the base that served them) and leaves out a base that served wrong bytes.
 */
async function validate(source, url, byteRange, data, base) {
  let name = url;
  try {
    name = decodeURIComponent(new URL(url, location.href).pathname.split("/").pop());
    let table;
    // An unknown file name may mean a stale JSON: refetch it (PeerTube: 10 tries, 500 ms apart).
    for (let attempt = 0; attempt < 10 && !table; attempt++) {
      table = (await loadHashes(attempt > 0))[name];
    }
    const want = byteRange ? table?.[`${byteRange.start}-${byteRange.end}`] : table;
    const got = await sha256Hex(data);
    if (typeof want === "string" && got === want) {
      stats.validated[source]++;
      if (source === "http") countSource(state.segmentSources, base ?? url);
      return "valid";
    }
    stats.rejected[source]++;
    if (typeof want !== "string") {
      console.warn(`segment ${name} ${byteRange?.start}-${byteRange?.end} from ${source}: no sha256 to compare with`);
      return "unchecked";
    }
    console.warn(`segment ${name} ${byteRange?.start}-${byteRange?.end} from ${source}${base ? ` (${base})` : ""}: sha256 mismatch`);
    markDown(base, `segment ${name}: sha256 mismatch`);
    return "mismatch";
  } catch (e) {
    stats.rejected[source]++;
    console.warn(`cannot validate a segment from ${source}: ${e.message}`);
    return "unchecked";
  }
}

/**
 * p2p-media-loader's `validateHTTPSegment`. A segment that fails its check is, when there are
 * mirrors, fetched again at once from another base and, if that copy passes, written over the
 * bytes the engine holds (`data` is the buffer it hands to hls.js and keeps for peers): the
 * engine's own retry of a byte-range segment is broken in 2.2.2 (see `lengthLost`).
 */
async function validateHttp(url, byteRange, data) {
  const base = takeSegmentBase(url, byteRange);
  const verdict = await validate("http", url, byteRange, data, base);
  if (verdict === "valid") lengthLost.delete(segmentKey(url, byteRange));
  if (verdict !== "mismatch" || !bases.mirrors.length) return verdict === "valid";
  if (await repairSegment(url, byteRange, data, base)) return true;
  lengthLost.add(segmentKey(url, byteRange));
  return false;
}

// The engine gives up on a segment httpNotReceivingBytesTimeoutMs (3 s) after its last byte: a
// repair must be done before.
const REPAIR_BUDGET_MS = 2000;

/** Writes over `data` a copy of the segment from a live base other than `failedBase` that passes
 * its sha256 check; whether one did. */
async function repairSegment(url, byteRange, data, failedBase) {
  const signal = AbortSignal.timeout(REPAIR_BUDGET_MS);
  for (const { base, url: copy } of candidates(url)) {
    if (base === failedBase || bases.down.has(base)) continue;
    let status = 0;
    try {
      const r = await fetch(withToken(copy), {
        headers: byteRange ? { Range: `bytes=${byteRange.start}-${byteRange.end}` } : {},
        signal,
      });
      status = r.status;
      if (!r.ok || (byteRange && r.status !== 206)) throw new Error(`HTTP ${r.status}`);
      const bytes = await r.arrayBuffer();
      if (bytes.byteLength !== data.byteLength) throw new Error(`${bytes.byteLength} bytes, not ${data.byteLength}`);
      if ((await validate("http", url, byteRange, bytes, base)) !== "valid") continue;
      new Uint8Array(data).set(new Uint8Array(bytes));
      console.warn(`segment ${basename(url)} ${byteRange?.start}-${byteRange?.end}: taken again from ${base}`);
      return true;
    } catch (e) {
      if (signal.aborted) break;
      if (worthFallback(status)) markDown(base, `segment ${basename(url)}: ${e.message}`);
    }
  }
  return false;
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
  setUpMirrors(playlist);
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
  const mirrored = bases.mirrors.length > 0;
  const hls = new HlsWithP2P({
    // Playlists and init segments (hls.js's own loader) carry the token, and fall back to the
    // mirrors when the origin does not answer.
    xhrSetup: fileToken ? (xhr, url) => xhr.open("GET", withToken(url), true) : undefined,
    loader: mirrorLoader(Hls.DefaultConfig.loader),
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
        validateP2PSegment: async (url, range, data) => (await validate("p2p", url, range, data)) === "valid",
        validateHTTPSegment: validateHttp,
        // Segments fetched over HTTP by the P2P engine carry the token too, and go to the origin
        // or a mirror.
        httpRequestSetup: fileToken || mirrored ? segmentRequest : undefined,
        // The swarm of the origin's master playlist (the tracker knows its hashes), even when the
        // master came from a mirror (the default is the URL the master was loaded from).
        swarmId: mirrored ? absolute(playlist.playlistUrl).href.split("?")[0] : undefined,
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
  engine.addEventListener("onSegmentError", segmentFailed);
  engine.addEventListener("onSegmentAbort", segmentAborted);
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
