// Entry point for the staff pages. Plain ES modules, no build step; htmx is loaded before this
// (a deferred classic script), so window.htmx exists when the modules run.
import { initInbox } from "./inbox.js";
import { initLive } from "./live.js";
import { initKeys } from "./keys.js";
import { initIdle } from "./idle.js";
import { initComposer } from "./composer.js";
import { initUrgent } from "./urgent.js";

const signedIn = Boolean(document.body.dataset.staffId);
if (signedIn) {
  initIdle();
  initInbox();
  initComposer();
  initKeys();
  initUrgent();
  initLive();
}

// Forms that take away someone's access ask first; data-confirm holds the question.
document.addEventListener("submit", (event) => {
  const form = event.target instanceof HTMLFormElement ? event.target : null;
  const question = form?.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
