// The composer's helpers: "/shortcut" inserts a canned response (rendered by the server for this
// conversation, in the patient's language, so staff see the final text before sending), and
// "@name" in a note picks a colleague to notify. Popups are built with DOM calls and
// textContent only. While a reply is typed, the PHI guard's verdict for the chosen channel is
// shown above Send (see guardCheck below).
import { currentConversationId } from "./util.js";

let mentionCache = null;
let active = null; // { area, popup, items, index, start, kind }
let suggestTimer = null;

export function initComposer() {
  document.addEventListener("input", onInput);
  document.addEventListener("keydown", onKeyDown, true);
  document.addEventListener("click", (e) => {
    if (active && !e.target.closest(".popup") && e.target !== active.area) close();
  });
  document.addEventListener("converge:opened", close);
  document.addEventListener("converge:opened", guardClear);
  document.addEventListener("input", guardSchedule);
  document.addEventListener("change", (e) => {
    if (e.target && e.target.id === "reply-channel") guardSchedule({ target: document.getElementById("reply-body") });
  });
  document.body.addEventListener("htmx:afterRequest", (e) => {
    const elt = e.detail && e.detail.elt;
    if (e.detail.successful && elt && elt.id === "reply-form") guardClear();
  });
}

function tokenBefore(area, sigil) {
  const upto = area.value.slice(0, area.selectionStart);
  const pattern = sigil === "/" ? /(^|\s)\/([a-z0-9_-]{0,30})$/ : /(^|\s)@([\w.\-]{0,40})$/u;
  const match = upto.match(pattern);
  if (!match) return null;
  return { query: match[2], start: upto.length - match[2].length - 1 };
}

function onInput(e) {
  const area = e.target;
  if (area.matches && area.matches("textarea[data-canned]")) {
    const token = tokenBefore(area, "/");
    if (!token) { close(); return; }
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(() => suggestCanned(area, token), 120);
  } else if (area.matches && area.matches("textarea[data-mentions]")) {
    const token = tokenBefore(area, "@");
    if (!token) { close(); return; }
    suggestMentions(area, token);
  }
}

