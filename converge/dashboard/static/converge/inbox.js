// The inbox screen's behaviour around htmx: what happens after a pane is swapped, the composer
// tabs, bulk selection, form errors, the patient drawer, and relative ages.
import { currentConversationId, formatAge, goToLogin, markRead, toast } from "./util.js";

const checked = new Set();
let scrollAnchor = null;
// The #m<id> / #n<id> a link asked for while earlier pages are being loaded to find it.
let seeking = "";
let earlierObserver = null;

export function initInbox() {
  document.body.addEventListener("htmx:beforeRequest", beforeRequest);
  document.body.addEventListener("htmx:beforeSwap", beforeSwap);
  document.body.addEventListener("htmx:afterSwap", afterSwap);
  document.body.addEventListener("htmx:afterRequest", afterRequest);
  document.body.addEventListener("htmx:responseError", responseError);
  document.body.addEventListener("htmx:sendError", () => toast("Could not reach the server. Check the connection.", "error"));
  document.body.addEventListener("converge:changed", (e) => {
    const detail = e.detail || {};
    if (detail.note) toast(detail.note);
  });
  document.addEventListener("click", onClick);
  document.addEventListener("change", onChange);
  setInterval(updateAges, 30000);
  openedConversation(false);
}

// A "Load earlier" whose row has left the page (the thread was re-read, another conversation
// opened) has nowhere to go.
function beforeRequest(e) {
  const elt = e.detail.elt;
  const row = elt && elt.matches && elt.matches("[data-load-earlier]") ? elt.closest(".load-earlier") : null;
  if (row && !document.body.contains(row)) e.preventDefault();
}

function beforeSwap(e) {
  const target = e.detail.target;
  // "Load earlier" inserts above what the reader sees: remember where they were.
  if (target && target.classList && target.classList.contains("load-earlier")) {
    if (!document.body.contains(target)) {
      e.detail.shouldSwap = false; // the thread was re-read meanwhile: nowhere to put it
      return;
    }
    const scroller = document.getElementById("thread-scroll");
    // A keyboard user who pressed the button keeps focus on the next one.
    const focused = target.contains(document.activeElement);
    if (scroller) scrollAnchor = { scroller, fromBottom: scroller.scrollHeight - scroller.scrollTop, focused };
  }
}

function afterSwap(e) {
  const target = e.detail.target;
  if (!target) return;
  if (target.id === "conversation-pane") {
    openedConversation(true);
  } else if (target.id === "list-pane") {
    listChanged(true);
  } else if (target.id === "conversation-list") {
    listChanged(false);
  } else if (scrollAnchor && !document.body.contains(target)) {
    dedupeDays();
    const { scroller, fromBottom, focused } = scrollAnchor;
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    scrollAnchor = null;
    if (focused) (document.querySelector("#thread-items [data-load-earlier]") || scroller).focus({ preventScroll: true });
    if (seeking) seekLinked();
    watchEarlier();
  } else if (target.id === "thread-items") {
    watchEarlier(); // a live re-read of the thread brings a new "Load earlier" row
  }
  updateAges();
}

