// Live updates. WebSocket events carry ids only; on an event we re-read just the affected region
// (counts, list, thread, header, channel picker) as an htmx partial. The composer is never
// re-rendered and the reader's scroll position is kept. After a lost connection everything is
// re-read, so a missed event costs nothing.
import { PASSIVE, currentConversationId, goToLogin, markRead, toast } from "./util.js";
import { scrollThread } from "./inbox.js";
import { alertsChanged, urgentAcknowledged, urgentArrived } from "./urgent.js";

let socket = null;
let staffId = 0;
let retryDelay = 1000;
let wasDown = false;
let flushTimer = null;
let presenceFor = 0;
const pending = new Set();
const inFlight = new Set();
const again = new Set();
const viewers = new Map();

export function initLive() {
  connect();
  document.addEventListener("converge:opened", (e) => {
    leave();
    viewers.clear();
    renderPresence();
    presenceFor = e.detail.id;
    announce("presence.viewing");
  });
  document.body.addEventListener("converge:changed", (e) => {
    const id = (e.detail || {}).conversation_id;
    schedule(["counts", "list"]);
    if (id && id === currentConversationId()) schedule(["thread", "header"]);
  });
  // Acknowledged from this page: re-read the banner even if the socket is down.
  document.body.addEventListener("converge:urgent-acknowledged", () => schedule(["alerts"]));
  let lastTyping = 0;
  document.addEventListener("input", (e) => {
    if (!["reply-body", "note-body"].includes(e.target.id)) return;
    const now = Date.now();
    if (now - lastTyping > 2500) { lastTyping = now; announce("presence.typing"); }
  });
  setInterval(() => { if (currentConversationId()) announce("presence.viewing"); renderPresence(); }, 10000);
  window.addEventListener("pagehide", leave);
}

