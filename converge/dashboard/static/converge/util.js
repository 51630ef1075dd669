// Small helpers shared by the modules.

export const PASSIVE = { "X-Converge-Passive": "1" };

export function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch (_) {
    return "";
  }
}

export function isTypingTarget(el) {
  if (!el || el === document.body) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") {
    const type = (el.getAttribute("type") || "text").toLowerCase();
    return !["checkbox", "radio", "button", "submit", "reset"].includes(type);
  }
  return false;
}

// The page has shown the member this conversation's newest messages: tell the server it is
// read (showing it, a GET, records nothing). Quietly: a failure only leaves it marked unread.
export function markRead(id) {
  if (!id) return;
  fetch(`/c/${id}/read`, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken(), ...PASSIVE },
    credentials: "same-origin",
  }).catch(() => {});
}

export function currentConversationId() {
  const el = document.getElementById("conversation");
  return el ? Number(el.dataset.conversationId) : 0;
}

let toastTimer;
export function toast(text, kind = "") {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = text; // never markup
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

export function goToLogin() {
  window.location.assign("/login/?idle=1");
}

// A compact age like the server renders: now, 5m, 3h, 2d, 6w.
export function formatAge(iso) {
  const seconds = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 1000));
  for (const [unit, size] of [["w", 604800], ["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
  }
  return "now";
}
