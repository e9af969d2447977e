// The rooms of a project with their sizes, and a room's exchanges in order.

import { api } from "../api.js";
import { append, count, h, route, when } from "../dom.js";
import { hitCard } from "../hits.js";

export async function roomsView(root, { project, stillCurrent }) {
  const rooms = await api.rooms({ project });
  if (!stillCurrent()) return;
  const largest = Math.max(1, ...rooms.map((r) => r.exchanges));
  const filter = h("input", { type: "search", placeholder: "filter rooms", "aria-label": "filter rooms" });
  const body = h("tbody", {}, rooms.map((r) => h("tr", { dataset: { text: `${r.label} ${r.key}`.toLowerCase() } },
    h("td", {}, h("a", { href: route("room", [r.key], { project: r.project }), "data-item": true }, r.label || r.key),
      h("div.muted.small", {}, r.key)),
    h("td.type", {}, r.type),
    project ? null : h("td.project", {}, r.project),
    h("td.size", {}, h("span.bar", { "aria-hidden": "true", dataset: { share: Math.round((100 * r.exchanges) / largest) } }),
      ` ${r.exchanges}`),
    h("td.when", {}, `${when(r.first_at, false)} – ${when(r.last_at, false)}`))));
  for (const bar of body.querySelectorAll(".bar")) bar.style.width = `${bar.dataset.share}%`;
  filter.addEventListener("input", () => {
    const wanted = filter.value.trim().toLowerCase();
    for (const row of body.rows) row.hidden = wanted !== "" && !row.dataset.text.includes(wanted);
  });
  append(root, 
    h("h1.title", {}, project ? `Rooms of ${project}` : "Rooms"),
    h("p.muted", {}, `${count(rooms.length, "room")}; a room gathers the exchanges about one file, concept or workflow.`),
    rooms.length ? filter : null,
    rooms.length
      ? h("table.rooms", {}, h("thead", {}, h("tr", {}, h("th", {}, "room"), h("th", {}, "type"),
        project ? null : h("th", {}, "project"), h("th", {}, "exchanges"), h("th", {}, "from – to"))), body)
      : h("p", {}, "No rooms yet."));
}

export async function roomView(root, { parts, project, stillCurrent }) {
  const key = parts[0];
  const hits = await api.room(key, { project });
  if (!stillCurrent()) return;
  const label = hits[0]?.rooms.find((r) => r.key === key)?.label || key;
  append(root, 
    h("nav.steps", {}, h("a", { href: route("rooms", [], { project }) }, "← all rooms")),
    h("h1.title", {}, label),
    h("p.muted", {}, `${key} · ${count(hits.length, "exchange")}, oldest first`),
    h("div.results", {}, hits.map((hit) => hitCard(hit))));
}
