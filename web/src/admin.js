// The admin page: /api/v1/admin/status, refreshed every few seconds, as tiles and tables.
import { ApiError, api, badge, bytes, el, requireLogin, seconds, table } from "./common.js";

const REFRESH_MS = 3000;
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

if (requireLogin("admin")) {
  refresh();
  setInterval(refresh, REFRESH_MS);
}