// A conversation was opened (or the page loaded with one open).
function openedConversation(swapped) {
  const inbox = document.getElementById("inbox");
  const id = currentConversationId();
  if (inbox) inbox.classList.toggle("has-conversation", Boolean(id));
  if (!id) return;
  const title = document.getElementById("thread-title");
  if (title) document.title = `${title.textContent} · Inbox · Converge`;
  for (const row of document.querySelectorAll("#conversation-list .row")) {
    const current = Number(row.dataset.conversationId) === id;
    row.classList.toggle("current", current);
    if (current) row.classList.remove("unread");
    const link = row.querySelector(".row-link");
    if (link) {
      if (current) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
  }
  const row = document.querySelector(`#conversation-list .row[data-conversation-id="${id}"]`);
  if (row) row.querySelector(".unread-dot")?.remove();
  scrollThread(true);
  const afterOpen = () => {
    seekLinked();
    // Not at once: the first paint is scrolled to the bottom, away from "Load earlier".
    setTimeout(watchEarlier, 300);
  };
  // At page load this runs before htmx has read its configuration and bound the page.
  if (swapped) afterOpen();
  else document.body.addEventListener("htmx:load", afterOpen, { once: true });
  markRead(id);
  document.dispatchEvent(new CustomEvent("converge:opened", { detail: { id, swapped } }));
}

export function scrollThread(toBottom) {
  const scroller = document.getElementById("thread-scroll");
  if (!scroller) return;
  const hash = window.location.hash;
  if (toBottom && hash && /^#[mn]\d+$/.test(hash)) {
    const target = document.getElementById(hash.slice(1));
    if (target) { target.scrollIntoView({ block: "center" }); target.classList.add("flash-target"); return; }
  }
  if (toBottom) scroller.scrollTop = scroller.scrollHeight;
}

// The thread opens with its newest page. Older pages load as the reader scrolls up: the "Load
// earlier messages" row clicks itself when it comes into view (it stays a button for the
// keyboard), and beforeSwap/afterSwap keep the reader's place when the page lands above it.
function watchEarlier() {
  const scroller = document.getElementById("thread-scroll");
  const button = document.querySelector("#thread-items [data-load-earlier]");
  if (!scroller || !button) return;
  if (!earlierObserver || earlierObserver.root !== scroller) {
    earlierObserver?.disconnect();
    earlierObserver = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        earlierObserver.unobserve(entry.target);
        loadEarlier(entry.target);
      }
    }, { root: scroller });
  }
  earlierObserver.observe(button);
}

// What a click on the button does, also before htmx has bound a button that was just swapped
// in (or at page load): the request is issued for the button, so htmx drops a second one while
// the first is in flight.
function loadEarlier(button) {
  const row = button.closest(".load-earlier");
  if (!row || !document.body.contains(row)) return;
  // The button's hx-sync="this:drop" makes htmx drop this one if a click is already loading.
  htmx.ajax("GET", button.getAttribute("hx-get"), { source: button, target: row, swap: "outerHTML" });
}

