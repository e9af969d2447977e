// The page: a router over the hash (#/view/part?params), the project picker, the key
// dialog, and the keyboard (`/` to search, arrows to move, Enter to open, ← → to step
// through a conversation, Esc to go back).

import { api, setKey, storedKey, whenUnauthorized } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { searchView } from "./views/search.js";
import { exchangeView } from "./views/exchange.js";
import { conversationView } from "./views/conversation.js";
import { roomsView, roomView } from "./views/rooms.js";
import { timelineView, dayView } from "./views/timeline.js";
import { refineView } from "./views/refine.js";
import { forgetView } from "./views/forget.js";
import { statsView } from "./views/stats.js";

const VIEWS = {
  search: searchView,
  x: exchangeView,
  c: conversationView,
  rooms: roomsView,
  room: roomView,
  timeline: timelineView,
  day: dayView,
  refine: refineView,
  forget: forgetView,
  stats: statsView,
};
const NAV_OF = { x: "search", c: "search", room: "rooms", day: "timeline" };

const main = document.getElementById("main");
const projectPicker = document.getElementById("project");

export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const [view, ...parts] = path.split("/").map((p) => decodeURIComponent(p));
  return { view: view || "search", parts, params: Object.fromEntries(new URLSearchParams(search)) };
}

// The project chosen in the header, which every view filters by (empty: all).
export function currentProject() {
  return projectPicker.value || undefined;
}

let generation = 0;

async function render() {
  const { view, parts, params } = parseHash();
  const show = VIEWS[view] || searchView;
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === (NAV_OF[view] || view));
  }
  const mine = ++generation;
  const stillCurrent = () => mine === generation;
  if (params.project !== undefined && params.project !== projectPicker.value) {
    ensureProjectOption(params.project);
    projectPicker.value = params.project;
  }
  const root = h("div.view");
  clear(main, root);
  try {
    await show(root, { parts, params, project: currentProject(), stillCurrent });
  } catch (error) {
    if (stillCurrent()) root.append(errorBox(error));
  }
}

function ensureProjectOption(project) {
  if (!project || [...projectPicker.options].some((o) => o.value === project)) return;
  projectPicker.append(h("option", { value: project }, project));
}

async function loadProjects() {
  const stats = await api.stats();
  const chosen = projectPicker.value;
  projectPicker.replaceChildren(h("option", { value: "" }, "all projects"));
  for (const project of Object.keys(stats.projects || {})) {
    projectPicker.append(h("option", { value: project }, project));
  }
  ensureProjectOption(chosen);
  projectPicker.value = chosen;
  return stats;
}

projectPicker.addEventListener("change", () => {
  const { view, parts, params } = parseHash();
  const next = { ...params, project: projectPicker.value };
  if (!next.project) delete next.project;
  const keepParts = ["search", "rooms", "timeline", "refine", "forget", "stats"].includes(view) ? [] : null;
  const target = keepParts ? view : "search";
  const query = new URLSearchParams(next).toString();
  location.hash = `#/${[target, ...(keepParts ? parts : [])].join("/")}${query ? "?" + query : ""}`;
});

// -- the key ------------------------------------------------------------------------------

const dialog = document.getElementById("key-dialog");
const keyInput = document.getElementById("key-input");
const keyError = document.getElementById("key-error");
const keyButton = document.getElementById("key-button");

function askForKey(error) {
  keyError.textContent = storedKey() ? error.message : "";
  keyButton.hidden = false;
  if (!dialog.open) {
    keyInput.value = "";
    dialog.showModal();
    keyInput.focus();
  }
}

whenUnauthorized(askForKey);
document.getElementById("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  setKey(keyInput.value.trim());
  try {
    await loadProjects();
  } catch (error) {
    keyError.textContent = error.message;
    return;
  }
  dialog.close();
  render();
});
document.getElementById("key-forget").addEventListener("click", () => {
  setKey("");
  keyInput.value = "";
  keyError.textContent = "The key is forgotten in this browser.";
});
keyButton.addEventListener("click", () => askForKey({ message: "" }));

// -- the keyboard -------------------------------------------------------------------------

function typing(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function items() {
  return [...main.querySelectorAll("[data-item]")];
}

function move(step) {
  const all = items();
  if (!all.length) return;
  const at = all.findIndex((el) => el === document.activeElement || el.contains(document.activeElement));
  const next = all[Math.max(0, Math.min(all.length - 1, at < 0 ? (step > 0 ? 0 : all.length - 1) : at + step))];
  next.focus();
  next.scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || dialog.open) return;
  const search = main.querySelector("#q");
  if (event.key === "/" && !typing(event.target)) {
    event.preventDefault();
    if (search) search.focus();
    else location.hash = "#/search";
    return;
  }
  if (event.key === "Escape") {
    if (typing(event.target)) event.target.blur();
    else if (parseHash().view !== "search") history.back();
    return;
  }
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    if (typing(event.target) && event.target !== search) return;
    event.preventDefault();
    move(event.key === "ArrowDown" ? 1 : -1);
    return;
  }
  if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && !typing(event.target)) {
    const link = main.querySelector(event.key === "ArrowLeft" ? "a[data-key=previous]" : "a[data-key=next]");
    if (link) {
      event.preventDefault();
      link.click();
    }
  }
});

// -- start --------------------------------------------------------------------------------

window.addEventListener("hashchange", render);
(async () => {
  try {
    await loadProjects();
  } catch (error) {
    if (error.status !== 401) main.append(errorBox(error));
    return; // the key dialog renders once a key works
  }
  await render();
})();
