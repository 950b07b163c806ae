// The admin page: /api/v1/admin/status, refreshed every few seconds, as tiles and tables; and
// the mirrors (PeerTube's redundancy: the videos of other servers this one keeps a copy of, the
// copies other servers keep of ours, the space each strategy uses), refreshed less often.
import { ApiError, api, badge, button, bytes, el, requireLogin, seconds, table } from "./common.js";

const REFRESH_MS = 3000;
// The mirrors section has buttons: redrawn now and then, and after a drop.
const MIRRORS_REFRESH_MS = 30_000;
// What the federation section of /api/v1/admin/status reports, in words.
const FEDERATION_LABELS = {
  enabled: "State",
  inboxQueue: "Inbox queue (activities waiting)",
  deliveriesQueued: "Delivery queue",
  oldestDeliverySecs: "Oldest waiting delivery",
  hostsDown: "Instances unreachable",
  following: "Following",
  followers: "Followers",
  delivered: "Delivered",
  deliveryFailures: "Delivery failures",
  givenUp: "Given up",
  inboxAccepted: "Activities received",
  inboxBadSignature: "Refused (bad signature)",
};
const errorBox = document.getElementById("admin-error");
const updated = document.getElementById("admin-updated");

function pairs(list) {
  return el("dl", { class: "pairs" }, list.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "–")]));
}

function tile(label, value, note) {
  return el("div", { class: "tile" }, el("span", { class: "tile-label" }, label), el("strong", {}, value), note ? el("span", { class: "tile-note" }, note) : null);
}

function rungList(rungs, live) {
  rungs = rungs || [];
  // One fallback reason shared by every rung is said once, under the list.
  const reasons = [...new Set(rungs.map((r) => r.fallbackReason).filter(Boolean))];
  const shared = !live && reasons.length === 1 && rungs.every((r) => r.fallbackReason === reasons[0]);
  const list = el(
    "ul",
    { class: "rung-list" },
    rungs.map((r) =>
      el(
        "li",
        {},
        el("strong", {}, `${r.resolution}p`),
        " ",
        badge(r.encoder || "starting", /nvenc|vaapi|qsv/.test(r.encoder) ? "hw" : ""),
        live ? ` ${Math.round(r.fps || 0)} fps` : !shared && r.fallbackReason ? ` (fallback: ${r.fallbackReason})` : "",
      ),
    ),
  );
  return shared ? el("div", {}, list, el("p", { class: "muted small" }, `Fallback: ${reasons[0]}`)) : list;
}

