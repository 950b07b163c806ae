// The watch page of a video that is not public (private, internal): the server answers "not
// found" to everyone, since it does not know who is asking (the session lives in this tab). For
// a logged-in visitor this asks the API with the session's OAuth token; when the video is theirs
// to watch, it gets a video file token (POST /api/v1/videos/{id}/token, as PeerTube's player
// does), builds the player and starts it with the token.
import { api, el, session } from "./common.js";
import { startPlayer } from "./player.js";

const notice = document.getElementById("restricted-notice");
const watch = document.getElementById("restricted-watch");
const key = notice?.dataset.video;
// For tests and curious users: what happened.
window.fleuvePrivateWatch = { state: "anonymous" };

async function open() {
  const video = await api(`/api/v1/videos/${encodeURIComponent(key)}`);
  const { files } = await api(`/api/v1/videos/${encodeURIComponent(video.uuid)}/token`, {
    method: "POST",
  });
  const quality = el("select", { id: "quality", disabled: true }, el("option", { value: "-1" }, "Auto"));
  const parts = [
    el(
      "div",
      { class: "player", "data-player": true },
      el("video", { id: "video", controls: true, playsinline: true, preload: "metadata", "aria-label": video.name }),
      el("p", { class: "player-error", role: "alert", hidden: true }),
    ),
    el(
      "div",
      { class: "player-bar" },
      el("label", { class: "quality" }, "Quality ", quality),
      el(
        "p",
        { class: "p2p-stats", id: "p2p-stats", "aria-live": "polite" },
        el("span", { class: "dot", "aria-hidden": "true" }),
        el("span", { "data-stat": "summary" }, "P2P off"),
      ),
    ),
    el("h1", { class: "watch-title" }, video.name),
    el(
      "p",
      { class: "watch-meta" },
      video.privacy?.id === 4
        ? "Internal video · only users of this instance can watch it"
        : "Private video · only its owner can watch it",
    ),
  ];
  if (video.description) parts.push(el("div", { class: "description" }, el("p", {}, video.description)));
  watch.replaceChildren(...parts);
  document.title = `${video.name} · ${document.title.split(" · ").pop()}`;
  notice.hidden = true;
  watch.hidden = false;
  startPlayer(video, { videoFileToken: files.token });
  window.fleuvePrivateWatch = { state: "playing", uuid: video.uuid, expires: files.expires };
}

if (notice && watch && key && session()) {
  window.fleuvePrivateWatch = { state: "loading" };
  open().catch((e) => {
    // Not theirs, or gone: the page stays "not found".
    window.fleuvePrivateWatch = { state: "refused", status: e.status ?? null, message: String(e.message || e) };
  });
}
