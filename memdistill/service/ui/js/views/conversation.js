// A whole conversation as a chat, exchange after exchange, in pages of PAGE.

import { api } from "../api.js";
import { append, count, h, route, when } from "../dom.js";
import { renderChat } from "../chat.js";
import { statusBadge } from "./exchange.js";

const PAGE = 50;

export async function conversationView(root, { parts, params, stillCurrent }) {
  const id = parts[0];
  let offset = Number(params.offset || 0);
  const at = params.at ? Number(params.at) : null;
  if (at && params.offset === undefined) {
    const place = await api.place(at);
    offset = Math.floor((place.position - 1) / PAGE) * PAGE;
  }
  const page = await api.conversation(id, { offset, limit: PAGE });
  if (!stillCurrent()) return;
  const info = page.conversation;
  const pager = () => h("nav.steps", { "aria-label": "pages" },
    offset > 0 ? h("a", { href: route("c", [id], { offset: Math.max(0, offset - PAGE) }) }, "← earlier") : h("span.muted", {}, "← earlier"),
    h("span.muted", {}, info.exchanges ? `exchanges ${offset + 1}–${Math.min(offset + PAGE, info.exchanges)} of ${info.exchanges}` : "no exchange"),
    offset + PAGE < info.exchanges ? h("a", { href: route("c", [id], { offset: offset + PAGE }) }, "later →") : h("span.muted", {}, "later →"));
  append(root, 
    h("h1.title", {}, info.title || info.conversation_id),
    h("p.muted", {}, `${info.project} · ${count(info.exchanges, "exchange")} · ${when(info.first_at)} – ${when(info.last_at)}`,
      info.title ? ` · ${info.conversation_id}` : ""),
    pager(),
    page.exchanges.map((x) => h("section.exchange", { id: `x${x.memory.exchange_id}` },
      h("h2", {},
        h("a", { href: route("x", [x.memory.exchange_id]), "data-item": true }, `[${x.memory.exchange_id}]`), " ",
        h("time", { datetime: x.memory.started_at || "" }, when(x.memory.started_at)), " ",
        statusBadge(x.status)),
      h("div.chat", {}, renderChat(x.messages, [])))),
    page.exchanges.length > 5 ? pager() : null,
  );
  if (at) {
    const target = document.getElementById(`x${at}`);
    if (target) {
      target.classList.add("focused");
      target.scrollIntoView({ block: "start" });
    }
  }
}