function render(s) {
  const jobs = s.jobs || {};
  const counts = jobs.counts || {};
  const tracker = s.tracker || {};
  const cache = s.cache || {};
  const hitRate = cache.hitRate == null ? "–" : `${(100 * cache.hitRate).toFixed(1)}%`;
  const tiles = [
    tile("Uptime", seconds(s.uptimeSecs), `Fleuve ${s.version}`),
    tile("Transcoding", String(counts.running ?? 0), `${counts.queued ?? 0} queued · ${counts.done ?? 0} done · ${counts.failed ?? 0} failed`),
    tile("Tracker peers", String((tracker.peers ?? 0) + (tracker.webtorrentPeers ?? 0)), `${tracker.swarms ?? 0} swarms`),
    tile("Cache hit rate", hitRate, `${cache.hits ?? 0} hits · ${cache.misses ?? 0} misses`),
    s.federation
      ? tile("Federation queue", String((s.federation.deliveriesQueued ?? 0) + (s.federation.inboxQueue ?? 0)), `${s.federation.deliveriesQueued ?? 0} to send · ${s.federation.inboxQueue ?? 0} received`)
      : null,
  ];
  document.getElementById("tiles").replaceChildren(...tiles.filter(Boolean));

  const running = (jobs.running || []).map((j) => [
    j.name || j.video,
    `${Math.round(100 * (j.progress || 0))}%` + (j.etaSecs ? ` · ${seconds(j.etaSecs)} left` : ""),
    String(j.attempt),
    rungList(j.rungs, true),
  ]);
  const recent = [...(jobs.queued || []), ...(jobs.recent || [])].map((j) => [
    j.name || j.video,
    badge(j.state, j.state === "failed" ? "bad" : j.state === "done" ? "good" : ""),
    j.error ? `${j.attempts} · ${j.error}` : String(j.attempts),
    rungList(j.rungs, false),
  ]);
  document.getElementById("jobs").replaceChildren(
    el("h3", {}, "Running"),
    table(["Video", "Progress", "Attempt", "Rungs: encoder and speed"], running, "No job is running."),
    el("h3", {}, "Queued and recent"),
    table(["Video", "State", "Attempts", "Rungs: encoder"], recent, "No jobs yet."),
  );

  const hw = s.hardware || {};
  const backends = (hw.backends || []).map((b) => [
    `${b.backend} (${b.kind})`,
    b.available ? badge("available", "good") : badge("unavailable", ""),
    b.available ? [b.devices?.join(", "), b.maxSessions ? `${b.maxSessions} sessions` : ""].filter(Boolean).join(" · ") : b.reason || "",
  ]);
  const devices = [
    ...(hw.drmRenderNodes || []).map((d) => `${d.path} (${d.vendor}${d.driver ? `, ${d.driver}` : ""})`),
    ...((hw.nvidia && hw.nvidia.devices) || []).map((g) => g.name),
  ];
  document.getElementById("hardware").replaceChildren(
    pairs([["Devices", devices.length ? devices.join(", ") : "No GPU found: software encoding (libx264)"]]),
    table(["Backend", "State", "Detail"], backends, "No backend report."),
    ...(hw.report ? [el("details", {}, el("summary", {}, "Full report"), el("pre", {}, hw.report))] : []),
  );

  document.getElementById("tracker").replaceChildren(
    pairs([
      ["State", tracker.enabled ? (tracker.private ? "on, private (our videos only)" : "on, open") : "off"],
      ["Swarms", String(tracker.swarms ?? 0)],
      ["WebRTC peers (browsers)", String(tracker.webtorrentPeers ?? 0)],
      ["BitTorrent peers", String(tracker.peers ?? 0)],
      ["Offers relayed", String(tracker.offersRelayed ?? 0)],
      ["Answers relayed", String(tracker.answersRelayed ?? 0)],
    ]),
  );

  const shards = s.shards || [];
  document.getElementById("cache").replaceChildren(
    pairs([
      ["Hit rate", hitRate],
      ["Hits / misses", `${cache.hits ?? 0} / ${cache.misses ?? 0}`],
      ["In memory", bytes(shards.reduce((n, x) => n + (x.cacheBytes || 0), 0))],
      ["Budget", `${bytes(s.cacheBytesPerShard)} per shard`],
    ]),
  );

  const fed = s.federation;
  document.getElementById("federation").replaceChildren(
    fed
      ? pairs(
          // In the labels' order (the JSON object's keys come sorted), unknown keys last.
          [...Object.keys(FEDERATION_LABELS).filter((k) => k in fed), ...Object.keys(fed).filter((k) => !(k in FEDERATION_LABELS))].map((k) => [k, fed[k]]).map(([k, v]) => [
            FEDERATION_LABELS[k] || k,
            k === "enabled" ? (v ? "on" : "off") : k === "oldestDeliverySecs" ? seconds(v) : typeof v === "object" ? JSON.stringify(v) : String(v),
          ]),
        )
      : el("p", { class: "muted placeholder" }, "Federation queue: not reported by this server yet (no ", el("code", {}, "federation"), " section in /api/v1/admin/status)."),
  );

  document.getElementById("engine").replaceChildren(
    pairs([
      ["Public URL", s.publicUrl],
      ["Listening on", `${s.listen}${s.tls ? " (TLS)" : ""}`],
      ["I/O backend", s.io?.backend + (s.io?.fallbackReason ? ` (${s.io.fallbackReason})` : "")],
      ["Data folder", s.dataDir],
    ]),
    table(
      ["Shard", "Core", "Open connections", "Accepted", "Cache hits", "Cache misses"],
      shards.map((x) => [String(x.index), String(x.core ?? "–"), String(x.connectionsOpen), String(x.connectionsAccepted), String(x.cacheHits), String(x.cacheMisses)]),
      "No shard.",
    ),
  );
  updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  try {
    const s = await api("/api/v1/admin/status");
    errorBox.hidden = true;
    render(s);
    window.fleuveAdmin = s;
  } catch (e) {
    errorBox.hidden = false;
    errorBox.textContent =
      e instanceof ApiError && e.status === 403
        ? "Your account is not an administrator of this instance."
        : e instanceof ApiError && e.status === 401
          ? "Your session has expired: log in again."
          : `Could not load the status: ${e.message}`;
    updated.textContent = "";
  }
}

// --- mirrors (PeerTube's redundancy) --------------------------------------------------------
const mirrors = { state: "loading" };
window.fleuveAdminMirrors = mirrors;

/** The section's box: the page's `#mirrors`, or a section built here before the Engine one. */
function mirrorsBox() {
  let box = document.getElementById("mirrors");
  if (box) return box;
  box = el("div", { id: "mirrors" });
  const section = el("section", { class: "panel", "aria-labelledby": "h-mirrors" }, el("h2", { id: "h-mirrors" }, "Mirrors"), box);
  const engine = document.getElementById("engine")?.closest("section");
  if (engine) engine.before(section);
  else document.getElementById("admin")?.append(section);
  return box;
}

