// Idle sign-out. The server ends a session unused for the practice's timeout; this makes the
// page follow on its own: it warns a minute before, then signs out and shows the sign-in page.
// Activity in any tab counts for all tabs (a timestamp in localStorage — no patient data).
import { csrfToken, goToLogin } from "./util.js";

const KEY = "converge:last-activity";
const PING_EVERY = 60 * 1000;

let timeoutMs = 0;
let lastPing = Date.now();
let signingOut = false;

export function initIdle() {
  const minutes = Number(document.body.dataset.idleMinutes || 0);
  if (!minutes) return;
  timeoutMs = minutes * 60 * 1000;
  touch();
  for (const type of ["keydown", "pointerdown", "wheel", "touchstart", "input"]) {
    document.addEventListener(type, onActivity, { passive: true, capture: true });
  }
  setInterval(tick, 1000);
}

function lastActivity() {
  const stored = Number(window.localStorage.getItem(KEY) || 0);
  return stored || Date.now();
}

function touch() {
  window.localStorage.setItem(KEY, String(Date.now()));
}

function onActivity() {
  if (signingOut) return;
  touch();
  const now = Date.now();
  // Typing or reading without loading anything still counts on the server.
  if (now - lastPing > PING_EVERY) {
    lastPing = now;
    fetch("/session/ping", { method: "POST", headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" })
      .then((r) => { if (r.status === 401 || r.redirected) goToLogin(); })
      .catch(() => {});
  }
}

function tick() {
  if (signingOut) return;
  const left = timeoutMs - (Date.now() - lastActivity());
  const banner = document.getElementById("idle-banner");
  if (left <= 0) {
    signOut();
    return;
  }
  if (banner) {
    banner.hidden = left > 60000;
    const seconds = document.getElementById("idle-seconds");
    if (seconds && !banner.hidden) seconds.textContent = String(Math.ceil(left / 1000));
  }
}

function signOut() {
  signingOut = true;
  fetch("/logout/?idle=1", {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken() },
    credentials: "same-origin",
    redirect: "manual",
  }).finally(goToLogin);
}
