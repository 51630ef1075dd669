// Team messages. live.js hands every "team.*" WebSocket event (ids only) to this module as a
// "converge:team" DOM event; we re-read what it affects: the top bar's badge, the sidebar, and the
// open topic's messages newer than the last one shown. Edits and deletes re-read from that message.
import { PASSIVE, csrfToken, isTypingTarget, toast } from "../converge/util.js";
import { urgentArrived } from "../converge/urgent.js";
import { sendLive } from "../converge/live.js";

const team = () => document.getElementById("team");
const openTopic = () => Number(team()?.dataset.topicId || 0);
const openThread = () => Number(team()?.dataset.threadId || 0);
let sidebarTimer = null;
let badgeTimer = null;
let typingTimer = null;
const typists = new Map();

function messagesUrl() {
  if (openTopic()) return `/team/t/${openTopic()}/messages`;
  if (openThread()) return `/team/d/${openThread()}/messages`;
  return "";
}

async function getHtml(url) {
  const response = await fetch(url, { headers: { ...PASSIVE, "HX-Request": "true" }, credentials: "same-origin" });
  if (response.status === 401) { window.location.assign("/login/?idle=1"); return null; }
  if (!response.ok) return null;
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  return template.content;
}

function lastShownId() {
  const items = document.querySelectorAll("#team-messages [data-message-id]");
  return items.length ? Number(items[items.length - 1].dataset.messageId) : 0;
}

// The page has shown the member the messages up to the last one: tell the server they are read
// (showing them, a GET, records nothing), then re-read the badge and the sidebar's unread counts.
// Quietly: a failure only leaves them unread.
let readUpTo = 0;
async function markShownRead() {
  const id = lastShownId();
  const base = openTopic() ? `/team/t/${openTopic()}` : openThread() ? `/team/d/${openThread()}` : "";
  if (!base || !id || id <= readUpTo) return;
  readUpTo = id;
  try {
    const response = await fetch(`${base}/read`, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded", ...PASSIVE },
      body: new URLSearchParams({ up_to: String(id) }),
      credentials: "same-origin",
    });
    if (!response.ok) { readUpTo = 0; return; }
  } catch (_) {
    readUpTo = 0;
    return;
  }
  clearUrgentShown(base, id);
  refreshBadge();
  refreshSidebar();
}

// The urgent banners of messages the page has now shown (and marked read) go.
function clearUrgentShown(base, upTo) {
  const box = document.getElementById("team-urgent");
  if (!box) return;
  for (const line of [...box.querySelectorAll("[data-team-urgent]")]) {
    const href = line.querySelector("a")?.getAttribute("href") || "";
    if (Number(line.dataset.teamUrgent) <= upTo && href.startsWith(`${base}/`)) line.remove();
  }
  if (!box.querySelector("[data-team-urgent]")) box.hidden = true;
}

function atBottom(scroller) {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToBottom() {
  const scroller = document.getElementById("team-scroll");
  if (scroller) scroller.scrollTop = scroller.scrollHeight;
}

// New messages are appended; a message already shown (edited, deleted) is replaced in place.
async function refreshMessages(fromId) {
  const url = messagesUrl();
  const list = document.getElementById("team-messages");
  if (!url || !list) return;
  const after = fromId === undefined ? lastShownId() : fromId;
  const fragment = await getHtml(`${url}?after=${after}`);
  if (!fragment) return;
  const scroller = document.getElementById("team-scroll");
  const stick = scroller && atBottom(scroller);
  for (const item of [...fragment.querySelectorAll("[data-message-id]")]) {
    const existing = document.getElementById(item.id);
    if (existing) existing.replaceWith(item);
    else {
      list.querySelector("[data-empty]")?.remove();
      list.appendChild(item);
    }
    window.htmx?.process(item);
  }
  if (stick) scrollToBottom();
  markShownRead();
}

function refreshSidebar() {
  clearTimeout(sidebarTimer);
  sidebarTimer = setTimeout(async () => {
    const side = document.getElementById("team-sidebar");
    if (!side) return;
    if (side.contains(document.activeElement) && isTypingTarget(document.activeElement)) return;
    const fragment = await getHtml(`/team/sidebar?topic=${openTopic()}&thread=${openThread()}`);
    if (!fragment) return;
    side.replaceChildren(fragment);
    window.htmx?.process(side);
    showAuthorPresence();
  }, 120);
}

function refreshBadge() {
  clearTimeout(badgeTimer);
  badgeTimer = setTimeout(async () => {
    const badge = document.getElementById("team-badge");
    if (!badge) return;
    const fragment = await getHtml("/team/badge");
    if (fragment) badge.replaceChildren(fragment);
  }, 150);
}

function isOpen(event) {
  return (event.topic_id && event.topic_id === openTopic()) || (event.dm_id && event.dm_id === openThread());
}

function linkFor(event) {
  return event.topic_id ? `/team/t/${Number(event.topic_id)}/` : `/team/d/${Number(event.dm_id)}/`;
}

function urgentBanner(event) {
  const box = document.getElementById("team-urgent");
  if (!box || box.querySelector(`[data-team-urgent="${Number(event.message_id)}"]`)) return;
  const line = document.createElement("p");
  line.className = "team-urgent-alert";
  line.setAttribute("role", "alert");
  line.dataset.teamUrgent = String(Number(event.message_id));
  const strong = document.createElement("strong");
  strong.textContent = `Urgent team message from ${String(event.author_name || "a colleague")}`; // text, never markup
  const open = document.createElement("a");
  open.href = `${linkFor(event)}#tm${Number(event.message_id)}`;
  open.textContent = "Open";
  line.append(strong, " ", open);
  box.prepend(line);
  box.hidden = false;
}

let audio = null;
function softTone() {
  let on = false;
  try { on = window.localStorage.getItem("converge.sound") === "on"; } catch (_) { on = false; }
  if (!on) return;
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state !== "running") return; // the browser waits for a click first (urgent.js asks)
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 660;
    gain.gain.setValueAtTime(0.12, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.25);
  } catch (_) {
    audio = null;
  }
}

