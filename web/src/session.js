// The header's session link: "Log in", or "Log out <name>" once logged in.
import { clearSession, loginUrl, session } from "./common.js";

const link = document.getElementById("session-link");
const s = session();
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
