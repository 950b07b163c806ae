// "My videos": /api/v1/users/me/videos, a page at a time, with a visibility menu and a delete
// button per video (PUT and DELETE /api/v1/videos/{id}: the API decides who may).
import { api, badge, button, el, requireLogin, saveSession, session, showError, table } from "./common.js";

const PAGE = 25;
const PRIVACY = [
  [1, "Public"],
  [2, "Unlisted"],
  [3, "Private"],
  [4, "Internal"],
];
const list = document.getElementById("mine-list");
const more = document.getElementById("mine-more");
const errorBox = document.getElementById("mine-error");
const status = document.getElementById("mine-status");
let videos = [];
let total = 0;
window.fleuveMine = { state: "loading" };

function privacyMenu(v) {
  const id = `privacy-${v.id}`;
  const select = el(
    "select",
    { id, "aria-label": `Visibility of ${v.name}` },
    PRIVACY.map(([n, label]) => el("option", { value: n, selected: v.privacy?.id === n }, label)),
  );
  select.addEventListener("change", async () => {
    select.disabled = true;
    showError(errorBox, null);
    try {
      await api(`/api/v1/videos/${v.uuid}`, { method: "PUT", body: { privacy: Number(select.value) } });
      v.privacy = { id: Number(select.value), label: select.selectedOptions[0].textContent };
      status.textContent = `"${v.name}" is now ${v.privacy.label.toLowerCase()}.`;
    } catch (e) {
      select.value = String(v.privacy?.id);
      showError(errorBox, e);
    } finally {
      select.disabled = false;
    }
  });
  return select;
}

function render() {
  const rows = videos.map((v) => [
    el("a", { href: `/w/${v.shortUUID}` }, v.name),
    v.channel?.displayName || "",
    privacyMenu(v),
    badge(v.state?.label || "", v.state?.id === 1 ? "good" : [7, 8, 11].includes(v.state?.id) ? "bad" : ""),
    String(v.views ?? 0),
    v.publishedAt ? new Date(v.publishedAt).toLocaleDateString() : "",
    button("Delete", () => remove(v), { "aria-label": `Delete ${v.name}` }),
  ]);
  list.replaceChildren(
    table(["Title", "Channel", "Visibility", "State", "Views", "Published", ""], rows, "You have no videos yet. Upload one!"),
  );
  more.hidden = videos.length >= total;
  window.fleuveMine = { state: "ready", total, names: videos.map((v) => v.name) };
}

async function remove(v) {
  if (!confirm(`Delete "${v.name}" for good? Its files, comments and ratings go with it.`)) return;
  showError(errorBox, null);
  try {
    await api(`/api/v1/videos/${v.uuid}`, { method: "DELETE" });
    videos = videos.filter((x) => x.id !== v.id);
    total -= 1;
    status.textContent = `"${v.name}" was deleted.`;
    render();
  } catch (e) {
    showError(errorBox, e);
  }
}

async function load() {
  showError(errorBox, null);
  try {
    const page = await api(`/api/v1/users/me/videos?start=${videos.length}&count=${PAGE}&sort=-publishedAt`);
    total = page.total;
    videos = videos.concat(page.data);
    render();
  } catch (e) {
    showError(errorBox, e);
    window.fleuveMine = { state: "error", error: e.message };
  }
}

// The account's settings: NSFW policy (the lists) and P2P (the player, through the session).
const settings = document.getElementById("settings-form");
async function loadSettings() {
  try {
    const me = await api("/api/v1/users/me");
    settings.nsfwPolicy.value = me.nsfwPolicy;
    settings.p2pEnabled.checked = me.p2pEnabled;
  } catch (e) {
    showError(errorBox, e);
  }
}
settings.addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(errorBox, null);
  const body = { nsfwPolicy: settings.nsfwPolicy.value, p2pEnabled: settings.p2pEnabled.checked };
  try {
    await api("/api/v1/users/me", { method: "PUT", body });
    const s = session();
    if (s) saveSession({ ...s, p2pEnabled: body.p2pEnabled });
    status.textContent = "Settings saved.";
  } catch (err) {
    showError(errorBox, err);
  }
});

more.addEventListener("click", load);
if (requireLogin("mine")) {
  load();
  loadSettings();
}
