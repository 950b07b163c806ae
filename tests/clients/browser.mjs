// Drives Debian's Chromium with playwright-core for tests/web.rs: one scenario per run, the
// result as one JSON line on stdout, screenshots into the artifacts folder.
//
//   node browser.mjs <scenario> '<json options>'
//
// Scenarios: watch, click, p2p, embed, upload, pages, private, signup, moderation, mine, mirror, h3. Options: base (server URL), short and uuid (the
// published video), out (screenshot folder), user and password (login), clip (file to upload),
// seeks (the watch scenario's seek targets in seconds), until (the mirror scenario's end of
// playback in seconds; default: the end of the video), quicOrigin and spki (HTTP/3: the host:port
// Chromium must reach over QUIC, and the base64 SHA-256 of the server certificate's key).
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const [scenario, json] = process.argv.slice(2);
const opt = JSON.parse(json || "{}");
const DEADLINE_MS = Number(opt.deadlineMs || 150_000);
const STARTED = Date.now();
/** What is left of the run's deadline, less `margin` ms for the report (at least `floor` ms). */
const timeLeft = (margin, floor = 10_000) => Math.max(floor, DEADLINE_MS - (Date.now() - STARTED) - margin);

// The whole run has a deadline: the test must stop by itself.
setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: `scenario ${scenario} timed out after ${DEADLINE_MS} ms` }));
  process.exit(3);
}, DEADLINE_MS).unref();

