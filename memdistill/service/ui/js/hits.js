// A memory as a card: its core, specific context, rooms, files, date, per-layer ranks;
// the same card in search results, a room, a day, the refined list.

import { h, markWords, route, when } from "./dom.js";

const LAYER_NAMES = {
  "verbatim-bm25": "verbatim BM25",
  "verbatim-vector": "verbatim vector",
  "distilled-bm25": "distilled BM25",
  "distilled-vector": "distilled vector",
};

export function roomChip(room, project) {
  return h("a.chip", { href: route("room", [room.key], { project }), title: `${room.type} room ${room.key}` },
    room.label || room.key);
}

export function ranks(hit) {
  const entries = Object.entries(hit.ranks || {});
  if (!entries.length) return null;
  return h("span.ranks", { title: "rank in each layer before fusion" },
    entries.map(([layer, rank]) => h("span.rank", {}, `${LAYER_NAMES[layer] || layer} #${rank}`)));
}

// A card linking to the drill-down; `extra` nodes go at its foot (buttons, reasons).
export function hitCard(hit, { words = [], score = false, extra = [] } = {}) {
  const link = route("x", [hit.exchange_id], words.length ? { q: words.join(" ") } : {});
  const files = (hit.files || []).slice(0, 4);
  const more = (hit.files || []).length - files.length;
  return h("article.hit", { dataset: { id: hit.exchange_id } },
    h("a.core", { href: link, "data-item": true }, markWords(hit.exchange_core, words)),
    hit.specific_context ? h("p.context", {}, h("code", {}, markWords(hit.specific_context, words))) : null,
    h("div.meta", {},
      h("span.id", {}, `[${hit.exchange_id}]`),
      h("time", { datetime: hit.started_at || "" }, when(hit.started_at)),
      hit.project ? h("span.project", {}, hit.project) : null,
      score ? h("span.score", { title: "fused score" }, hit.score.toFixed(3)) : null,
      ranks(hit)),
    hit.rooms && hit.rooms.length ? h("div.chips", {}, hit.rooms.map((r) => roomChip(r, hit.project))) : null,
    files.length ? h("div.files", {},
      files.map((f) => h("span.file", { title: f.action }, h("span.action", {}, f.action), " ", markWords(f.path, words))),
      more > 0 ? h("span.muted.small", {}, `and ${more} more`) : null) : null,
    hit.supersedes && hit.supersedes.length ? h("p.muted", {}, "supersedes: ",
      hit.supersedes.map((id) => h("a", { href: route("x", [id]) }, `[${id}] `))) : null,
    hit.merged && hit.merged.length ? h("p.muted", {}, "also said in: ",
      hit.merged.map((id) => h("a", { href: route("x", [id]) }, `[${id}] `))) : null,
    extra);
}
