// Live updates for the staff pages. Events carry ids only; on any relevant event we re-read the
// page region from the server, so a missed event costs nothing.
const page = document.body.dataset.page;
const conversationId = Number(document.body.dataset.conversationId || 0);
const banner = () => document.getElementById("connection-banner");
let socket;
let retryDelay = 1000;
let refreshTimer;
const viewers = new Map();

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 150);
}

async function refresh() {
  const active = document.activeElement;
  if (active && (active.tagName === "TEXTAREA" || active.tagName === "INPUT") && active.value) {
    // Never wipe what someone is typing; re-read once they are done.
    scheduleLater();
    return;
  }
  const response = await fetch(location.href, { headers: { "X-Converge-Passive": "1" } });
  if (response.redirected && response.url.includes("/login/")) { location.href = response.url; return; }
  if (!response.ok) return;
  const html = await response.text();
  const doc = new DOMParser().parseFromString(html, "text/html");
  const fresh = doc.getElementById("main");
  if (fresh) document.getElementById("main").replaceChildren(...fresh.childNodes);
  renderPresence();
}

function scheduleLater() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 3000); }

function renderPresence() {
  const el = document.getElementById("presence");
  if (!el) return;
  const now = Date.now();
  const names = [];
  for (const [id, v] of viewers) {
    if (now - v.at > 30000) { viewers.delete(id); continue; }
    names.push(`${v.name} is ${v.typing && now - v.typingAt < 5000 ? "typing" : "viewing"}`);
  }
  el.textContent = names.join(" · ");
}

function onEvent(event) {
  if (event.type === "hello") { socket.staffId = event.staff_id; return; }
  if (event.type && event.type.startsWith("presence.")) {
    if (event.conversation_id !== conversationId || event.staff_id === socket.staffId) return;
    if (event.type === "presence.left") viewers.delete(event.staff_id);
    else {
      const v = viewers.get(event.staff_id) || { name: event.staff_name };
      v.at = Date.now();
      if (event.type === "presence.typing") { v.typing = true; v.typingAt = Date.now(); }
      viewers.set(event.staff_id, v);
      if (event.type === "presence.viewing" && !v.answered) { v.answered = true; announce(); }
    }
    renderPresence();
    return;
  }
  if (page === "inbox") scheduleRefresh();
  else if (page === "conversation" && event.conversation_id === conversationId) scheduleRefresh();
}

function announce() {
  if (socket && socket.readyState === WebSocket.OPEN && conversationId) {
    socket.send(JSON.stringify({ type: "presence.viewing", conversation_id: conversationId }));
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/staff/`);
  socket.addEventListener("open", () => {
    const wasDown = !banner()?.hidden;
    if (banner()) banner().hidden = true;
    retryDelay = 1000;
    announce();
    if (wasDown) scheduleRefresh();
  });
  socket.addEventListener("message", (e) => { try { onEvent(JSON.parse(e.data)); } catch (_) { /* ignore */ } });
  socket.addEventListener("close", (e) => {
    if (e.code === 4401 || e.code === 4408) { location.href = "/login/?idle=1"; return; }
    if (banner()) banner().hidden = false;
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  });
}

if (page) {
  connect();
  setInterval(() => { announce(); renderPresence(); }, 10000);
  let lastTyping = 0;
  document.addEventListener("input", (e) => {
    if (!conversationId || e.target.id !== "reply-body") return;
    const now = Date.now();
    if (now - lastTyping > 2000 && socket.readyState === WebSocket.OPEN) {
      lastTyping = now;
      socket.send(JSON.stringify({ type: "presence.typing", conversation_id: conversationId }));
    }
  });
  window.addEventListener("beforeunload", () => {
    if (conversationId && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "presence.left", conversation_id: conversationId }));
  });
}