// Playwright gives every launch a fresh, temporary --user-data-dir of its own.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    // HTTP/3 only where a scenario asks for it: QUIC forced on for the server under test, its
    // self-signed certificate trusted by its key.
    ...(opt.quicOrigin
      ? ["--enable-quic", `--origin-to-force-quic-on=${opt.quicOrigin}`, `--ignore-certificate-errors-spki-list=${opt.spki}`]
      : ["--disable-quic"]),
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    // WebRTC between two contexts on this machine: loopback candidates, no mDNS names.
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
  ],
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` (in the page) until it returns a truthy value, or throws after `ms`. */
async function until(page, fn, arg, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await page.evaluate(fn, arg).catch((e) => ({ evalError: e.message }));
    if (last && !last.evalError) return last;
    await sleep(250);
  }
  throw new Error(`${what} did not happen within ${ms} ms (last: ${JSON.stringify(last)})`);
}

const allLogs = [];

async function newPage(context, log) {
  const page = await context.newPage();
  page.on("console", (m) => allLogs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => allLogs.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") log.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
  return page;
}

/** The player's state as plain JSON. */
function playerState() {
  const p = window.fleuvePlayer;
  const v = document.getElementById("video");
  if (!p) return null;
  const menu = document.getElementById("quality");
  return {
    ready: p.ready,
    p2pEnabled: p.p2pEnabled,
    currentTime: v.currentTime,
    duration: v.duration,
    paused: v.paused,
    ended: v.ended,
    mediaError: v.error ? v.error.code : null,
    bufferedEnd: v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0,
    errors: p.errors,
    levels: p.levels,
    menu: menu ? Array.from(menu.options, (o) => o.textContent) : [],
    peers: p.peerCount,
    bytes: p.stats.bytes,
    uploaded: p.stats.uploaded,
    segments: p.stats.segments,
    validated: p.stats.validated,
    rejected: p.stats.rejected,
    trackerErrors: p.stats.trackerErrors,
    statsText: document.getElementById("p2p-stats")?.textContent,
    mirrors: p.mirrors,
    segmentSources: p.segmentSources,
    playlistSources: p.playlistSources,
    droppedMirrors: p.droppedMirrors,
    originDown: p.originDown,
  };
}

/** The player's mirror state (PeerTube's redundancy) and segment checks, as plain JSON. */
function mirrorState() {
  const p = window.fleuvePlayer;
  return {
    mirrors: p.mirrors,
    segmentSources: p.segmentSources,
    playlistSources: p.playlistSources,
    droppedMirrors: p.droppedMirrors,
    originDown: p.originDown,
    originDownReason: p.originDownReason,
    mirrorResets: p.mirrorResets,
    validated: p.stats.validated,
    rejected: p.stats.rejected,
  };
}

async function play(page) {
  await until(page, () => window.fleuvePlayer && window.fleuvePlayer.ready, null, 30_000, "player ready");
  await page.evaluate(() => {
    const v = document.getElementById("video");
    v.muted = true;
    return v.play().then(() => true, (e) => e.message);
  });
}

async function login(page) {
  await loginAs(page, opt.user, opt.password, "/admin");
}

async function loginAs(page, user, password, next) {
  await page.goto(`${opt.base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${opt.base}${next}`, { timeout: 15_000 });
}

/** Whether the Moderation and Admin navigation entries are shown. */
function navState(page) {
  return page.evaluate(() => {
    const shown = (id) => {
      const a = document.getElementById(id);
      return !!a && !a.parentElement.hidden;
    };
    return { moderation: shown("nav-moderation"), admin: shown("nav-admin") };
  });
}

const scenarios = {
  async watch() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await newPage(context, log);
    // Where the video's files came from (an edge when the bucket's base_url points at one, a
    // mirror's /static/redundancy/).
    const mediaOrigins = {};
    page.on("requestfinished", (r) => {
      if (!r.url().includes("/streaming-playlists/") && !r.url().includes("/static/redundancy/")) return;
      const o = new URL(r.url()).origin;
      mediaOrigins[o] = (mediaOrigins[o] || 0) + 1;
    });
    const resp = await page.goto(`${opt.base}/w/${opt.short}`);
    // Opening the page loads the playlists, not the video.
    await until(page, () => window.fleuvePlayer && window.fleuvePlayer.ready, null, 30_000, "player ready");
    await sleep(1000);
    const bytesBeforePlay = await page.evaluate(() => window.fleuvePlayer.stats.bytes.http + window.fleuvePlayer.stats.bytes.p2p);
    await play(page);
    const s = await until(page, () => {
      const v = document.getElementById("video");
      return v.currentTime > 3.2 ? true : null;
    }, null, 60_000, "playback past 3 s");
    await page.screenshot({ path: path.join(opt.out, "watch.png"), fullPage: true });
    const state = await page.evaluate(playerState);
    await page.evaluate(() => document.getElementById("video").pause());
    // Keyboard (after the state is taken: a seek is its own story): the right arrow seeks 5 s
    // ahead, "m" toggles mute.
    await page.locator("h1").click();
    const before = await page.evaluate(() => document.getElementById("video").currentTime);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("m");
    const after = await page.evaluate(() => ({ t: document.getElementById("video").currentTime, muted: document.getElementById("video").muted }));
    // Playback goes on after seeks into the middle of GOPs (every keyframe must be a point
    // where decoding can start).
    await page.evaluate(() => { document.getElementById("video").play().catch(() => {}); });
    let afterSeek = { seeks: [] };
    try {
      for (const target of opt.seeks || [7.9, 13.3, 21.7, 30.5]) {
        await page.evaluate((t) => { document.getElementById("video").currentTime = t; }, target);
        afterSeek.seeks.push(await until(page, (t) => {
          const v = document.getElementById("video");
          return v.currentTime > t + 0.7 || v.error ? { target: t, currentTime: v.currentTime, mediaError: v.error ? v.error.message : null } : null;
        }, target, 20_000, `playback after seeking to ${target}`));
      }
      afterSeek.mediaError = afterSeek.seeks.map((x) => x.mediaError).find((e) => e) || null;
      afterSeek.currentTime = afterSeek.seeks.at(-1).currentTime;
    } catch (e) {
      afterSeek.error = e.message;
    }
    afterSeek.fatalErrors = await page.evaluate(() => window.fleuvePlayer.errors.filter((e) => e.fatal));
    const head = await page.evaluate(() => ({
      ogTitle: document.querySelector('meta[property="og:title"]')?.content,
      oembed: document.querySelector('link[type="application/json+oembed"]')?.href,
    }));
    const mirrors = await page.evaluate(mirrorState);
    return { ok: !!s, status: resp.status(), bytesBeforePlay, state, keyboard: { before, after, afterSeek }, head, mediaOrigins, ...mirrors, log };
  },

  // Playback to the end (or to `until` seconds) of a video with mirrors (PeerTube's redundancy):
  // where its segments and playlists came from, which mirrors the player dropped, which requests
  // failed. ok: played that far, no segment rejected, no fatal error.
  async mirror() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await newPage(context, log);
    const requestOrigins = {};
    const failedRequests = [];
    page.on("requestfinished", (r) => {
      const u = new URL(r.url());
      if (!u.pathname.startsWith("/static/")) return;
      requestOrigins[u.origin] = (requestOrigins[u.origin] || 0) + 1;
    });
    page.on("requestfailed", (r) => failedRequests.push({ url: r.url(), failure: r.failure()?.errorText ?? null }));
    const resp = await page.goto(`${opt.base}/w/${opt.short}`);
    let played = null;
    try {
      // A player that never gets ready (no base answered) is reported with its state too.
      await play(page);
      played = await until(page, (limit) => {
        const v = document.getElementById("video");
        const end = limit ?? (v.duration > 0 ? v.duration - 0.5 : Infinity);
        return v.ended || v.currentTime >= end ? { currentTime: v.currentTime, duration: v.duration, ended: v.ended } : null;
      }, opt.until ?? null, timeLeft(15_000), opt.until ? `playback past ${opt.until} s` : "playback to the end");
    } catch (e) {
      log.push(e.message);
    }
    await page.screenshot({ path: path.join(opt.out, "mirror.png"), fullPage: true });
    const state = await page.evaluate(mirrorState);
    const end = await page.evaluate(() => {
      const v = document.getElementById("video");
      return { currentTime: v.currentTime, duration: v.duration, ended: v.ended, mediaError: v.error ? v.error.message || v.error.code : null };
    });
    const errors = await page.evaluate(() => window.fleuvePlayer.errors.filter((e) => e.fatal));
    const rejected = (state.rejected.http || 0) + (state.rejected.p2p || 0);
    return {
      ok: !!played && rejected === 0 && errors.length === 0,
      status: resp.status(),
      played,
      end,
      ...state,
      errors,
      requestOrigins,
      failedRequests,
      log,
    };
  },

  // Playback with Chromium forced onto QUIC for the server (options quicOrigin and spki): the
  // protocol of every segment request, from the page's resource timing. ok: played past 3 s.
  async h3() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
    const page = await newPage(context, log);
    const resp = await page.goto(`${opt.base}/w/${opt.short}`);
    let played = null;
    try {
      await play(page);
      played = await until(page, () => (document.getElementById("video").currentTime > 3 ? true : null), null, 60_000, "playback past 3 s");
    } catch (e) {
      log.push(e.message);
    }
    await page.screenshot({ path: path.join(opt.out, "h3.png"), fullPage: true });
    const timing = await page.evaluate(() =>
      performance.getEntriesByType("resource").map((e) => ({ name: e.name, protocol: e.nextHopProtocol })));
    const segmentProtocols = {};
    for (const t of timing) {
      if (t.name.includes("/streaming-playlists/") && t.name.includes(".mp4")) {
        segmentProtocols[t.protocol] = (segmentProtocols[t.protocol] || 0) + 1;
      }
    }
    const pageProtocol = await page.evaluate(() => performance.getEntriesByType("navigation")[0]?.nextHopProtocol);
    const state = await page.evaluate(playerState);
    return { ok: !!played, status: resp.status(), pageProtocol, segmentProtocols, timing: timing.slice(0, 40), state, log };
  },

  // A viewer's first click in the middle of the picture starts the video.
  async click() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await newPage(context, log);
    await page.goto(`${opt.base}/w/${opt.short}`);
    await until(page, () => window.fleuvePlayer && window.fleuvePlayer.ready, null, 30_000, "player ready");
    await page.evaluate(() => { document.getElementById("video").muted = true; });
    const box = await page.locator("[data-player]").boundingBox();
    const before = await page.evaluate(playerState);
    const button = await page.evaluate(() => {
      const b = document.querySelector(".big-play");
      if (!b || b.hidden) return null;
      const r = b.getBoundingClientRect();
      return { width: r.width, height: r.height };
    });
    await page.screenshot({ path: path.join(opt.out, "watch-before-click.png") });
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    let played = null;
    try {
      played = await until(page, () => {
        const v = document.getElementById("video");
        return !v.paused && v.currentTime > 1 ? { currentTime: v.currentTime } : null;
      }, null, 20_000, "playback after a click in the middle");
    } catch (e) {
      log.push(e.message);
    }
    await page.screenshot({ path: path.join(opt.out, "watch-click.png") });
    const after = await page.evaluate(playerState);
    const buttonHidden = await page.evaluate(() => document.querySelector(".big-play")?.hidden ?? null);
    return { ok: !!played, played, before, after, button, buttonHidden, log };
  },

  async p2p() {
    const log = [];
    const url = `${opt.base}/w/${opt.short}`;
    const a = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const b = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const pa = await newPage(a, log);
    await pa.goto(url);
    await play(pa);
    // The first viewer holds the whole video before the second arrives.
    await until(pa, () => {
      const v = document.getElementById("video");
      const p = window.fleuvePlayer;
      return v.duration > 0 && v.buffered.length && v.buffered.end(v.buffered.length - 1) >= v.duration - 0.5 && p.stats.segments.http > 0 ? true : null;
    }, null, 60_000, "first viewer buffering the whole video");
    const pb = await newPage(b, log);
    await pb.goto(url);
    await play(pb);
    let second;
    try {
      second = await until(pb, () => {
        const p = window.fleuvePlayer;
        const v = document.getElementById("video");
        return p.stats.bytes.p2p > 0 && (v.ended || v.currentTime > 6 || (v.buffered.length && v.buffered.end(v.buffered.length - 1) >= v.duration - 0.5)) ? true : null;
      }, null, 60_000, "second viewer receiving from the first");
    } catch (e) {
      log.push(e.message);
    }
    // Let the remaining downloads finish before reading the numbers.
    await sleep(1500);
    await pb.screenshot({ path: path.join(opt.out, "watch-p2p.png") });
    const first = await pa.evaluate(playerState);
    const stateB = await pb.evaluate(playerState);
    return { ok: !!second, first, second: stateB, log };
  },

  async embed() {
    const log = [];
    // A page on another origin (another port) embedding ours.
    const server = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><html><body style="margin:0;background:#eee"><h1>Another site</h1>
        <iframe id="f" width="640" height="360" style="border:0" allow="autoplay; fullscreen"
          src="${opt.base}/videos/embed/${opt.uuid}?autoplay=1&muted=1"></iframe></body></html>`);
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const host = `http://127.0.0.1:${server.address().port}`;
    try {
      const context = await browser.newContext({ viewport: { width: 800, height: 520 } });
      const page = await newPage(context, log);
      await page.goto(`${host}/`);
      const frame = await (await page.waitForSelector("#f")).contentFrame();
      await until(frame, () => {
        const v = document.getElementById("video");
        return v && v.currentTime > 2 ? true : null;
      }, null, 60_000, "embedded playback past 2 s");
      await frame.evaluate(() => document.getElementById("video").pause());
      await page.screenshot({ path: path.join(opt.out, "embed.png") });
      const state = await frame.evaluate(playerState);
      const origins = { top: await page.evaluate(() => location.origin), frame: await frame.evaluate(() => location.origin) };
      return { ok: true, origins, state, log };
    } finally {
      server.close();
    }
  },

  async upload() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await newPage(context, log);
    // Not logged in: the page asks for a login first.
    await page.goto(`${opt.base}/upload`);
    const askedToLogin = await page.locator("#login-needed").isVisible();
    await login(page);
    await page.goto(`${opt.base}/upload`);
    await page.getByLabel("Video file").setInputFiles(opt.clip);
    await page.getByLabel("Title").fill("Uploaded from the page");
    await page.getByRole("button", { name: "Upload" }).click();
    const phases = new Set();
    const end = Date.now() + 150_000;
    let st;
    while (Date.now() < end) {
      st = await page.evaluate(() => ({ ...window.fleuveUpload, video: window.fleuveUpload.video && { uuid: window.fleuveUpload.video.uuid, shortUUID: window.fleuveUpload.video.shortUUID }, bar: document.getElementById("upload-progress").value }));
      phases.add(st.phase);
      if (st.phase === "published" || st.phase === "failed") break;
      await sleep(200);
    }
    await page.screenshot({ path: path.join(opt.out, "upload.png") });
    let watchStatus = null;
    if (st.phase === "published") {
      await page.getByRole("link", { name: "Watch the video" }).click();
      await page.waitForURL(/\/w\//);
      watchStatus = await page.evaluate(() => document.querySelector("h1.watch-title")?.textContent);
    }
    return { ok: st.phase === "published", askedToLogin, phases: [...phases], state: st, watchTitle: watchStatus, log };
  },

  async private() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await newPage(context, log);
    const url = `${opt.base}/w/${opt.short}`;
    // Anonymous: "not found", no player, and no media request for the video.
    const media = [];
    page.on("request", (r) => {
      if (r.url().includes("/static/streaming-playlists/")) media.push(r.url());
    });
    await page.goto(url);
    await sleep(500);
    const anonymous = await page.evaluate(() => ({
      notice: !document.getElementById("restricted-notice").hidden,
      player: !!document.getElementById("video"),
      state: window.fleuvePrivateWatch?.state,
    }));
    const anonymousMedia = media.length;
    // Its owner, logged in: the page gets a video file token and plays.
    await login(page);
    await page.goto(url);
    await until(page, () => (window.fleuvePrivateWatch?.state === "playing" ? true : window.fleuvePrivateWatch?.state === "refused" ? window.fleuvePrivateWatch : null), null, 30_000, "the private player");
    await play(page);
    const played = await until(page, () => {
      const v = document.getElementById("video");
      return v.currentTime > 1.5 || v.error ? { currentTime: v.currentTime, error: v.error?.message } : null;
    }, null, 60_000, "private playback past 1.5 s");
    await page.screenshot({ path: path.join(opt.out, "watch-private.png"), fullPage: true });
    const state = await page.evaluate(playerState);
    const title = await page.evaluate(() => document.querySelector("h1.watch-title")?.textContent);
    const tokenized = media.filter((u) => u.includes("/hls/private/") && u.includes("videoFileToken=")).length;
    return {
      ok: anonymous.notice && !anonymous.player && anonymousMedia === 0 && !played.error && played.currentTime > 1.5 && tokenized > 0,
      anonymous,
      anonymousMedia,
      played,
      title,
      tokenized,
      state,
      log,
    };
  },

  // The sign-up page on an instance where sign-ups are requests: a weak password refused on the
  // form, then the request sent. Options: user, email, password, reason.
  async signup() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await newPage(context, log);
    await page.goto(`${opt.base}/login`);
    await page.getByRole("link", { name: "Sign up" }).click();
    await page.waitForURL(/\/signup$/);
    const ready = await until(page, () => (window.fleuveSignup?.state === "ready" ? window.fleuveSignup : null), null, 15_000, "sign-up form");
    await page.getByLabel("User name").fill(opt.user);
    await page.getByLabel("E-mail").fill(opt.email);
    await page.getByLabel("Password").fill("123");
    await page.getByLabel("Why do you want an account here?").fill(opt.reason);
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.locator("#signup-error").waitFor({ state: "visible", timeout: 5_000 });
    const weak = await page.locator("#signup-error").textContent();
    await page.getByLabel("Password").fill(opt.password);
    await page.getByRole("button", { name: "Sign up" }).click();
    const done = await until(page, () => (window.fleuveSignup?.state === "requested" || window.fleuveSignup?.error ? window.fleuveSignup : null), null, 15_000, "the request sent");
    const message = await page.locator("#signup-done").textContent();
    await page.screenshot({ path: path.join(opt.out, "signup.png"), fullPage: true });
    return { ok: done.state === "requested" && ready.requiresApproval === true, ready, weak, done, message, log };
  },

  // The moderation page as a moderator: accepts the pending registration and report, unblocks
  // the blocked video, blocks a server. Options: user, password, registration, server, note.
  async moderation() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await newPage(context, log);
    await loginAs(page, opt.user, opt.password, "/moderation");
    const ready = () => (window.fleuveModeration?.state === "ready" ? window.fleuveModeration : null);
    const before = await until(page, ready, null, 15_000, "moderation page");
    const nav = await navState(page);
    await page.screenshot({ path: path.join(opt.out, "moderation.png"), fullPage: true });
    const settled = async (what, fn) => {
      await until(page, fn, null, 15_000, what);
      return page.evaluate(() => window.fleuveModeration);
    };
    await page.getByRole("button", { name: `Accept ${opt.registration}` }).click();
    await settled("registration accepted", (u) => window.fleuveModeration.registrations.some((g) => g.state === 3));
    const report = before.reports[0];
    await page.getByLabel(`Note on report ${report.id}`).fill(opt.note);
    await page.getByRole("button", { name: `Accept report ${report.id}` }).click();
    await settled("report accepted", () => window.fleuveModeration.reports.some((r) => r.state === 3));
    const video = before.blockedVideos[0];
    await page.getByRole("button", { name: `Unblock ${video}` }).click();
    await settled("video unblocked", () => window.fleuveModeration.blockedVideos.length === 0);
    await page.getByLabel("Server to block").fill(opt.server);
    await page.getByRole("button", { name: "Block the server" }).click();
    const after = await settled("server blocked", () => window.fleuveModeration.blockedServers.length === 1);
    return { ok: true, before, after, nav, log };
  },

  // "My videos" and "My channels" as a user: the visibility of a video changed, a channel made,
  // renamed and deleted, the video deleted; the moderation page refused. Options: user,
  // password, video (its name), uuid, channel.
  async mine() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await newPage(context, log);
    page.on("dialog", (d) => d.accept());
    await loginAs(page, opt.user, opt.password, "/my-videos");
    const listed = await until(page, () => (window.fleuveMine?.state === "ready" ? window.fleuveMine : null), null, 15_000, "my videos");
    // One video: no "Show more".
    listed.moreShown = await page.getByRole("button", { name: "Show more" }).isVisible();
    const nav = await navState(page);
    await page.getByLabel(`Visibility of ${opt.video}`).selectOption("2");
    await until(page, () => /unlisted/.test(document.getElementById("mine-status").textContent), null, 15_000, "visibility changed");
    const privacy = await page.evaluate(async (uuid) => {
      const s = JSON.parse(sessionStorage.getItem("fleuve.session"));
      const r = await fetch(`/api/v1/videos/${uuid}`, { headers: { Authorization: `Bearer ${s.accessToken}` } });
      return (await r.json()).privacy;
    }, opt.uuid);
    await page.screenshot({ path: path.join(opt.out, "my-videos.png"), fullPage: true });
    // Settings: NSFW videos left out, P2P off (saved, and in the session the player reads).
    await page.getByLabel("Videos marked sensitive (NSFW) in lists").selectOption("do_not_list");
    await page.getByLabel("Share what I watch with other viewers (P2P)").uncheck();
    await page.getByRole("button", { name: "Save the settings" }).click();
    await until(page, () => document.getElementById("mine-status").textContent === "Settings saved." || null, null, 15_000, "settings saved");
    const settings = await page.evaluate(async () => {
      const s = JSON.parse(sessionStorage.getItem("fleuve.session"));
      const me = await (await fetch("/api/v1/users/me", { headers: { Authorization: `Bearer ${s.accessToken}` } })).json();
      return { nsfwPolicy: me.nsfwPolicy, p2pEnabled: me.p2pEnabled, sessionP2p: s.p2pEnabled };
    });
    // The player follows it: no P2P on a public video with a tracker.
    await page.goto(`${opt.base}/w/${opt.short}`);
    settings.playerP2p = await until(page, () => (window.fleuvePlayer?.ready ? String(window.fleuvePlayer.p2pEnabled) : null), null, 30_000, "player ready");
    await page.goto(`${opt.base}/my-videos`);
    await until(page, () => (window.fleuveMine?.state === "ready" ? true : null), null, 15_000, "my videos again");

    await page.getByRole("link", { name: "My channels" }).click();
    await page.waitForURL(/\/my-channels$/);
    const channels = () => (window.fleuveChannels?.state === "ready" ? window.fleuveChannels : null);
    const initial = await until(page, channels, null, 15_000, "my channels");
    await page.locator("#ch-name").fill(opt.channel);
    await page.locator("#ch-display").fill("Sam travels");
    await page.getByRole("button", { name: "Create the channel" }).click();
    const created = await until(page, (c) => (window.fleuveChannels?.names?.includes(c) ? window.fleuveChannels : null), opt.channel, 15_000, "channel created");
    const edit = page.locator(`#edit-${opt.channel}`);
    await page.locator(`details:has(#edit-${opt.channel}) > summary`).click();
    await edit.getByLabel("Display name").fill("Sam on the road");
    await edit.getByRole("button", { name: "Save" }).click();
    const renamed = await until(page, () => (window.fleuveChannels?.displayNames?.includes("Sam on the road") ? window.fleuveChannels : null), null, 15_000, "channel renamed");
    await page.screenshot({ path: path.join(opt.out, "my-channels.png"), fullPage: true });
    await page.getByRole("button", { name: "Delete Sam on the road" }).click();
    const deleted = await until(page, (c) => (window.fleuveChannels?.state === "ready" && !window.fleuveChannels.names.includes(c) ? window.fleuveChannels : null), opt.channel, 15_000, "channel deleted");

    await page.goto(`${opt.base}/my-videos`);
    await until(page, () => (window.fleuveMine?.state === "ready" ? true : null), null, 15_000, "my videos again");
    await page.getByRole("button", { name: `Delete ${opt.video}` }).click();
    const gone = await until(page, () => (window.fleuveMine?.state === "ready" && window.fleuveMine.total === 0 ? window.fleuveMine : null), null, 15_000, "video deleted");

    await page.goto(`${opt.base}/moderation`);
    const moderation = await until(page, () => (window.fleuveModeration?.state !== "loading" ? window.fleuveModeration.state : null), null, 15_000, "moderation page");
    return { ok: true, listed, nav, privacy, settings, initial, created, renamed, deleted, gone, moderation, log };
  },

  async pages() {
    const log = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await newPage(context, log);
    await page.goto(`${opt.base}/`);
    const cards = await page.locator(".card").count();
    await page.screenshot({ path: path.join(opt.out, "home.png"), fullPage: true });
    // Keyboard navigation: the first Tab reaches the skip link.
    await page.keyboard.press("Tab");
    const firstFocus = await page.evaluate(() => document.activeElement?.textContent);
    // A wrong password is refused on the form, with a message.
    await page.goto(`${opt.base}/login`);
    await page.getByLabel("User name").fill(opt.user);
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator("#login-error").waitFor({ state: "visible", timeout: 10_000 });
    const loginError = await page.locator("#login-error").textContent();
    await login(page);
    await until(page, () => (document.querySelectorAll("#tiles .tile").length >= 4 && window.fleuveAdmin ? true : null), null, 15_000, "admin tiles");
    await page.screenshot({ path: path.join(opt.out, "admin.png"), fullPage: true });
    const admin = await page.evaluate(() => ({
      tiles: Array.from(document.querySelectorAll("#tiles .tile"), (t) => t.textContent),
      jobs: document.getElementById("jobs").textContent,
      tracker: document.getElementById("tracker").textContent,
      federation: document.getElementById("federation").textContent,
      hardware: document.getElementById("hardware").textContent,
      sessionLink: document.getElementById("session-link").textContent,
    }));
    // Images without alternative text, inputs without labels.
    const a11y = await page.evaluate(() => ({
      imagesWithoutAlt: document.querySelectorAll("img:not([alt])").length,
    }));
    return { ok: true, cards, firstFocus, loginError, admin, a11y, log };
  },
};

let result;
try {
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  fs.mkdirSync(opt.out || ".", { recursive: true });
  result = await scenarios[scenario]();
} catch (e) {
  result = { ok: false, error: String(e && e.stack ? e.stack : e), console: allLogs.slice(-40) };
}
await browser.close().catch(() => {});
console.log(JSON.stringify(result));
process.exit(0);
