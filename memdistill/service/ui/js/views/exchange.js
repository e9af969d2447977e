// The drill-down: one exchange verbatim as a chat, its memory, its place in the
// conversation (← previous, next →, the whole conversation), and the memory's history.

import { api } from "../api.js";
import { append, h, queryWords, route, toast, when } from "../dom.js";
import { hitCard } from "../hits.js";
import { renderChat } from "../chat.js";

export function statusBadge(status) {
  return status && status !== "active" ? h(`span.badge.status-${status}`, {}, status.replace("_", " ")) : null;
}

export function restoreButton(id, after) {
  return h("button", {
    type: "button",
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        const done = await api.restore(id);
        toast(`Restored [${id}] (it had been ${done.undid}); searchable again.`);
        await after();
      } catch (error) {
        toast(error.message);
        event.target.disabled = false;
      }
    },
  }, "Restore");
}

function historyList(entries) {
  return h("ol.history", {}, entries.map((e) => {
    const detail = { ...e.detail };
    const reason = detail.reason;
    delete detail.reason;
    const rest = Object.keys(detail).length ? JSON.stringify(detail) : "";
    return h("li", {},
      h("time", { datetime: e.at }, when(e.at)), " ",
      h("strong", {}, e.action),
      reason ? `: ${reason}` : "",
      rest ? h("div.muted.detail", {}, rest) : null);
  }));
}

export async function exchangeView(root, context) {
  const { parts, params, stillCurrent } = context;
  const id = Number(parts[0]);
  const words = queryWords(params.q);
  const [exchange, place, entries] = await Promise.all([
    api.exchange(id), api.place(id), api.history(id).catch(() => []),
  ]);
  if (!stillCurrent()) return;
  const memory = exchange.memory;
  const keep = params.q ? { q: params.q } : {};
  const nav = h("nav.steps", { "aria-label": "conversation" },
    place.previous
      ? h("a", { href: route("x", [place.previous], keep), "data-key": "previous", title: "previous exchange (←)" }, "← previous")
      : h("span.muted", {}, "← previous"),
    h("a", { href: route("c", [place.conversation_id], { at: id }) },
      `exchange ${place.position} of ${place.of} in ${place.conversation_id}`),
    place.next
      ? h("a", { href: route("x", [place.next], keep), "data-key": "next", title: "next exchange (→)" }, "next →")
      : h("span.muted", {}, "next →"));
  const refresh = async () => {
    root.replaceChildren();
    await exchangeView(root, context);
  };
  const status = place.status !== "active"
    ? h("p.notice", {}, statusBadge(place.status),
      place.replaced_by ? h("span", {}, " into/by ", h("a", { href: route("x", [place.replaced_by]) }, `[${place.replaced_by}]`)) : null,
      " — out of search; ",
      ["pruned", "merged", "superseded"].includes(place.status) ? restoreButton(id, refresh) : "it comes back if its file has it again")
    : null;
  append(root, 
    nav,
    h("h1.title", {}, `Exchange [${id}]`, " ", statusBadge(place.status)),
    status,
    hitCard(memory, { words }),
    h("div.chat", {}, renderChat(exchange.messages, words)),
    h("details.history-box", { open: place.status !== "active" },
      h("summary", {}, `history (${entries.length})`), historyList(entries)),
  );
}
