// The calendar page: keyboard shortcuts, focus after the side panel is swapped, and marking the
// selected block. Everything also works without this file (links and forms).
const page = document.getElementById("calendar");

function isTyping(el) {
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

function panel() {
  return document.getElementById("cal-panel");
}

function go(url) {
  if (url) window.location.assign(url);
}

function openBooking() {
  const button = document.querySelector(".cal-book");
  if (button) button.click();
}

function markSelected() {
  const current = panel();
  const id = current && current.dataset.panel === "appointment"
    ? new URLSearchParams(window.location.search).get("appointment")
    : null;
  for (const block of document.querySelectorAll(".cal-appt")) {
    const selected = Boolean(id) && block.dataset.appointment === id;
    block.classList.toggle("is-selected", selected);
    if (selected) block.setAttribute("aria-current", "true");
    else block.removeAttribute("aria-current");
  }
}

let lastTrigger = null;
let focusedId = "";

function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape") {
    const close = panel()?.querySelector("[data-close]");
    if (close && panel().classList.contains("open")) {
      if (isTyping(e.target)) e.target.blur();
      e.preventDefault();
      close.click();
    }
    return;
  }
  if (isTyping(e.target) || document.querySelector("dialog[open]")) return;
  const keys = {
    ArrowLeft: () => go(page.dataset.prev),
    ArrowRight: () => go(page.dataset.next),
    t: () => go(page.dataset.today),
    d: () => go(page.dataset.day),
    w: () => go(page.dataset.week),
    b: openBooking,
  };
  const action = keys[e.key];
  if (!action) return;
  // Arrow keys inside the scrolling grid scroll it; only act when focus is elsewhere.
  if (e.key.startsWith("Arrow") && e.target.closest && e.target.closest(".cal-scroll, .cal-slots, details")) return;
  e.preventDefault();
  action();
}

function beforeRequest(e) {
  const target = e.detail.target;
  if (!target || target.id !== "cal-panel") return;
  const elt = e.detail.elt;
  if (elt && elt.closest && elt.closest(".cal-appt, .cal-book")) lastTrigger = elt.closest(".cal-appt, .cal-book");
  const active = document.activeElement;
  focusedId = active && active.id && panel()?.contains(active) ? active.id : "";
}

function afterSettle(e) {
  const elt = e.detail.elt;
  if (!elt || elt.id !== "cal-panel") return;
  markSelected();
  const current = panel();
  // Keep the person where they were (a select they changed), else take them to the panel.
  const same = focusedId && document.getElementById(focusedId);
  if (same) {
    same.focus();
  } else if (current.classList.contains("open")) {
    const title = document.getElementById("cal-panel-title");
    if (title) title.focus({ preventScroll: false });
  } else if (lastTrigger && document.body.contains(lastTrigger)) {
    lastTrigger.focus();
  }
  if (current.classList.contains("open")) {
    const title = document.getElementById("cal-panel-title");
    if (title) document.title = `${title.textContent.trim()} · Calendar · Converge`;
  } else {
    document.title = "Calendar · Converge";
  }
}

if (page) {
  document.addEventListener("keydown", onKey);
  document.body.addEventListener("htmx:beforeRequest", beforeRequest);
  document.body.addEventListener("htmx:afterSettle", afterSettle);
  markSelected();
  const title = panel()?.classList.contains("open") && document.getElementById("cal-panel-title");
  if (title) title.focus({ preventScroll: true });
  // Bring the selected visit into view when the grid scrolls.
  const scroller = page.querySelector(".cal-scroll");
  const selected = page.querySelector(".cal-appt.is-selected");
  if (scroller && selected) {
    const offset = selected.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
    if (offset > scroller.clientHeight - 40) scroller.scrollTop += offset - 120;
  }
}