function notifyDesktop(text, event) {
  if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  const note = new Notification(text, { tag: `team-${Number(event.message_id)}` }); // who, never what
  note.onclick = () => { window.focus(); window.location.assign(linkFor(event)); };
}

function onTeamEvent(e) {
  const event = e.detail || {};
  switch (event.type) {
    case "team.message":
      if (isOpen(event)) { typists.clear(); renderTyping(); refreshMessages(); }
      refreshSidebar();
      refreshBadge();
      return;
    case "team.message.changed":
      if (isOpen(event)) refreshMessages(Number(event.message_id) - 1);
      return;
    case "team.notify": {
      const from = String(event.author_name || "a colleague");
      if (event.urgent) {
        urgentBanner(event);
        urgentArrived();
      }
      if (!isOpen(event) || document.hidden) {
        if (!event.urgent) softTone();
        toast(`${event.urgent ? "Urgent message" : "New message"} from ${from}`);
        notifyDesktop(`New message from ${from}`, event);
      }
      return;
    }
    case "team.typing":
      if (isOpen(event)) showTyping(event);
      return;
    case "team.presence":
      refreshSidebar(); // the sidebar carries everyone's presence; author lines follow it
      return;
    case "team.read":
      refreshBadge();
      refreshSidebar();
      return;
    case "team.resync":
      sentIdle = null;
      refreshMessages();
      refreshSidebar();
      refreshBadge();
      return;
    default:
      return;
  }
}

// --- presence: online / away / in a visit -------------------------------------------------------

const PRESENCE_LABELS = { online: "Online", away: "Away", in_visit: "In a visit", offline: "Offline" };
// Away for colleagues after this long without a key press or click in any tab (idle.js keeps the
// last activity in localStorage for all tabs).
const AWAY_AFTER_MS = 5 * 60 * 1000;
let sentIdle = null;

function showAuthorPresence() {
  const data = document.getElementById("team-presence-map");
  if (!data) return;
  let map = {};
  try { map = JSON.parse(data.textContent || "{}"); } catch (_) { return; }
  for (const dot of document.querySelectorAll("[data-presence-staff]")) {
    const state = PRESENCE_LABELS[map[dot.dataset.presenceStaff]] ? map[dot.dataset.presenceStaff] : "offline";
    dot.className = `presence-dot ${state}`;
    dot.title = PRESENCE_LABELS[state];
    const hidden = dot.querySelector(".visually-hidden");
    if (hidden) hidden.textContent = PRESENCE_LABELS[state];
  }
}

function checkIdle() {
  const last = Number(window.localStorage.getItem("converge:last-activity") || Date.now());
  const idle = Date.now() - last > AWAY_AFTER_MS;
  if (idle === sentIdle) return;
  if (sendLive({ type: "team.idle", idle })) sentIdle = idle;
}

function initIdleAway() {
  setInterval(checkIdle, 5000);
  document.addEventListener("visibilitychange", checkIdle);
}

function showTyping(event) {
  typists.set(Number(event.staff_id), { name: String(event.staff_name || "A colleague"), at: Date.now() });
  renderTyping();
  clearTimeout(typingTimer);
  typingTimer = setTimeout(renderTyping, 6500);
}

function renderTyping() {
  const el = document.getElementById("team-typing");
  if (!el) return;
  const now = Date.now();
  for (const [id, t] of typists) if (now - t.at > 6000) typists.delete(id);
  const names = [...typists.values()].map((t) => t.name);
  el.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : ""; // text only
}

// --- the page -----------------------------------------------------------------------------

