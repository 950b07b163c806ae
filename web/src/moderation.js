// The moderation page: reports (accept, reject, with a note), registration requests (accept,
// reject), blocked videos (unblock), blocked servers and accounts (block, unblock). Everything
// goes through the REST API, which refuses what the user's role does not allow.
import { api, badge, button, canModerate, el, requireLogin, showError, table } from "./common.js";

const errorBox = document.getElementById("mod-error");
const status = document.getElementById("mod-status");
window.fleuveModeration = { state: "loading" };

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const accountName = (a) => (a ? (a.host ? `${a.name}@${a.host}` : a.name) : "");

/** Runs `call`, says `done` and reloads, or shows the API's refusal. */
async function act(call, done) {
  showError(errorBox, null);
  try {
    await call();
    status.textContent = done;
    await load();
  } catch (e) {
    showError(errorBox, e);
  }
}

function reportTarget(r) {
  if (r.video) return el("a", { href: `/w/${r.video.uuid}` }, `Video: ${r.video.name}`);
  if (r.comment) return `Comment: ${r.comment.text}`;
  return `Account: ${accountName(r.flaggedAccount)}`;
}

function reportActions(r) {
  const note = el("input", { "aria-label": `Note on report ${r.id}`, placeholder: "Note (optional)", value: r.moderationComment || "" });
  const set = (state, word) =>
    button(word, () =>
      act(
        () => api(`/api/v1/abuses/${r.id}`, { method: "PUT", body: { state, moderationComment: note.value.trim() || undefined } }),
        `Report ${r.id} ${word === "Accept" ? "accepted" : word === "Reject" ? "rejected" : "reopened"}.`,
      ),
    { "aria-label": `${word} report ${r.id}` });
  return el("div", { class: "actions" }, note, r.state.id === 1 ? [set(3, "Accept"), set(2, "Reject")] : set(1, "Reopen"));
}

function registrationActions(g) {
  if (g.state.id !== 1) return g.moderationResponse || "";
  const answer = el("input", { "aria-label": `Answer to ${g.username}`, placeholder: "Answer (e-mailed)" });
  const go = (verb) =>
    button(verb === "accept" ? "Accept" : "Reject", () =>
      act(
        () => api(`/api/v1/users/registrations/${g.id}/${verb}`, { method: "POST", body: { moderationResponse: answer.value.trim() || (verb === "accept" ? "Welcome!" : "Sorry.") } }),
        `${g.username}'s request ${verb}ed.`,
      ),
    { "aria-label": `${verb === "accept" ? "Accept" : "Reject"} ${g.username}` });
  return el("div", { class: "actions" }, answer, go("accept"), go("reject"));
}

async function section(id, path, headers, row, empty) {
  const box = document.getElementById(id);
  try {
    const page = await api(path);
    box.replaceChildren(table(headers, page.data.map(row), empty));
    return page.data;
  } catch (e) {
      // A role without the right gets 403 for that section only.
    box.replaceChildren(el("p", { class: "muted" }, e.status === 403 ? "Your role cannot see this." : e.message));
    return [];
  }
}

async function load() {
  const [reports, registrations, videos, servers, accounts] = await Promise.all([
    section("reports", "/api/v1/abuses?count=100&sort=-createdAt", ["#", "What", "Reason", "By", "When", "State", ""], (r) => [
      String(r.id),
      reportTarget(r),
      r.reason,
      accountName(r.reporterAccount),
      when(r.createdAt),
      badge(r.state.label, r.state.id === 3 ? "good" : r.state.id === 2 ? "bad" : ""),
      reportActions(r),
    ], "No reports."),
    section("registrations", "/api/v1/users/registrations?count=100&sort=-createdAt", ["User", "E-mail", "Reason", "When", "State", ""], (g) => [
      g.username,
      [g.email, g.emailVerified ? "" : " (not verified)"],
      g.registrationReason,
      when(g.createdAt),
      badge(g.state.label, g.state.id === 3 ? "good" : g.state.id === 2 ? "bad" : ""),
      registrationActions(g),
    ], "No registration requests."),
    section("blocked-videos", "/api/v1/videos/blacklist?count=100", ["Video", "Reason", "Since", ""], (b) => [
      el("a", { href: `/w/${b.video.shortUUID || b.video.uuid}` }, b.video.name),
      b.reason || "",
      when(b.createdAt),
      button("Unblock", () => act(() => api(`/api/v1/videos/${b.video.uuid}/blacklist`, { method: "DELETE" }), `${b.video.name} unblocked.`), { "aria-label": `Unblock ${b.video.name}` }),
    ], "No blocked videos."),
    section("blocked-servers", "/api/v1/server/blocklist/servers?count=100", ["Server", "Since", ""], (b) => [
      b.blockedServer.host,
      when(b.createdAt),
      button("Unblock", () => act(() => api(`/api/v1/server/blocklist/servers/${encodeURIComponent(b.blockedServer.host)}`, { method: "DELETE" }), `${b.blockedServer.host} unblocked.`), { "aria-label": `Unblock ${b.blockedServer.host}` }),
    ], "No blocked servers."),
    section("blocked-accounts", "/api/v1/server/blocklist/accounts?count=100", ["Account", "Since", ""], (b) => [
      accountName(b.blockedAccount),
      when(b.createdAt),
      button("Unblock", () => act(() => api(`/api/v1/server/blocklist/accounts/${encodeURIComponent(accountName(b.blockedAccount))}`, { method: "DELETE" }), `${accountName(b.blockedAccount)} unblocked.`), { "aria-label": `Unblock ${accountName(b.blockedAccount)}` }),
    ], "No blocked accounts."),
  ]);
  window.fleuveModeration = {
    state: "ready",
    reports: reports.map((r) => ({ id: r.id, state: r.state.id, comment: r.moderationComment || null })),
    registrations: registrations.map((g) => ({ username: g.username, state: g.state.id })),
    blockedVideos: videos.map((b) => b.video.name),
    blockedServers: servers.map((b) => b.blockedServer.host),
    blockedAccounts: accounts.map((b) => accountName(b.blockedAccount)),
  };
}

function blockForm(formId, path, field, word) {
  const form = document.getElementById(formId);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = form[field].value.trim();
    if (!value) return showError(errorBox, new Error(`Enter the ${word} to block.`));
    await act(() => api(path, { method: "POST", body: { [field]: value } }), `${value} blocked.`);
    form.reset();
  });
}

blockForm("block-server-form", "/api/v1/server/blocklist/servers", "host", "server");
blockForm("block-account-form", "/api/v1/server/blocklist/accounts", "accountName", "account");

if (requireLogin("moderation")) {
  if (!canModerate()) {
    showError(errorBox, new Error("This page is for moderators and administrators."));
    window.fleuveModeration = { state: "refused" };
  } else {
    load();
  }
}
