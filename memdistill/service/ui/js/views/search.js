// Search as you type, with the API's filters; the state lives in the address (#/search?q=),
// so a search can be bookmarked, and Back returns to it.

import { api } from "../api.js";
import { append, clear, count, errorBox, h, queryWords, route, when } from "../dom.js";
import { hitCard } from "../hits.js";

const DEBOUNCE_MS = 180;
let modes = null; // the API's modes and fusions, asked once
let filtersOpen = false; // kept open across searches once opened

// A date field (YYYY-MM-DD, the person's own day) -> the instant its day starts, in UTC.
export function dayStart(value, plusDays = 0) {
  if (!value) return undefined;
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

function select(id, label, values, chosen) {
  return h("label", {}, label,
    h("select", { id, name: id }, values.map((v) => h("option", { value: v, selected: v === chosen }, v))));
}

function field(id, label, attrs = {}) {
  return h("label", {}, label, h("input", { id, name: id, ...attrs }));
}

export async function searchView(root, { params, project, stillCurrent }) {
  modes = modes || (await api.modes());
  if (!stillCurrent()) return;
  const q = h("input#q", {
    type: "search", name: "q", value: params.q || "", placeholder: "Search your memories…  ( / )",
    autocomplete: "off", spellcheck: "false", "aria-label": "search",
  });
  const conversations = h("datalist#conversation-ids");
  const filters = h("details.filters", { open: filtersOpen || Object.keys(params).some((k) => !["q", "project"].includes(k)) },
    h("summary", {}, "filters"),
    h("div.grid", {},
      select("mode", "mode", modes.modes, params.mode || modes.default_mode),
      select("fusion", "fusion", modes.fusions, params.fusion || modes.default_fusion),
      field("weights", "convex weights", { placeholder: "0.7,0.3", value: params.weights || "" }),
      field("k", "results", { type: "number", min: 1, max: 100, value: params.k || 10 }),
      field("conversation", "conversation", { list: "conversation-ids", value: params.conversation || "", placeholder: "any" }),
      field("since", "from", { type: "date", value: params.since || "" }),
      field("until", "to (inclusive)", { type: "date", value: params.until || "" }),
      field("file", "file", { placeholder: "app.py or src/app.py", value: params.file || "" }),
      conversations));
  const status = h("p.muted.status", { role: "status" });
  const results = h("div.results");
  const form = h("form.search", { role: "search", onsubmit: (e) => e.preventDefault() }, q, filters);
  append(root, form, status, results);
  const weights = form.querySelector("#weights").closest("label");
  filters.addEventListener("toggle", () => { filtersOpen = filters.open; });

  api.conversations({ project, limit: 200 }).then((list) => {
    conversations.replaceChildren(...list.map((c) => h("option", { value: c.conversation_id }, c.title || "")));
  }).catch(() => {});

  let timer = null;
  let inFlight = null;

  function state() {
    const value = (id) => form.querySelector(`#${id}`).value.trim();
    const s = { q: value("q"), mode: value("mode"), fusion: value("fusion"), k: value("k"),
      conversation: value("conversation"), since: value("since"), until: value("until"),
      file: value("file"), project };
    if (s.fusion === "convex") s.weights = value("weights");
    if (s.mode === modes.default_mode) delete s.mode;
    if (s.fusion === modes.default_fusion) delete s.fusion;
    if (s.k === "10") delete s.k;
    return s;
  }

  async function run() {
    const s = state();
    weights.hidden = form.querySelector("#fusion").value !== "convex";
    history.replaceState(null, "", route("search", [], s));
    if (inFlight) inFlight.abort();
    if (!s.q) {
      status.textContent = "";
      await recent(results, project);
      return;
    }
    inFlight = new AbortController();
    const request = { ...s, since: dayStart(s.since), until: dayStart(s.until, 1) };
    status.textContent = "searching…";
    try {
      const hits = await api.search(request, inFlight.signal);
      const words = queryWords(s.q);
      status.textContent = hits.length ? count(hits.length, "memory", "memories") : "nothing found";
      clear(results, hits.map((hit) => hitCard(hit, { words, score: true })));
    } catch (error) {
      if (error.name === "AbortError") return;
      status.textContent = "";
      clear(results, errorBox(error));
    }
  }

  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });
  q.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      clearTimeout(timer);
      run();
    }
  });
  await run();
  if (!params.q) q.focus();
}

// With no query: the latest conversations, each a click from the whole of it.
async function recent(results, project) {
  const list = await api.conversations({ project, limit: 12 });
  clear(results,
    h("p.muted", {}, list.length
      ? "Type to search. Or open one of the latest conversations:"
      : "Nothing is stored yet: `memdistill ingest PATH` adds your chat logs."),
    h("ul.list", {}, list.map((c) => h("li", {},
      h("a", { href: route("c", [c.conversation_id]), "data-item": true }, c.title || c.conversation_id),
      h("span.muted", {}, ` ${c.project} · ${count(c.exchanges, "exchange")} · ${when(c.last_at)}`)))));
}
