// The header's session link: "Log in", or "Log out <name>" once logged in.
import { clearSession, loginUrl, session } from "./common.js";

const link = document.getElementById("session-link");
const s = session();
// Moderation and Admin are for moderators and administrators (the API refuses the others
// anyway); shown to whoever is not logged in, whose pages ask to log in.
const role = s ? s.role : null;
const moderation = document.getElementById("nav-moderation");
const admin = document.getElementById("nav-admin");
if (moderation && role === 2) moderation.parentElement.hidden = true;
if (admin && (role === 1 || role === 2)) admin.parentElement.hidden = true;
if (link && s) {
  link.textContent = `Log out ${s.username || ""}`.trim();
  link.href = "#";
  link.removeAttribute("aria-current");
  link.addEventListener("click", async (e) => {
    e.preventDefault();
    try {
      await fetch("/api/v1/users/revoke-token", {
        method: "POST",
        headers: { Authorization: `Bearer ${s.accessToken}` },
      });
    } catch {
      /* the token expires anyway */
    }
    clearSession();
    location.href = "/";
  });
} else if (link && location.pathname !== "/login") {
  link.href = loginUrl();
}
