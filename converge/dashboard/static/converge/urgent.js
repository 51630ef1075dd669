// Urgent alerts. The banner (#urgent-alerts) is rendered by the server on every staff page from
// the database and re-read from /urgent/alerts on live events (live.js), so it stays until
// someone acknowledges it and a page load shows what is still waiting. When a colleague
// acknowledges, every page says who and when (#urgent-acks) for a while.
//
// The alert tone: Chromium plays no sound before the person has interacted with the page, so the
// header's "Sound" button asks once; the choice is kept in localStorage (a preference, no
// patient data), and any click or key press on a page lets the tone play from then on.

const KEY = "converge.sound";
const ACK_SHOWN_MS = 12000;
let audio = null;
let blocked = false;

export function initUrgent() {
  const button = document.getElementById("sound-toggle");
  if (button) {
    button.addEventListener("click", () => {
      const on = soundChoice() !== "on";
      remember(on ? "on" : "off");
      blocked = false;
      if (on) beep(); // this click is the gesture the autoplay policy waits for; the tone confirms
      renderSound();
    });
  }
  // Any interaction lets the audio start (after a reload the browser asks for one again).
  const wake = () => {
    if (soundChoice() === "on") unlock();
  };
  document.addEventListener("pointerdown", wake, { capture: true });
  document.addEventListener("keydown", wake, { capture: true });
  renderSound();
  alertsChanged();
}

function soundChoice() {
  try {
    return window.localStorage.getItem(KEY);
  } catch (_) {
    return null;
  }
}

function remember(value) {
  try {
    window.localStorage.setItem(KEY, value);
  } catch (_) {
    /* storage refused (private mode): the choice lasts for this page */
  }
  document.body.dataset.sound = value;
}

function renderSound() {
  const button = document.getElementById("sound-toggle");
  if (!button) return;
  const choice = document.body.dataset.sound || soundChoice();
  const on = choice === "on";
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.classList.toggle("ask", choice !== "on" && choice !== "off");
  button.classList.toggle("blocked", on && blocked);
  const label = button.querySelector(".sound-label");
  if (choice !== "on" && choice !== "off") {
    label.textContent = "Sound off";
    button.title = "Play a tone when an urgent message arrives? Click to turn the sound on.";
  } else if (on && blocked) {
    label.textContent = "Sound on — click to allow";
    button.title = "The browser held back the tone until you click on the page.";
  } else {
    label.textContent = on ? "Sound on" : "Sound off";
    button.title = on ? "A tone plays when an urgent message arrives. Click to turn it off." : "Click to play a tone when an urgent message arrives.";
  }
}

function unlock() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
    if (blocked) {
      blocked = false;
      renderSound();
    }
  } catch (_) {
    audio = null;
  }
}

function beep() {
  unlock();
  if (!audio) return;
  [0, 0.35].forEach((offset) => {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime + offset);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + offset + 0.3);
    tone.connect(gain).connect(audio.destination);
    tone.start(audio.currentTime + offset);
    tone.stop(audio.currentTime + offset + 0.3);
  });
}

// A new urgent message: the tone when the person asked for it. Before they have chosen, the
// Sound button draws attention to itself (the banner is the alert either way).
export function urgentArrived() {
  const choice = soundChoice() || document.body.dataset.sound;
  if (choice !== "on") {
    if (choice !== "off") document.getElementById("sound-toggle")?.classList.add("nudge");
    return;
  }
  if (!audio || audio.state !== "running") {
    unlock();
    if (!audio || audio.state !== "running") {
      blocked = true;
      renderSound();
      return;
    }
  }
  beep();
}

// A colleague (or this person) acknowledged: the alert leaves, and the page says who and when.
export function urgentAcknowledged(event) {
  const alerts = document.querySelectorAll(`#urgent-alerts [data-urgent-conversation="${Number(event.conversation_id)}"]`);
  const what = alerts[0]?.querySelector("strong")?.textContent || "An urgent alert";
  alerts.forEach((el) => el.remove());
  const box = document.getElementById("urgent-acks");
  if (box) {
    const note = document.createElement("p");
    note.className = "urgent-ack-note";
    note.dataset.urgentAcknowledged = String(Number(event.conversation_id));
    // What this reader was allowed to see of the alert, then who and when: as text, never markup.
    note.textContent = `Acknowledged by ${event.staff_name || "a colleague"} at ${event.time_label || ""} · ${what}`;
    box.append(note);
    setTimeout(() => note.remove(), ACK_SHOWN_MS);
  }
  alertsChanged();
}

// After the banner changed: the tab title says "(!)" while anything waits.
export function alertsChanged() {
  const waiting = document.querySelector("#urgent-alerts [data-urgent-conversation]") !== null;
  const title = document.title.replace(/^\(!\) /, "");
  document.title = waiting ? `(!) ${title}` : title;
  document.body.classList.toggle("has-urgent", waiting);
}
