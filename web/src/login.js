// The login form: PeerTube's OAuth password grant (local client, then a token), then back to
// the page that asked for it.
import { saveSession } from "./common.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only paths on this site: no scheme, no protocol-relative URL.
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function fail(message) {
  error.textContent = message;
  error.hidden = false;
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  error.hidden = true;
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) return fail("Enter your user name and password.");
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const client = await (await fetch("/api/v1/oauth-clients/local")).json();
    const body = new URLSearchParams({
      client_id: client.client_id,
      client_secret: client.client_secret,
      grant_type: "password",
      username,
      password,
    });
    const r = await fetch("/api/v1/users/token", { method: "POST", body });
    if (!r.ok) {
      let message = "Wrong user name or password.";
      if (r.status === 429) message = "Too many attempts. Wait a few minutes and try again.";
      else if (r.status !== 400 && r.status !== 401) message = `The server answered ${r.status}.`;
      return fail(message);
    }
    const t = await r.json();
    const me = await (
      await fetch("/api/v1/users/me", { headers: { Authorization: `Bearer ${t.access_token}` } })
    ).json();
    saveSession({
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      expiresAt: Date.now() + t.expires_in * 1000,
      username: me.username,
      role: me.role?.id,
      p2pEnabled: me.p2pEnabled !== false,
    });
    location.href = nextPage();
  } catch (err) {
    fail(`Could not reach the server (${err.message}).`);
  } finally {
    button.disabled = false;
  }
});
