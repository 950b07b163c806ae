// The sign-up form: reads /api/v1/config (closed, open, or a request that a moderator answers,
// with or without e-mail verification), then registers or sends the request.
import { ApiError, api, showError } from "./common.js";

const form = document.getElementById("signup-form");
const closed = document.getElementById("signup-closed");
const error = document.getElementById("signup-error");
const done = document.getElementById("signup-done");
const reasonBlock = document.getElementById("su-reason-block");
window.fleuveSignup = { state: "loading" };

let rules = null;

function finish(message, state) {
  form.hidden = true;
  done.textContent = message;
  done.hidden = false;
  window.fleuveSignup = { state };
}

async function start() {
  try {
    rules = (await api("/api/v1/config")).signup;
  } catch (e) {
    showError(error, e);
    window.fleuveSignup = { state: "error" };
    return;
  }
  if (!rules.allowed) {
    closed.hidden = false;
    window.fleuveSignup = { state: "closed" };
    return;
  }
  reasonBlock.hidden = !rules.requiresApproval;
  form.hidden = false;
  window.fleuveSignup = { state: "ready", requiresApproval: rules.requiresApproval };
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(error, null);
  const body = {
    username: form.username.value.trim(),
    email: form.email.value.trim(),
    password: form.password.value,
  };
  const displayName = form.displayName.value.trim();
  if (displayName) body.displayName = displayName;
  if (!body.username || !body.email || !body.password) {
    return showError(error, new Error("Enter a user name, an e-mail address and a password."));
  }
  if (body.password.length < 6) {
    return showError(error, new Error("The password needs at least 6 characters."));
  }
  if (rules.requiresApproval) {
    body.registrationReason = form.registrationReason.value.trim();
    if (body.registrationReason.length < 2) {
      return showError(error, new Error("Say in a few words why you want an account."));
    }
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    if (rules.requiresApproval) {
      await api("/api/v1/users/registrations/request", { method: "POST", body });
      finish(
        rules.requiresEmailVerification
          ? "Request sent. Open the link we e-mailed you; a moderator then reads your request and you get an e-mail with the answer."
          : "Request sent. A moderator reads it; you get an e-mail with the answer.",
        "requested",
      );
    } else {
      await api("/api/v1/users/register", { method: "POST", body });
      if (rules.requiresEmailVerification) {
        finish("Account created. Open the link we e-mailed you, then log in.", "verify");
      } else {
        finish("Account created. You can log in now.", "created");
        done.append(" ", Object.assign(document.createElement("a"), { href: "/login?next=/my-videos", textContent: "Log in" }));
      }
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 429) {
      showError(error, new Error("Too many sign-ups from your address. Wait a few minutes."));
    } else {
      showError(error, err);
    }
    window.fleuveSignup = { state: "ready", error: err.message };
  } finally {
    button.disabled = false;
  }
});

start();