// A link to a message or note older than the first page (a search result, a mention in a
// note): load earlier pages until it is in the thread, then show it.
function seekLinked() {
  const hash = window.location.hash;
  seeking = "";
  if (!/^#[mn]\d+$/.test(hash)) return;
  if (document.getElementById(hash.slice(1))) {
    scrollThread(true);
    return;
  }
  const button = document.querySelector("#thread-items [data-load-earlier]");
  if (!button) return;
  seeking = hash;
  loadEarlier(button);
}

// The list was re-rendered: keep the bulk selection and the keyboard cursor, and the URL and
// the views menu in step with the list being shown.
function listChanged(newView) {
  const root = document.querySelector("#list-pane .list-root");
  if (newView) {
    checked.clear();
    const query = root ? root.dataset.viewQuery : "";
    if (query && !root.dataset.search) {
      const path = window.location.pathname;
      window.history.replaceState(window.history.state, "", `${path}?${query}`);
      for (const link of document.querySelectorAll("#views-pane .view-link")) {
        const linkQuery = (link.getAttribute("hx-get") || "").split("?")[1] || "";
        if (linkQuery === query) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
    }
  }
  for (const box of document.querySelectorAll("#conversation-list .row-check")) {
    box.checked = checked.has(box.value);
  }
  const id = currentConversationId();
  for (const row of document.querySelectorAll("#conversation-list .row")) {
    row.classList.toggle("current", Number(row.dataset.conversationId) === id);
  }
  document.dispatchEvent(new CustomEvent("converge:list-changed"));
  updateBulkBar();
}

function updateBulkBar() {
  const bar = document.getElementById("bulk-bar");
  if (!bar) return;
  // Forget ticks on rows that left the list (resolved by someone else, say).
  const present = new Set([...document.querySelectorAll("#conversation-list .row-check")].map((b) => b.value));
  for (const id of [...checked]) if (!present.has(id)) checked.delete(id);
  bar.hidden = checked.size === 0;
  const count = document.getElementById("bulk-count");
  if (count) count.textContent = `${checked.size} selected`;
  const all = document.getElementById("select-all");
  if (all) all.checked = checked.size > 0 && checked.size === present.size;
}

export function toggleRowCheck(row) {
  const box = row && row.querySelector(".row-check");
  if (!box) return;
  box.checked = !box.checked;
  box.dispatchEvent(new Event("change", { bubbles: true }));
}

function onChange(e) {
  const el = e.target;
  if (el.classList.contains("row-check")) {
    if (el.checked) checked.add(el.value); else checked.delete(el.value);
    updateBulkBar();
  } else if (el.id === "select-all") {
    for (const box of document.querySelectorAll("#conversation-list .row-check")) {
      box.checked = el.checked;
      if (el.checked) checked.add(box.value); else checked.delete(box.value);
    }
    updateBulkBar();
  } else if (el.closest("form[data-autosubmit]") && el.tagName === "SELECT") {
    el.closest("form").requestSubmit();
  }
}

function onClick(e) {
  const tab = e.target.closest("[data-tab]");
  if (tab) { selectTab(tab.dataset.tab, true); return; }
  const toggle = e.target.closest("[data-panel-toggle]");
  if (toggle) { togglePanel(); return; }
  const bell = e.target.closest("#bell");
  const panel = document.getElementById("notifications-panel");
  if (bell && panel) {
    const open = panel.hidden;
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (!open) e.preventDefault();
    return;
  }
  if (panel && !panel.hidden && !e.target.closest(".notifications")) {
    panel.hidden = true;
    document.getElementById("bell")?.setAttribute("aria-expanded", "false");
  }
  const snooze = document.querySelector("details.snooze[open]");
  if (snooze && !e.target.closest("details.snooze")) snooze.open = false;
}

export function selectTab(which, focus) {
  const reply = document.getElementById("reply-form");
  const note = document.getElementById("note-form");
  if (!reply || !note) return;
  reply.hidden = which !== "reply";
  note.hidden = which !== "note";
  for (const button of document.querySelectorAll("[data-tab]")) {
    const selected = button.dataset.tab === which;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
  }
  if (focus) document.getElementById(which === "reply" ? "reply-body" : "note-body")?.focus();
}

function togglePanel() {
  const conversation = document.getElementById("conversation");
  if (!conversation) return;
  const open = !conversation.classList.contains("panel-open");
  conversation.classList.toggle("panel-open", open);
  for (const t of document.querySelectorAll("[data-panel-toggle]")) t.setAttribute("aria-expanded", String(open));
  if (open) document.querySelector("#patient-panel .panel-close")?.focus();
}

function errorSlot(elt) {
  const form = elt.closest("form");
  return (form && form.querySelector(".form-error")) || elt.closest(".thread-actions")?.querySelector(":scope > .form-error");
}

function afterRequest(e) {
  const elt = e.detail.elt;
  if (!e.detail.successful || !elt || e.detail.requestConfig?.verb === "get") return;
  const slot = errorSlot(elt);
  if (slot) slot.textContent = "";
  const form = elt.closest("form");
  if (!form) return;
  if (form.id === "reply-form" || form.id === "note-form") {
    const area = form.querySelector("textarea");
    area.value = "";
    document.getElementById("reply-hint")?.setAttribute("hidden", "");
    area.focus();
  }
  if (form.id === "bulk-form") {
    checked.clear();
    for (const box of document.querySelectorAll("#conversation-list .row-check")) box.checked = false;
    updateBulkBar();
  }
  const details = form.closest("details");
  if (details) details.open = false;
}

function responseError(e) {
  const xhr = e.detail.xhr;
  if (xhr.status === 401) { goToLogin(); return; }
  const elt = e.detail.elt;
  let text = "Something went wrong; nothing was changed. Try again.";
  if (xhr.status === 400) text = xhr.responseText || text;
  else if (xhr.status === 403) text = "Your session changed; reload the page and try again.";
  else if (xhr.status === 404) text = "That is no longer available (it may have been merged or removed).";
  const slot = elt && errorSlot(elt);
  if (slot && e.detail.requestConfig?.verb !== "get") slot.textContent = text;
  else toast(text, "error");
}

// Earlier messages arrive with their own day separator; where two pages meet on the same day,
// keep the first.
function dedupeDays() {
  let previous = null;
  for (const day of document.querySelectorAll("#thread-items > .day")) {
    if (previous !== null && previous === day.textContent) day.remove();
    else previous = day.textContent;
  }
}

function updateAges() {
  for (const el of document.querySelectorAll("time.age[datetime]")) {
    if (el.closest(".results")) continue; // search results show dates, not ages
    el.textContent = formatAge(el.getAttribute("datetime"));
  }
}