async function suggestCanned(area, token) {
  const response = await fetch(`/replies/suggest?q=${encodeURIComponent(token.query)}`, {
    headers: { "X-Converge-Passive": "1" },
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const data = await response.json();
  const items = data.items.map((item) => ({
    value: item.shortcut,
    label: item.title,
    prefix: `/${item.shortcut}`,
    extra: item.languages.join(" · ").toUpperCase(),
  }));
  show(area, document.getElementById("canned-popup"), items, token.start, "canned", "No canned response starts with that. Manage them under Canned responses.");
}

async function suggestMentions(area, token) {
  if (!mentionCache) {
    const response = await fetch("/mentions/handles", { headers: { "X-Converge-Passive": "1" }, credentials: "same-origin" });
    if (!response.ok) return;
    mentionCache = (await response.json()).items;
  }
  const q = token.query.toLowerCase().trim();
  const items = mentionCache
    .filter((c) => !q || c.handle.includes(q) || c.name.toLowerCase().includes(q))
    .slice(0, 8)
    .map((c) => ({ value: c.handle, label: c.name, prefix: `@${c.handle}`, extra: "" }));
  show(area, document.getElementById("mention-popup"), items, token.start, "mention", "No colleague by that name.");
}

function show(area, popup, items, start, kind, emptyText) {
  if (!popup) return;
  const nodes = items.map((item, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "popup-item";
    button.setAttribute("role", "option");
    button.id = `${popup.id}-${i}`;
    const strong = document.createElement("span");
    strong.className = "shortcut";
    strong.textContent = item.prefix;
    const label = document.createElement("span");
    label.textContent = item.label;
    button.append(strong, label);
    if (item.extra) {
      const extra = document.createElement("span");
      extra.className = "langs";
      extra.textContent = item.extra;
      button.append(extra);
    }
    button.addEventListener("mousedown", (e) => { e.preventDefault(); choose(i); });
    return button;
  });
  if (!nodes.length) {
    const empty = document.createElement("div");
    empty.className = "popup-empty";
    empty.textContent = emptyText;
    nodes.push(empty);
  }
  popup.replaceChildren(...nodes);
  popup.hidden = false;
  area.setAttribute("aria-controls", popup.id);
  area.setAttribute("aria-expanded", "true");
  active = { area, popup, items, index: 0, start, kind };
  highlight();
}

function highlight() {
  if (!active) return;
  const buttons = active.popup.querySelectorAll(".popup-item");
  buttons.forEach((b, i) => b.setAttribute("aria-selected", String(i === active.index)));
  const current = buttons[active.index];
  if (current) {
    active.area.setAttribute("aria-activedescendant", current.id);
    current.scrollIntoView({ block: "nearest" });
  }
}

function close() {
  if (!active) return;
  active.popup.hidden = true;
  active.popup.replaceChildren();
  active.area.setAttribute("aria-expanded", "false");
  active.area.removeAttribute("aria-activedescendant");
  active = null;
}

function onKeyDown(e) {
  if (!active || e.target !== active.area) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    if (!active.items.length) return;
    const step = e.key === "ArrowDown" ? 1 : -1;
    active.index = (active.index + step + active.items.length) % active.items.length;
    highlight();
  } else if ((e.key === "Enter" || e.key === "Tab") && !e.ctrlKey && !e.metaKey && active.items.length) {
    choose(active.index);
  } else if (e.key === "Escape") {
    close();
  } else {
    return;
  }
  e.preventDefault();
  e.stopPropagation();
}

function replaceToken(area, start, text) {
  const end = area.selectionStart;
  area.setRangeText(text, start, end, "end");
  area.dispatchEvent(new Event("input", { bubbles: true }));
  area.focus();
}

async function choose(index) {
  if (!active) return;
  const { area, items, start, kind } = active;
  const item = items[index];
  close();
  if (!item) return;
  if (kind === "mention") {
    replaceToken(area, start, `@${item.value} `);
    return;
  }
  const id = currentConversationId();
  const response = await fetch(`/c/${id}/replies/render?shortcut=${encodeURIComponent(item.value)}`, {
    headers: { "X-Converge-Passive": "1" },
    credentials: "same-origin",
  });
  const hint = document.getElementById("reply-hint");
  if (!response.ok) {
    if (hint) { hint.textContent = "That canned response could not be loaded."; hint.hidden = false; }
    return;
  }
  const data = await response.json();
  replaceToken(area, start, data.text);
  if (hint) {
    if (data.missing.length) {
      hint.textContent = `Fill in before sending: ${data.missing.join(", ")} (no value for this patient).`;
      hint.hidden = false;
    } else {
      hint.hidden = true;
    }
  }
}

// --- The PHI guard preview ---------------------------------------------------------------------
// A debounced POST of the draft (never in a URL) returns the server's notice as an HTML fragment
// rendered by Django's escaping templates: "this will go through the secure portal because it
// mentions …", or for the warn / block policies the reason field the policy allows. The notice
// is advisory; the send is checked again on the server. A notice that says the same thing is
// left in place, so a reason being typed is not wiped by the next keystroke.
const GUARD_DELAY_MS = 600;
let guardTimer = null;
let guardSeq = 0;

function guardSchedule(e) {
  const area = e.target;
  if (!area || area.id !== "reply-body") return;
  clearTimeout(guardTimer);
  if (!area.value.trim()) { guardClear(); return; }
  guardTimer = setTimeout(() => guardCheck(area), GUARD_DELAY_MS);
}

function guardClear() {
  clearTimeout(guardTimer);
  guardSeq += 1; // answers still on their way are stale
  const slot = document.getElementById("guard-preview");
  if (slot) slot.replaceChildren();
}

async function guardCheck(area) {
  const slot = document.getElementById("guard-preview");
  const form = area.closest("form");
  const select = document.getElementById("reply-channel");
  if (!slot || !form || !select || !slot.dataset.guardPreview) return;
  const token = form.querySelector("input[name=csrfmiddlewaretoken]");
  const data = new FormData();
  data.append("body", area.value);
  data.append("channel", select.value);
  const seq = ++guardSeq;
  let response;
  try {
    response = await fetch(slot.dataset.guardPreview, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": token ? token.value : "", "X-Converge-Passive": "1" },
    });
  } catch (_) {
    return; // offline: the send is still checked
  }
  if (seq !== guardSeq || !response.ok) return;
  const html = await response.text();
  if (seq !== guardSeq) return;
  // The fragment is the server's own escaped template output; htmx swaps it into a hidden
  // staging element (scripts never parse HTML themselves), so the current notice, with a reason
  // being typed, is replaced only when the notice says something new.
  const staging = document.createElement("div");
  staging.hidden = true;
  document.body.append(staging);
  htmx.swap(staging, html, { swapStyle: "innerHTML" });
  const next = staging.querySelector(".guard-notice");
  staging.remove();
  const current = slot.querySelector(".guard-notice");
  if (!next) { slot.replaceChildren(); return; }
  if (current && current.dataset.signature === next.dataset.signature) return;
  const reason = current && current.querySelector("input[name=phi_override_reason]");
  const nextReason = next.querySelector("input[name=phi_override_reason]");
  if (reason && nextReason) nextReason.value = reason.value;
  const portal = current && current.querySelector("input[name=via_portal]");
  const nextPortal = next.querySelector("input[name=via_portal]");
  if (portal && nextPortal) nextPortal.checked = portal.checked;
  slot.replaceChildren(next);
}