// For other modules that tell colleagues something (team.js: typing in a topic).
// Returns whether it was sent (false while the socket is not open).
export function sendLive(message) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(message));
  return true;
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${window.location.host}/ws/staff/`);
  socket.addEventListener("open", () => {
    document.body.dataset.live = "connected";
    retryDelay = 1000;
    banner(false);
    presenceFor = currentConversationId();
    announce("presence.viewing");
    if (wasDown) {
      wasDown = false;
      // Re-sync: whatever happened while we were away is in the database.
      schedule(["counts", "list", "thread", "header", "channels", "badge", "alerts"]);
      document.dispatchEvent(new CustomEvent("converge:team", { detail: { type: "team.resync" } }));
    }
  });
  socket.addEventListener("message", (e) => {
    let event;
    try { event = JSON.parse(e.data); } catch (_) { return; }
    onEvent(event);
  });
  socket.addEventListener("close", (e) => {
    document.body.dataset.live = "down";
    if (e.code === 4401 || e.code === 4408) { goToLogin(); return; }
    wasDown = true;
    banner(true);
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  });
}

function banner(show) {
  const el = document.getElementById("connection-banner");
  if (el) el.hidden = !show;
}

function onEvent(event) {
  if (typeof event.type === "string" && event.type.startsWith("team.")) {
    // Team messages (converge/teamchat/static/teamchat/team.js) re-read their own regions.
    document.dispatchEvent(new CustomEvent("converge:team", { detail: event }));
    return;
  }
  const open = currentConversationId();
  const mine = event.conversation_id && event.conversation_id === open;
  switch (event.type) {
    case "hello":
      staffId = event.staff_id;
      return;
    case "presence.viewing":
    case "presence.typing":
    case "presence.left":
      onPresence(event);
      return;
    case "message.received":
      schedule(["counts", "list"]);
      if (mine) schedule(["thread", "channels", "header"]);
      return;
    case "message.queued":
    case "message.status":
      schedule(["list"]);
      if (mine) schedule(["thread"]);
      return;
    case "conversation.updated":
    case "conversation.assigned":
      schedule(["counts", "list"]);
      if (mine) schedule(["header", "thread"]);
      return;
    case "conversation.read":
      schedule(["list"]);
      return;
    case "conversation.merged":
      if (event.conversation_id === open && event.into) window.location.assign(`/c/${event.into}/`);
      else schedule(["counts", "list"]);
      return;
    case "conversation.urgent":
      // The banner is re-read (it stays until someone acknowledges); the tone if sound is on.
      schedule(["counts", "list", "alerts"]);
      if (mine) schedule(["header", "thread"]);
      urgentArrived();
      return;
    case "urgent.acknowledged":
      urgentAcknowledged(event);
      schedule(["alerts"]);
      if (mine) schedule(["thread"]);
      return;
    case "privacy.break_glass":
      // Sent to managers only: someone took emergency access to a patient's clinical record.
      toast("A colleague used emergency access to a clinical record. Details are in the audit log.");
      return;
    case "mention":
      schedule(["badge"]);
      toast("A colleague mentioned you in a note.");
      return;
    case "mention.read":
      schedule(["badge"]);
      return;
    default:
      schedule(["counts", "list"]);
  }
}

function schedule(regions) {
  for (const r of regions) pending.add(r);
  clearTimeout(flushTimer);
  flushTimer = setTimeout(flush, 120);
}

function flush() {
  const regions = [...pending];
  pending.clear();
  for (const region of regions) refresh(region);
}

function listQuery() {
  const root = document.querySelector("#list-pane .list-root");
  if (!root || root.dataset.search) return null; // search results stay until the person leaves them
  return root.dataset.viewQuery || "view=all";
}

// One region at a time per kind; a request asked for while one is in flight runs once after it.
function refresh(region) {
  if (inFlight.has(region)) { again.add(region); return; }
  const request = build(region);
  if (!request) return;
  inFlight.add(region);
  const done = () => {
    inFlight.delete(region);
    if (request.after) request.after();
    if (again.delete(region)) refresh(region);
  };
  // Each region is its own request source: htmx queues requests per source element and keeps
  // only the last queued one, so sharing one source would silently drop regions.
  window.htmx
    .ajax("GET", request.url, {
      source: request.target,
      target: request.target,
      swap: request.swap || "innerHTML",
      select: request.select,
      headers: PASSIVE,
    })
    .then(done, done);
}

function build(region) {
  const id = currentConversationId();
  const query = listQuery();
  if (region === "counts") {
    const views = document.querySelector("#views-pane .views-root");
    if (!views) return null;
    // The list being shown decides which view is marked current (it may have changed since
    // the menu was rendered).
    const fallback = `view=${views.dataset.view || "all"}${views.dataset.team ? `&team=${views.dataset.team}` : ""}`;
    return { url: `/inbox/counts?${query || fallback}`, target: "#views-pane" };
  }
  if (region === "list") {
    if (!query || !document.getElementById("conversation-list")) return null;
    const rows = document.querySelectorAll("#conversation-list > .row").length;
    const limit = Math.min(Math.max(rows, 50), 500);
    return { url: `/inbox/list?${query}&limit=${limit}`, target: "#conversation-list", swap: "outerHTML", select: "#conversation-list" };
  }
  // On every page, whether or not a conversation is open.
  if (region === "alerts") {
    if (!document.getElementById("urgent-alerts")) return null;
    return { url: "/urgent/alerts", target: "#urgent-alerts", after: alertsChanged };
  }
  if (region === "badge") return { url: "/notifications/badge", target: "#mention-badge" };
  if (!id) return null;
  if (region === "thread") {
    const scroller = document.getElementById("thread-scroll");
    if (!scroller) return null;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const first = document.querySelector("#thread-items [data-message-id]");
    const from = first ? `?from=${first.dataset.messageId}` : "";
    const keep = scroller.scrollTop;
    return {
      url: `/c/${id}/thread${from}`,
      target: "#thread-items",
      after: () => {
        if (atBottom) scrollThread(true); else scroller.scrollTop = keep;
        markRead(id);
      },
    };
  }
  if (region === "header") {
    const header = document.getElementById("thread-header");
    if (!header) return null;
    // Do not pull a menu out from under someone using it; try again shortly.
    const active = document.activeElement;
    const choosing = header.contains(active) && ["SELECT", "INPUT"].includes(active.tagName);
    if (choosing || header.querySelector("details[open]")) {
      setTimeout(() => schedule(["header"]), 3000);
      return null;
    }
    const focusId = header.contains(active) ? active.id : "";
    const conversation = document.getElementById("conversation");
    const viewQuery = encodeURIComponent(conversation?.dataset.viewQuery || "view=all");
    return {
      url: `/c/${id}/header?view_query=${viewQuery}`,
      target: "#thread-header",
      // Keep keyboard focus where it was (the button just pressed, say).
      after: () => { if (focusId) document.getElementById(focusId)?.focus(); },
    };
  }
  if (region === "channels") {
    const select = document.getElementById("reply-channel");
    if (!select || document.activeElement === select) return null;
    return { url: `/c/${id}/channels?selected=${select.value}`, target: "#channel-picker" };
  }
  return null;
}

// Presence: who else is looking at (or typing in) the open conversation.
function announce(type) {
  const id = presenceFor || currentConversationId();
  if (socket && socket.readyState === WebSocket.OPEN && id) {
    socket.send(JSON.stringify({ type, conversation_id: id }));
  }
}

function leave() {
  if (presenceFor) announce("presence.left");
  presenceFor = 0;
}

function onPresence(event) {
  if (event.conversation_id !== currentConversationId() || event.staff_id === staffId) return;
  if (event.type === "presence.left") {
    viewers.delete(event.staff_id);
  } else {
    const known = viewers.get(event.staff_id);
    const v = known || { name: String(event.staff_name || "A colleague") };
    v.at = Date.now();
    if (event.type === "presence.typing") {
      v.typingAt = Date.now();
      setTimeout(renderPresence, 6500); // "typing…" falls back to "viewing" when they stop
    }
    viewers.set(event.staff_id, v);
    // Answer a newcomer once, so they see us without waiting for our next heartbeat.
    if (!known && event.type === "presence.viewing") announce("presence.viewing");
  }
  renderPresence();
}

function renderPresence() {
  const el = document.getElementById("presence");
  if (!el) return;
  const now = Date.now();
  const parts = [];
  for (const [id, v] of viewers) {
    if (now - v.at > 30000) { viewers.delete(id); continue; }
    const typing = v.typingAt && now - v.typingAt < 6000;
    parts.push(`${v.name} is ${typing ? "typing…" : "viewing"}`);
  }
  el.textContent = parts.join(" · "); // names as text, never markup
}
