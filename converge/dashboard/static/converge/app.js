// Entry point for the staff pages. Plain ES modules, no build step; htmx is loaded before this
// (a deferred classic script), so window.htmx exists when the modules run.
import { initInbox } from "./inbox.js";
import { initLive } from "./live.js";
import { initKeys } from "./keys.js";
import { initIdle } from "./idle.js";
import { initComposer } from "./composer.js";

const signedIn = Boolean(document.body.dataset.staffId);
if (signedIn) {
  initIdle();
  initInbox();
  initComposer();
  initKeys();
  initLive();
}
