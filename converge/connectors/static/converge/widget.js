/* Converge website chat. Add one tag to any page:
 *   <script src="https://inbox.example.org/widget.js" data-channel="CHANNEL_KEY" async></script>
 * Options: data-color="#0f766e" (accent), data-position="left" (default right),
 * data-label="Chat with us" (the bubble's name for screen readers).
 * Renders in a shadow root, so the page's styles and the widget's never mix. No dependencies. */
(() => {
  "use strict";
  const script = document.currentScript || document.querySelector("script[data-channel][src*='widget.js']");
  const key = script && script.dataset.channel;
  if (!key || window["convergeChat:" + key]) return;
  window["convergeChat:" + key] = true;

  const origin = new URL(script.src, location.href).origin;
  const api = `${origin}/webchat/${encodeURIComponent(key)}/`;
  const storeKey = "converge-chat:" + key;
  const color = /^#[0-9a-f]{3,8}$/i.test(script.dataset.color || "") ? script.dataset.color : "#0f766e";
  const side = script.dataset.position === "left" ? "left" : "right";
  const label = (script.dataset.label || "Chat with us").slice(0, 60);

  const css = `
:host{all:initial}
.wrap{all:initial;position:fixed;bottom:20px;${side}:20px;z-index:2147483000;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2937;letter-spacing:normal;text-align:left}
*{box-sizing:border-box;font:inherit;color:inherit;letter-spacing:inherit;margin:0}
button,input,textarea{font:inherit;color:inherit}
:focus-visible{outline:3px solid ${color};outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.bubble{display:flex;align-items:center;justify-content:center;width:60px;height:60px;border:0;border-radius:50%;background:${color};color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);position:relative;padding:0;margin-${side}:auto}
.bubble svg{width:28px;height:28px;fill:currentColor}
.bubble .down,.wrap.open .bubble .talk{display:none}
.wrap.open .bubble .down{display:block}
button{-webkit-tap-highlight-color:transparent}
.badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#b91c1c;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center}
.badge[hidden],[hidden]{display:none!important}
.panel{position:absolute;bottom:76px;${side}:0;width:370px;max-width:calc(100vw - 40px);height:600px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.28);overflow:hidden}
.head{display:flex;align-items:flex-start;gap:8px;padding:14px 14px 12px 18px;background:${color};color:#fff}
.head div{flex:1;min-width:0}
.head h2{font-size:17px;font-weight:700;line-height:1.3}
.status{font-size:13px;opacity:.95;margin-top:2px}
.status:before{content:"";display:inline-block;width:8px;height:8px;border-radius:50%;background:#fbbf24;margin-right:6px;vertical-align:1px}
.status.on:before{background:#4ade80}
.close{flex:none;width:44px;height:44px;margin:-8px -6px 0 0;border:0;border-radius:8px;background:transparent;color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center}
.close svg{width:22px;height:22px;stroke:currentColor;stroke-width:2.4;fill:none}
.close:hover{background:rgba(255,255,255,.15)}
.sos{padding:8px 18px;background:#fef2f2;color:#7f1d1d;font-size:13px;border-bottom:1px solid #fecaca}
.sos b{font-weight:700}
.main{flex:1;min-height:0;display:flex;flex-direction:column}
form.pre{flex:1;overflow:auto;padding:14px 18px;display:flex;flex-direction:column;gap:10px}
.pre p{font-size:14px;color:#374151}
.field{display:flex;flex-direction:column;gap:4px;font-size:14px;font-weight:600}
.field input{font-weight:400;font-size:16px;padding:8px 11px;border:1px solid #9ca3af;border-radius:8px;background:#fff;width:100%}
.field input[aria-invalid=true]{border-color:#b91c1c}
.hint{font-size:13px!important;color:#4b5563!important;margin-top:-6px}
.consent{display:flex;gap:10px;align-items:flex-start;font-size:14px;cursor:pointer}
.consent input{width:20px;height:20px;flex:none;margin-top:1px;accent-color:${color}}
.primary{border:0;border-radius:8px;padding:11px 16px;background:${color};color:#fff;font-weight:700;cursor:pointer;min-height:44px}
.primary:disabled{opacity:.6;cursor:default}
.err{color:#b91c1c;font-size:14px}
.err:empty{display:none}
.chat{flex:1;min-height:0;display:flex;flex-direction:column}
.log{flex:1;overflow-y:auto;list-style:none;padding:14px;display:flex;flex-direction:column;gap:8px;background:#f9fafb}
.log li{max-width:82%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere}
.log .visitor{align-self:flex-end;background:${color};color:#fff;border-bottom-right-radius:4px}
.log .practice{align-self:flex-start;background:#fff;border:1px solid #e5e7eb;border-bottom-left-radius:4px}
.log .note{align-self:center;max-width:100%;background:none;color:#4b5563;font-size:13px;text-align:center}
.log a{color:#0b4f8a;text-decoration:underline;font-weight:600;overflow-wrap:anywhere}
.log a:focus-visible{outline:2px solid #0b4f8a;outline-offset:2px;border-radius:2px}
.meta{display:block;font-size:11px;opacity:.8;margin-top:2px}
.compose{display:flex;gap:8px;align-items:flex-end;padding:10px;border-top:1px solid #e5e7eb;background:#fff}
.compose textarea{flex:1;resize:none;min-height:44px;max-height:120px;padding:10px 12px;border:1px solid #9ca3af;border-radius:10px;font-size:16px;line-height:1.35;background:#fff}
.send{flex:none;width:44px;height:44px;border:0;border-radius:50%;background:${color};color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center}
.send svg{width:20px;height:20px;fill:currentColor}
.chat .err{padding:0 12px 8px;background:#fff}
@media (max-width:520px){
.wrap{bottom:14px;${side}:14px}
.wrap.open{inset:0}
.wrap.open .bubble{display:none}
.panel{position:fixed;inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}
}
@media (prefers-reduced-motion:no-preference){.panel{animation:pop .16s ease-out}@keyframes pop{from{opacity:0;transform:translateY(8px)}}}`;

  const icons = {
    chat: '<svg class="talk" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>',
    down: '<svg class="down" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M5 8.5 12 15.5 19 8.5" fill="none" stroke="currentColor" stroke-width="2.6"/></svg>',
    close: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M6 6l12 12M18 6L6 18"/></svg>',
    send: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M3 20.5 21 12 3 3.5 3 10l12 2-12 2z"/></svg>',
  };

  const host = document.createElement("converge-chat");
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `<style>${css}</style>
<div class="wrap" hidden>
 <section class="panel" role="dialog" aria-modal="false" aria-labelledby="title" hidden>
  <div class="head"><div><h2 id="title">Chat</h2><p class="status" id="status" role="status"></p></div>
   <button type="button" class="close" aria-label="Close chat">${icons.close}</button></div>
  <p class="sos" id="sos"><b>Not for emergencies.</b> If you have a medical emergency, call 911.</p>
  <div class="main">
   <form class="pre" novalidate hidden>
    <p>Tell us who you are, and we will answer you here.</p>
    <label class="field">Your name<input name="name" autocomplete="name" maxlength="100" required></label>
    <label class="field">Mobile phone<input name="phone" type="tel" autocomplete="tel" maxlength="40" aria-describedby="hint"></label>
    <label class="field">Email<input name="email" type="email" autocomplete="email" maxlength="254" aria-describedby="hint"></label>
    <p class="hint" id="hint">Give a phone number or an email (or both).</p>
    <label class="consent"><input type="checkbox" name="consent"><span id="consent"></span></label>
    <p class="err" role="alert"></p>
    <button type="submit" class="primary">Start chat</button>
   </form>
   <div class="chat" hidden>
    <ol class="log" role="log" aria-live="polite" aria-label="Conversation" tabindex="0"></ol>
    <p class="err" role="alert"></p>
    <form class="compose">
     <label class="sr" for="text">Your message</label>
     <textarea id="text" rows="1" maxlength="2000" placeholder="Write a message…" enterkeyhint="send"></textarea>
     <button type="submit" class="send" aria-label="Send message">${icons.send}</button>
    </form>
   </div>
  </div>
 </section>
 <button type="button" class="bubble" aria-expanded="false">${icons.chat}${icons.down}<span class="badge" hidden></span></button>
</div>`;

  const $ = (selector) => root.querySelector(selector);
  const wrap = $(".wrap");
  const panel = $(".panel");
  const bubble = $(".bubble");
  const badge = $(".badge");
  const statusLine = $("#status");
  const preForm = $("form.pre");
  const preError = preForm.querySelector(".err");
  const chat = $(".chat");
  const log = $(".log");
  const chatError = chat.querySelector(".err");
  const textarea = $("#text");
  panel.id = "panel";
  bubble.setAttribute("aria-controls", "panel");

  let config = null;
  let token = storage("get");
  let socket = null;
  let retries = 0;
  let retryTimer = 0;
  let pingTimer = 0;
  let unread = 0;
  let notice = "";
  const messages = new Map(); // "s<id>" for stored messages, "c<client id>" for ones not yet acknowledged
  const pending = new Map(); // client id -> text
  const nodes = new Map(); // message key -> its <li>

  function storage(action, value) {
    try {
      if (action === "get") return localStorage.getItem(storeKey) || "";
      if (action === "set") localStorage.setItem(storeKey, value);
      else localStorage.removeItem(storeKey);
    } catch (_) {
      /* storage blocked: the chat still works for this page view */
    }
    return "";
  }

  async function post(path, body) {
    const response = await fetch(api + path, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      // text/plain keeps this a "simple" request: no CORS preflight round trip.
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(data.detail || "The chat is not available."), data);
    return data;
  }

  function setStatus(text, online) {
    statusLine.textContent = text;
    statusLine.classList.toggle("on", !!online);
  }

  function showAvailability(availability) {
    if (!availability) return;
    notice = availability.notice;
    setStatus(notice, availability.available);
  }

  function updateBubble() {
    const isOpen = !panel.hidden;
    bubble.setAttribute("aria-expanded", String(isOpen));
    const name = config ? `${label} — ${config.practice}` : label;
    bubble.setAttribute("aria-label", unread && !isOpen ? `${name} (${unread} new)` : name);
    badge.hidden = !unread || isOpen;
    badge.textContent = unread ? String(unread) : "";
  }

  function setOpen(open, returnFocus) {
    panel.hidden = !open;
    wrap.classList.toggle("open", open);
    if (open) {
      unread = 0;
      if (!token) showForm();
      else showChat();
      const target = token ? textarea : preForm.querySelector("input");
      setTimeout(() => target && target.focus(), 0);
    } else if (returnFocus) {
      bubble.focus();
    }
    updateBubble();
  }

  function showForm() {
    preForm.hidden = false;
    chat.hidden = true;
  }

  function showChat() {
    preForm.hidden = true;
    chat.hidden = false;
    scrollDown();
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function time(iso) {
    const date = iso ? new Date(iso) : new Date();
    return date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }

  function build(message) {
    const li = document.createElement("li");
    li.className = message.from === "visitor" ? "visitor" : "practice";
    const who = document.createElement("span");
    who.className = "sr";
    who.textContent = message.from === "visitor" ? "You: " : `${config ? config.practice : "Practice"}: `;
    const meta = document.createElement("span");
    meta.className = "meta";
    li.append(who, ...(message.from === "visitor" ? [document.createTextNode(message.text)] : linked(message.text)), meta);
    return li;
  }

  // The practice's own secure-portal links become real links; everything else stays text. Built
  // with DOM calls only (the text is never parsed as HTML), and only for a URL on the portal
  // prefix the server names in its config (PUBLIC_BASE_URL + "/portal/").
  function linked(text) {
    const prefix = config && typeof config.portal === "string" ? config.portal : "";
    if (!prefix) return [document.createTextNode(text)];
    let portal;
    try {
      portal = new URL(prefix);
    } catch (_) {
      return [document.createTextNode(text)];
    }
    const out = [];
    const pattern = /https?:\/\/[^\s<>"']+/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      let raw = match[0].replace(/[.,;:!?)\]]+$/, ""); // sentence punctuation is not part of it
      let url = null;
      try {
        url = new URL(raw);
      } catch (_) {
        url = null;
      }
      const ours =
        url && url.origin === portal.origin && url.pathname.startsWith(portal.pathname) && !url.username && !url.password;
      if (!ours) continue;
      if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
      const a = document.createElement("a");
      a.href = url.href;
      a.textContent = raw;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      out.push(a);
      last = match.index + raw.length;
    }
    if (last < text.length) out.push(document.createTextNode(text.slice(last)));
    return out.length ? out : [document.createTextNode(text)];
  }

  // Updates the log in place: the log is a live region, so only new messages are announced.
  function render() {
    let note = log.querySelector(".note");
    if (!messages.size && !note) {
      note = document.createElement("li");
      note.className = "note";
      log.append(note);
    }
    if (note) {
      if (messages.size) note.remove();
      else note.textContent = "Send us a message. " + notice;
    }
    let previous = null;
    for (const [id, message] of messages) {
      let li = nodes.get(id);
      if (!li) nodes.set(id, (li = build(message)));
      const meta = message.pending ? "Sending…" : time(message.at);
      if (li.lastChild.textContent !== meta) li.lastChild.textContent = meta;
      const expected = previous ? previous.nextSibling : log.firstChild;
      if (li !== expected) log.insertBefore(li, expected);
      previous = li;
    }
    for (const [id, li] of nodes) {
      if (!messages.has(id)) {
        li.remove();
        nodes.delete(id);
      }
    }
    scrollDown();
  }

  function addStored(message) {
    messages.set("s" + message.id, { ...message });
  }

  function connect() {
    clearTimeout(retryTimer);
    if (!token || socket) return;
    const url = `${origin.replace(/^http/, "ws")}/ws/webchat/${encodeURIComponent(key)}/?token=${encodeURIComponent(token)}`;
    const ws = new WebSocket(url);
    socket = ws;
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      handle(frame, ws);
    };
    ws.onclose = (event) => {
      if (socket === ws) socket = null;
      clearInterval(pingTimer);
      if (event.code === 4401) {
        forget("Your earlier chat has ended. Start a new one below.");
        return;
      }
      setStatus("Connection lost. Reconnecting…", false);
      const delay = Math.min(30000, 1000 * 2 ** retries++) * (0.5 + Math.random() / 2);
      retryTimer = setTimeout(connect, delay);
    };
  }

  function forget(reason) {
    token = "";
    storage("remove");
    messages.clear();
    pending.clear();
    render();
    showForm();
    preError.textContent = reason || "";
    showAvailability(config && config.availability);
  }

  function handle(frame, ws) {
    if (frame.type === "hello") {
      retries = 0;
      showAvailability(frame.availability);
      for (const [id, message] of messages) if (!message.pending) messages.delete(id);
      for (const message of frame.messages || []) addStored(message);
      // Moved after the stored ones, then sent again: the server ignores an id it already has.
      for (const [clientId, text] of pending) {
        const local = messages.get("c" + clientId);
        messages.delete("c" + clientId);
        if (local) messages.set("c" + clientId, local);
        ws.send(JSON.stringify({ type: "message", id: clientId, text }));
      }
      render();
      clearInterval(pingTimer);
      pingTimer = setInterval(() => ws.readyState === 1 && ws.send('{"type":"ping"}'), 25000);
    } else if (frame.type === "ack") {
      pending.delete(frame.id);
      messages.delete("c" + frame.id);
      const li = nodes.get("c" + frame.id);
      nodes.delete("c" + frame.id);
      if (li && !nodes.has("s" + frame.message.id)) nodes.set("s" + frame.message.id, li);
      addStored(frame.message);
      render();
    } else if (frame.type === "message") {
      if (!messages.has("s" + frame.message.id)) {
        addStored(frame.message);
        if (panel.hidden) unread += 1;
        updateBubble();
        render();
      }
    } else if (frame.type === "error" && frame.id) {
      const text = pending.get(frame.id);
      pending.delete(frame.id);
      messages.delete("c" + frame.id);
      if (text && !textarea.value) textarea.value = text;
      chatError.textContent = frame.detail || "The message was not sent.";
      render();
    }
  }

  function send(text) {
    const clientId = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    pending.set(clientId, text);
    messages.set("c" + clientId, { from: "visitor", text, pending: true });
    render();
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "message", id: clientId, text }));
    else connect();
  }

  preForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = preForm.elements;
    for (const input of preForm.querySelectorAll("input")) input.removeAttribute("aria-invalid");
    preError.textContent = "";
    const submit = preForm.querySelector("button");
    submit.disabled = true;
    try {
      const data = await post("session", {
        name: fields.name.value,
        phone: fields.phone.value,
        email: fields.email.value,
        consent: fields.consent.checked,
      });
      token = data.token;
      storage("set", token);
      preForm.reset();
      showChat();
      render();
      connect();
      textarea.focus();
    } catch (error) {
      preError.textContent = error.message;
      const field = error.field && fields[error.field];
      if (field) {
        field.setAttribute("aria-invalid", "true");
        field.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });

  $("form.compose").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    chatError.textContent = "";
    if (!text) return;
    if (text.length > 2000) {
      chatError.textContent = "Please keep messages under 2000 characters.";
      return;
    }
    textarea.value = "";
    grow();
    send(text);
  });

  function grow() {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, 120) + "px";
  }

  textarea.addEventListener("input", grow);
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("form.compose").requestSubmit();
    }
  });
  bubble.addEventListener("click", () => setOpen(panel.hidden, false));
  $(".close").addEventListener("click", () => setOpen(false, true));
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      setOpen(false, true);
    }
  });

  async function start() {
    try {
      config = await post("config");
    } catch (error) {
      // Not on this website's list, or the chat is switched off: show nothing.
      console.warn("Converge chat unavailable:", error.message);
      return;
    }
    $("#title").textContent = config.practice;
    $("#consent").textContent = config.consent;
    if (config.emergency) $("#sos").textContent = config.emergency;
    textarea.maxLength = config.max_length || 2000;
    showAvailability(config.availability);
    wrap.hidden = false;
    updateBubble();
    if (token) connect();
  }

  const mount = () => {
    document.body.append(host);
    start();
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
