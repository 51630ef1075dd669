// Keyboard shortcuts: j/k move, Enter opens, r reply, n note, a assign, e resolve, x tick,
// / search, ? the list of shortcuts. Never while the person is typing in a field.
import { isTypingTarget } from "./util.js";
import { selectTab, toggleRowCheck } from "./inbox.js";

export function initKeys() {
  document.addEventListener("keydown", onKey);
  document.addEventListener("click", (e) => {
    if (e.target.closest("[data-shortcuts]")) openShortcuts();
  });
}

function openShortcuts() {
  const dialog = document.getElementById("shortcuts-dialog");
  if (dialog && !dialog.open) dialog.showModal();
}

function rows() {
  return [...document.querySelectorAll("#list-pane [data-nav], .search-results [data-nav]")];
}

function move(step) {
  const all = rows();
  if (!all.length) return;
  let index = all.findIndex((r) => r.classList.contains("selected"));
  if (index === -1) index = all.findIndex((r) => r.classList.contains("current"));
  const next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
  for (const r of all) r.classList.remove("selected");
  const row = all[next];
  row.classList.add("selected");
  row.scrollIntoView({ block: "nearest" });
  const link = row.querySelector(".row-link");
  if (link) link.focus({ preventScroll: true });
}

function selectedRow() {
  return document.querySelector("#list-pane [data-nav].selected, .search-results [data-nav].selected");
}

function onKey(e) {
  if (e.defaultPrevented) return;
  const target = e.target;
  // Ctrl/Cmd+Enter sends what is being written.
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && target.closest && target.closest("#reply-form, #note-form")) {
    e.preventDefault();
    target.closest("form").requestSubmit();
    return;
  }
  if (e.key === "Escape" && isTypingTarget(target)) {
    target.blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (isTypingTarget(target)) return;
  if (document.querySelector("dialog[open]")) return;
  switch (e.key) {
    case "j":
      move(1);
      break;
    case "k":
      move(-1);
      break;
    case "Enter": {
      const row = selectedRow();
      // A focused link or button handles Enter itself.
      if (!row || (target.closest && target.closest("a, button") && !row.contains(target))) return;
      row.querySelector(".row-link")?.click();
      break;
    }
    case "x":
      toggleRowCheck(selectedRow());
      break;
    case "r":
      if (!document.getElementById("reply-form")) return;
      selectTab("reply", true);
      break;
    case "n":
      if (!document.getElementById("note-form")) return;
      selectTab("note", true);
      break;
    case "a": {
      const select = document.getElementById("assign-select");
      if (!select) return;
      select.focus();
      try { select.showPicker?.(); } catch (_) { /* not allowed everywhere; focus is enough */ }
      break;
    }
    case "e": {
      const button = document.getElementById("resolve-button");
      if (!button) return;
      button.click();
      break;
    }
    case "/": {
      const search = document.getElementById("search-input");
      if (!search) return;
      search.focus();
      search.select();
      break;
    }
    case "?":
      openShortcuts();
      break;
    default:
      return;
  }
  e.preventDefault();
}