/** A link for an address another server gave: only http(s) (never `javascript:`), else text. */
function safeLink(href, text) {
  try {
    const u = new URL(href, location.href);
    if (u.protocol === "http:" || u.protocol === "https:") return el("a", { href: u.href, rel: "noopener" }, text);
  } catch {
    /* not a URL */
  }
  return text;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");
const copiesOf = (v) => v.redundancies?.streamingPlaylists || [];
const failure = (e) => (e instanceof ApiError ? `${e.message} (${e.status})` : String(e.message || e));

/** The API's answer at `path`, or {error} (each part of the section fails on its own). */
async function fetchPart(path) {
  try {
    return await api(path);
  } catch (e) {
    return { error: failure(e) };
  }
}

async function dropMirror(v, status) {
  const copy = copiesOf(v)[0];
  try {
    await api(`/api/v1/server/redundancy/videos/${encodeURIComponent(copy.id)}`, { method: "DELETE" });
    status.textContent = `The mirror of ${v.name} was dropped.`;
  } catch (e) {
    // A 2xx answer with an empty body (not 204) is a success too.
    status.textContent = e instanceof SyntaxError ? `The mirror of ${v.name} was dropped.` : `Could not drop the mirror of ${v.name}: ${failure(e)}`;
  }
  await refreshMirrors(status.textContent);
}

function strategyLines(stats) {
  if (stats.error) return el("p", { class: "form-error" }, `Could not load the space used: ${stats.error}`);
  const list = stats.videosRedundancy || [];
  // Beyond PeerTube: the bytes viewers took from this server's mirrors since it started.
  const served =
    stats.redundancyBytesServed != null
      ? el("p", { class: "muted", "data-mirrors-served": "" }, `Served from this server's mirrors since it started: ${bytes(stats.redundancyBytesServed)}`)
      : null;
  if (!list.length) return el("div", {}, el("p", { class: "muted" }, "No mirroring strategy is set up."), served);
  return el(
    "div",
    {},
    el(
      "ul",
      {},
      list.map((r) => {
        const size = r.totalSize ? `used ${bytes(r.totalUsed)} of ${bytes(r.totalSize)}` : `used ${bytes(r.totalUsed)}`;
        const videos = `${r.totalVideos ?? 0} ${r.totalVideos === 1 ? "video" : "videos"}`;
        return el("li", {}, el("strong", {}, r.strategy || "manual"), `: ${size}, ${videos}`);
      }),
    ),
    served,
  );
}

function remoteTable(page, status) {
  if (page.error) return el("p", { class: "form-error" }, `Could not load the videos this server mirrors: ${page.error}`);
  const rows = (page.data || []).map((v) => {
    const copies = copiesOf(v);
    const size = copies.reduce((n, c) => n + (c.size || 0), 0);
    return [
      safeLink(v.url, v.name),
      [...new Set(copies.map((c) => c.strategy || "manual"))].join(", "),
      bytes(size),
      when(copies[0]?.expiresOn),
      copies.length ? button("Drop", () => dropMirror(v, status), { "aria-label": `Drop ${v.name}` }) : "",
    ];
  });
  return table(["Video", "Strategy", "Size", "Expires", ""], rows, "This server mirrors no video of other servers.");
}

function mineTable(page) {
  if (page.error) return el("p", { class: "form-error" }, `Could not load the mirrors of our videos: ${page.error}`);
  const rows = (page.data || []).map((v) => {
    const copies = copiesOf(v);
    return [
      safeLink(v.url || `/w/${v.uuid}`, v.name),
      copies.length ? el("ul", { class: "rung-list" }, copies.map((c) => el("li", {}, safeLink(c.fileUrl, c.fileUrl)))) : "none",
      String(copies.length),
    ];
  });
  return table(["Video", "Mirrors", "Copies"], rows, "No other server mirrors our videos.");
}

/** Loads and draws the section; `message` stays shown (the outcome of a drop). */
async function refreshMirrors(message) {
  const box = mirrorsBox();
  const [remote, mine, stats] = await Promise.all([
    fetchPart("/api/v1/server/redundancy/videos?target=remote-videos&start=0&count=100"),
    fetchPart("/api/v1/server/redundancy/videos?target=my-videos"),
    fetchPart("/api/v1/server/stats"),
  ]);
  const status = el("p", { class: "status", role: "status", "aria-live": "polite" }, typeof message === "string" ? message : "");
  box.replaceChildren(
    el("h3", {}, "Space used"),
    strategyLines(stats),
    el("h3", {}, "Videos of other servers mirrored here"),
    remoteTable(remote, status),
    el("h3", {}, "Our videos mirrored elsewhere"),
    mineTable(mine),
    status,
  );
  Object.assign(mirrors, {
    state: "ready",
    remote: remote.error ? null : remote.data || [],
    mine: mine.error ? null : mine.data || [],
    strategies: stats.error ? null : stats.videosRedundancy || [],
    errors: [remote.error, mine.error, stats.error].filter(Boolean),
    message: status.textContent,
  });
}

if (requireLogin("admin")) {
  refresh();
  setInterval(refresh, REFRESH_MS);
  refreshMirrors();
  setInterval(refreshMirrors, MIRRORS_REFRESH_MS);
}
