// "My channels": the user's channels (GET /api/v1/accounts/{me}/video-channels), each with an
// edit form (PUT /api/v1/video-channels/{name}) and a delete button; a form creates one.
import { api, button, el, requireLogin, session, showError, table } from "./common.js";

const list = document.getElementById("channel-list");
const form = document.getElementById("channel-form");
const errorBox = document.getElementById("channels-error");
const status = document.getElementById("channels-status");
window.fleuveChannels = { state: "loading" };

function editForm(c) {
  const id = `edit-${c.name}`;
  const f = el(
    "form",
    { class: "form", id, "aria-label": `Edit ${c.displayName}` },
    el("label", { for: `${id}-display` }, "Display name"),
    el("input", { id: `${id}-display`, name: "displayName", value: c.displayName, maxlength: 50, required: true }),
    el("label", { for: `${id}-description` }, "Description"),
    el("textarea", { id: `${id}-description`, name: "description", rows: 2, maxlength: 1000 }, c.description || ""),
    el("label", { for: `${id}-support` }, "Support text"),
    el("textarea", { id: `${id}-support`, name: "support", rows: 2, maxlength: 1000 }, c.support || ""),
    el("button", { class: "button small", type: "submit" }, "Save"),
  );
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(errorBox, null);
    const body = {
      displayName: f.displayName.value.trim(),
      description: f.description.value,
      support: f.support.value,
    };
    try {
      await api(`/api/v1/video-channels/${encodeURIComponent(c.name)}`, { method: "PUT", body });
      status.textContent = `Channel ${c.name} saved.`;
      await load();
    } catch (err) {
      showError(errorBox, err);
    }
  });
  return el("details", {}, el("summary", {}, "Edit"), f);
}

async function remove(c) {
  if (!confirm(`Delete the channel ${c.displayName} and all its videos?`)) return;
  showError(errorBox, null);
  try {
    await api(`/api/v1/video-channels/${encodeURIComponent(c.name)}`, { method: "DELETE" });
    status.textContent = `Channel ${c.name} deleted.`;
    await load();
  } catch (err) {
    showError(errorBox, err);
  }
}

async function load() {
  try {
    const me = session().username;
    const page = await api(`/api/v1/accounts/${encodeURIComponent(me)}/video-channels?count=100`);
    const rows = page.data.map((c) => [
      el("strong", {}, c.displayName),
      c.name,
      String(c.followersCount ?? 0),
      c.description || "",
      editForm(c),
      button("Delete", () => remove(c), { "aria-label": `Delete ${c.displayName}` }),
    ]);
    list.replaceChildren(table(["Channel", "Name", "Followers", "Description", "", ""], rows, "You have no channel."));
    window.fleuveChannels = { state: "ready", names: page.data.map((c) => c.name), displayNames: page.data.map((c) => c.displayName) };
  } catch (err) {
    showError(errorBox, err);
    window.fleuveChannels = { state: "error", error: err.message };
  }
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(errorBox, null);
  const body = { name: form.name.value.trim(), displayName: form.displayName.value.trim() };
  const description = form.description.value.trim();
  if (description) body.description = description;
  if (!body.name || !body.displayName) {
    return showError(errorBox, new Error("A channel needs a name and a display name."));
  }
  const b = form.querySelector("button");
  b.disabled = true;
  try {
    await api("/api/v1/video-channels", { method: "POST", body });
    status.textContent = `Channel ${body.name} created.`;
    form.reset();
    await load();
  } catch (err) {
    showError(errorBox, err);
  } finally {
    b.disabled = false;
  }
});

if (requireLogin("channels")) load();
