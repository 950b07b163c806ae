// The upload page: PeerTube's resumable upload (POST to start, PUT chunks with Content-Range,
// 308 until the last one), resumed after network errors, then the transcode progress until the
// video is published.
import { api, bytes, el, requireLogin, seconds, session } from "./common.js";

const CHUNK = 8 * 1024 * 1024;
const RETRIES = 5;

const form = document.getElementById("upload-form");
const errorBox = document.getElementById("upload-error");
const block = document.getElementById("progress-block");
const uploadBar = document.getElementById("upload-progress");
const transcodeBar = document.getElementById("transcode-progress");
const status = document.getElementById("upload-status");
const rungs = document.getElementById("rungs");
const done = document.getElementById("upload-done");
const watchLink = document.getElementById("watch-link");
const state = { phase: "idle", uploaded: 0, video: null };
window.fleuveUpload = state;

function fail(message) {
  state.phase = "failed";
  state.error = message;
  errorBox.textContent = message;
  errorBox.hidden = false;
  form.querySelector("button").disabled = false;
}

/** One PUT, with upload progress; resolves to the XHR. */
function put(location, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", location);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader("Authorization", `Bearer ${session().accessToken}`);
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => reject(new Error("network error"));
    xhr.send(body);
  });
}

// Asks how many bytes the server has (Content-Range: bytes */total).
async function received(location, total) {
  const xhr = await put(location, { "Content-Range": `bytes */${total}` }, null);
  const range = xhr.getResponseHeader("Range");
  const m = range && /bytes=0-(\d+)/.exec(range);
  return m ? Number(m[1]) + 1 : 0;
}

async function sendFile(location, file) {
  let offset = 0;
  let failures = 0;
  while (true) {
    const end = Math.min(offset + CHUNK, file.size);
    try {
      const xhr = await put(
        location,
        { "Content-Range": `bytes ${offset}-${end - 1}/${file.size}`, "Content-Type": "application/octet-stream" },
        file.slice(offset, end),
        (n) => {
          state.uploaded = offset + n;
          uploadBar.value = (100 * state.uploaded) / file.size;
          status.textContent = `Uploading… ${bytes(state.uploaded)} of ${bytes(file.size)}`;
        },
      );
      if (xhr.status === 308) {
        offset = end;
        failures = 0;
        continue;
      }
      if (xhr.status === 200 || xhr.status === 201) return JSON.parse(xhr.responseText);
      if (xhr.status < 500 && xhr.status !== 429) {
        let detail = `${xhr.status}`;
        try {
          const e = JSON.parse(xhr.responseText);
          detail = e.detail || e.error || detail;
        } catch {
          /* not JSON */
        }
        throw Object.assign(new Error(detail), { final: true });
      }
      throw new Error(`server answered ${xhr.status}`);
    } catch (e) {
      if (e.final || ++failures > RETRIES) throw e;
      status.textContent = `Connection trouble (${e.message}); resuming…`;
      await new Promise((r) => setTimeout(r, 1000 * failures));
      offset = await received(location, file.size).catch(() => offset);
    }
  }
}

function showRungs(list) {
  rungs.replaceChildren(
    ...(list || []).map((r) =>
      el("li", {}, el("strong", {}, `${r.resolution}p`), ` ${r.encoder || "starting"} · ${Math.round(r.fps || 0)} fps`),
    ),
  );
}

async function follow(uuid) {
  state.phase = "transcoding";
  while (true) {
    const v = await api(`/api/v1/videos/${uuid}`);
    state.video = v;
    if (v.state.id === 1) {
      transcodeBar.value = 100;
      state.phase = "published";
      status.textContent = "Published. Your video is ready.";
      watchLink.href = `/w/${v.shortUUID}`;
      done.hidden = false;
      return;
    }
    const t = v.transcoding || {};
    if (t.state === "failed" || v.state.id === 7) throw new Error(`transcoding failed: ${t.error || "unknown error"}`);
    transcodeBar.value = 100 * (t.progress || 0);
    status.textContent =
      t.state === "running"
        ? `Transcoding… ${Math.round(100 * (t.progress || 0))}%` + (t.etaSecs ? `, about ${seconds(t.etaSecs)} left` : "")
        : "Waiting for a transcoding slot…";
    showRungs(t.rungs);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

if (requireLogin("upload")) {
  const file = form.file;
  file.addEventListener("change", () => {
    const f = file.files[0];
    if (f && !form.name.value) form.name.value = f.name.replace(/\.[^.]+$/, "").replace(/[_-]+/g, " ");
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errorBox.hidden = true;
    const f = file.files[0];
    if (!f) return fail("Choose a video file first.");
    const name = form.name.value.trim();
    if (name.length < 3) return fail("The title needs at least 3 characters.");
    form.querySelector("button").disabled = true;
    block.hidden = false;
    state.phase = "uploading";
    try {
      const me = await api("/api/v1/users/me");
      const channel = me.videoChannels?.[0];
      if (!channel) throw new Error("your account has no channel to publish in");
      const r = await fetch("/api/v1/videos/upload-resumable", {
        method: "POST",
        headers: {
          Authorization: `Bearer ${session().accessToken}`,
          "Content-Type": "application/json",
          "X-Upload-Content-Length": String(f.size),
          "X-Upload-Content-Type": f.type || "application/octet-stream",
        },
        body: JSON.stringify({
          name,
          channelId: channel.id,
          filename: f.name,
          privacy: Number(form.privacy.value),
          description: form.description.value.trim() || undefined,
        }),
      });
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        throw new Error(body.detail || body.error || `the server answered ${r.status}`);
      }
      const location = new URL(r.headers.get("Location"), window.location.href).href;
      const result = await sendFile(location, f);
      uploadBar.value = 100;
      status.textContent = "Upload complete. Transcoding will start shortly…";
      await follow(result.video.uuid);
    } catch (err) {
      fail(`Upload failed: ${err.message}`);
    }
  });
}
