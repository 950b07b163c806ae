// Shared by the pages' scripts: the OAuth token kept in sessionStorage, API calls with it,
// a small safe DOM builder (text is never parsed as HTML) and formatting helpers.

const KEY = "fleuve.session";

/** The saved session ({accessToken, refreshToken, expiresAt, username, role}) or null. */
export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY));
    return s && s.accessToken ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s) {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** An error the API answered, with its HTTP status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function refresh(s) {
  const client = await (await fetch("/api/v1/oauth-clients/local")).json();
  const body = new URLSearchParams({
    client_id: client.client_id,
    client_secret: client.client_secret,
    grant_type: "refresh_token",
    refresh_token: s.refreshToken,
  });
  const r = await fetch("/api/v1/users/token", { method: "POST", body });
  if (!r.ok) return null;
  const t = await r.json();
  const next = {
    ...s,
    accessToken: t.access_token,
    refreshToken: t.refresh_token,
    expiresAt: Date.now() + t.expires_in * 1000,
  };
  saveSession(next);
  return next;
}

/** Calls the API with the session's token; JSON in and out. Throws ApiError. */
export async function api(path, options = {}) {
  let s = session();
  if (s && s.expiresAt && s.expiresAt - Date.now() < 60_000) s = (await refresh(s)) || s;
  const headers = new Headers(options.headers || {});
  if (s) headers.set("Authorization", `Bearer ${s.accessToken}`);
  let body = options.body;
  if (body && !(body instanceof FormData) && !(body instanceof URLSearchParams) && typeof body !== "string") {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(body);
  }
  const r = await fetch(path, { ...options, headers, body });
  if (r.status === 401) clearSession();
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try {
      const e = await r.json();
      message = e.detail || e.error || e.message || message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(r.status, message);
  }
  return r.status === 204 ? null : r.json();
}

/** Builds an element: el("p", {class: "x"}, "text", child). Strings become text nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** A table with a header row; `empty` (a sentence) when there are no rows. */
export function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))),
    ),
  );
}

export function badge(text, kind) {
  return el("span", { class: `badge ${kind || ""}` }, text);
}

/** A button that runs `action` once per click, disabled while it runs. */
export function button(label, action, attrs = {}) {
  const b = el("button", { class: "button small", type: "button", ...attrs }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await action();
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** Shows `err` (an ApiError or any Error) in the alert box `box`, or hides the box. */
export function showError(box, err) {
  if (!err) {
    box.hidden = true;
    return;
  }
  box.textContent = err instanceof ApiError ? `${err.message} (${err.status})` : String(err.message || err);
  box.hidden = false;
}

/** Whether the session's user is a moderator or an administrator. */
export function canModerate() {
  const s = session();
  return !!s && (s.role === 0 || s.role === 1);
}

export function bytes(n) {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : n < 10 ? 1 : 0)} ${units[i]}`;
}

export function seconds(s) {
  if (!Number.isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** Where the login page sends the user back to afterwards. */
export function loginUrl() {
  return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/** Shows the "log in" notice instead of `contentId` when there is no session. */
export function requireLogin(contentId) {
  const content = document.getElementById(contentId);
  const notice = document.getElementById("login-needed");
  const link = document.getElementById("login-link");
  if (link) link.href = loginUrl();
  if (!session()) {
    if (notice) notice.hidden = false;
    if (content) content.hidden = true;
    return false;
  }
  if (notice) notice.hidden = true;
  if (content) content.hidden = false;
  return true;
}