function initComposer() {
  const form = document.getElementById("team-composer");
  if (!form) return;
  const area = form.querySelector("textarea");
  let lastTyping = 0;
  area.addEventListener("input", () => {
    const now = Date.now();
    if (now - lastTyping < 2500) return;
    lastTyping = now;
    sendLive(openTopic() ? { type: "team.typing", topic_id: openTopic() } : { type: "team.typing", dm_id: openThread() });
  });
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.defaultPrevented) {
      e.preventDefault();
      if (area.value.trim()) form.requestSubmit();
    }
  });
}

function initScrolling() {
  const scroller = document.getElementById("team-scroll");
  if (!scroller) return;
  const target = window.location.hash && document.querySelector(window.location.hash);
  if (target && target.closest("#team-messages")) target.scrollIntoView({ block: "center" });
  else scrollToBottom();
  // History loads as one scrolls up: the "Load earlier" row clicks itself when it comes into view,
  // and the reader's place is kept when the older page lands above it.
  let heightBefore = 0;
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.elt?.matches?.("[data-load-earlier]")) heightBefore = scroller.scrollHeight;
  });
  document.body.addEventListener("htmx:afterSwap", () => {
    if (heightBefore) {
      scroller.scrollTop += scroller.scrollHeight - heightBefore;
      heightBefore = 0;
      watchEarlier();
    }
  });
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) if (entry.isIntersecting) entry.target.click();
  }, { root: scroller });
  function watchEarlier() {
    const button = document.querySelector("#team-messages [data-load-earlier]");
    if (button) observer.observe(button);
  }
  setTimeout(watchEarlier, 300); // not at once: the first paint is scrolled to the bottom
}

function initPosted() {
  document.body.addEventListener("team:posted", (e) => {
    const elt = e.target;
    const form = elt.closest ? elt.closest("form") : null;
    if (form?.id === "team-status") {
      refreshSidebar();
      return;
    }
    if (form?.id === "team-composer") {
      form.querySelector("textarea").value = "";
      const urgent = form.querySelector("[name=urgent]");
      if (urgent) urgent.checked = false;
      refreshMessages().then(scrollToBottom);
      return;
    }
    const item = elt.closest ? elt.closest("[data-message-id]") : null;
    refreshMessages(item ? Number(item.dataset.messageId) - 1 : undefined);
  });
  // "Ask the team" from a conversation: say where the question went.
  document.body.addEventListener("team:asked", (e) => {
    const form = document.getElementById("ask-team-form");
    if (form) form.querySelector("textarea").value = "";
    const details = document.getElementById("ask-team");
    if (details) details.open = false;
    toast("Asked. The topic is linked under the patient's name.");
    void e;
  });
}

function navItems() {
  return [...document.querySelectorAll("#team-sidebar [data-team-nav]")];
}

function moveTopic(step, open) {
  const items = navItems();
  if (!items.length) return;
  let index = items.findIndex((a) => a.classList.contains("selected"));
  if (index === -1) index = items.findIndex((a) => a.getAttribute("aria-current") === "page");
  const next = index === -1 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, index + step));
  const link = items[next];
  if (open) { window.location.assign(link.href); return; }
  for (const a of items) a.classList.remove("selected");
  link.classList.add("selected");
  link.focus();
}

function initKeys() {
  document.addEventListener("keydown", (e) => {
    if (!team() || e.defaultPrevented) return;
    if (e.altKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      moveTopic(e.key === "ArrowDown" ? 1 : -1, true);
      return;
    }
    if (e.key === "Escape") {
      document.querySelectorAll("#team details[open]").forEach((d) => { d.open = false; });
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || isTypingTarget(e.target) || document.querySelector("dialog[open]")) return;
    if (e.key === "j" || e.key === "k") {
      e.preventDefault();
      e.stopImmediatePropagation();
      moveTopic(e.key === "j" ? 1 : -1, false);
    } else if (e.key === "c") {
      const field = document.getElementById("team-body") || document.getElementById("topic-title") || document.getElementById("direct-members");
      if (field) { e.preventDefault(); field.focus(); }
    }
  }, { capture: true });
}

function initDesktopNotifications() {
  const button = document.getElementById("desktop-notify");
  if (!button || !("Notification" in window) || Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", () => {
    Notification.requestPermission().finally(() => { button.hidden = true; });
  });
}

if (document.body.dataset.staffId) {
  document.addEventListener("converge:team", onTeamEvent);
  // Chromium lets audio start only after a click or key press on the page.
  const wake = () => {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
    } catch (_) {
      audio = null;
    }
  };
  document.addEventListener("pointerdown", wake, { capture: true, once: true });
  document.addEventListener("keydown", wake, { capture: true, once: true });
  if (team()) {
    markShownRead();
    initComposer();
    initScrolling();
    initKeys();
    initDesktopNotifications();
  }
  initPosted();
  initIdleAway();
}
