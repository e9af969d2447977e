// A project's work by day (in the browser's time zone), and one day's exchanges in order.

import { api } from "../api.js";
import { append, count, h, route, when } from "../dom.js";
import { barChart } from "../chart.js";
import { hitCard, roomChip } from "../hits.js";
import { dayStart } from "./search.js";

const CHART_DAYS = 120;
const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

function dayLabel(day, style = "long") {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d).toLocaleDateString(undefined,
    style === "long" ? { weekday: "short", year: "numeric", month: "short", day: "numeric" } : { month: "short", day: "numeric" });
}

// Every calendar day from the first to the last, so quiet days show as gaps.
function calendar(days) {
  if (!days.length) return [];
  const byDay = new Map(days.map((d) => [d.day, d]));
  const [y, m, d] = days[days.length - 1].day.split("-").map(Number);
  const out = [];
  for (let i = 0; i < CHART_DAYS; i++) {
    const date = new Date(y, m - 1, d - i);
    const key = isoDay(date);
    out.unshift({ day: key, exchanges: byDay.get(key)?.exchanges || 0 });
    if (key <= days[0].day) break;
  }
  return out;
}

export async function timelineView(root, { project, stillCurrent }) {
  const days = await api.timeline({ project, tz: zone() });
  if (!stillCurrent()) return;
  const shown = calendar(days);
  const total = days.reduce((n, d) => n + d.exchanges, 0);
  append(root, 
    h("h1.title", {}, project ? `Timeline of ${project}` : "Timeline"),
    h("p.muted", {}, `${count(total, "exchange")} over ${count(days.length, "day")} of work (${zone()})`),
    shown.length ? barChart(shown.map((d) => ({
      value: d.exchanges, label: d.day, title: `${dayLabel(d.day)}: ${count(d.exchanges, "exchange")}`,
      href: d.exchanges ? route("day", [d.day], { project }) : undefined,
    })), { title: "exchanges per day", axis: { first: dayLabel(shown[0].day, "short"), last: dayLabel(shown[shown.length - 1].day, "short") } }) : null,
    h("ol.days", {}, [...days].reverse().map((d) => h("li", {},
      h("a", { href: route("day", [d.day], { project }), "data-item": true }, dayLabel(d.day)),
      h("span.muted", {}, ` ${count(d.exchanges, "exchange")} in ${count(d.conversations, "conversation")}, ` +
        `${new Date(d.first_at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}–` +
        `${new Date(d.last_at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}`),
      h("div.chips", {}, d.rooms.map((r) => roomChip(r, project)))))),
    days.length ? null : h("p", {}, "No dated exchanges yet."));
}

export async function dayView(root, { parts, project, stillCurrent }) {
  const day = parts[0];
  const hits = await api.exchanges({ project, since: dayStart(day), until: dayStart(day, 1), limit: 1000 });
  if (!stillCurrent()) return;
  append(root, 
    h("nav.steps", {},
      h("a", { href: route("day", [shift(day, -1)], { project }), "data-key": "previous" }, "← day before"),
      h("a", { href: route("timeline", [], { project }) }, "timeline"),
      h("a", { href: route("day", [shift(day, 1)], { project }), "data-key": "next" }, "day after →")),
    h("h1.title", {}, dayLabel(day)),
    h("p.muted", {}, `${count(hits.length, "exchange")}, in order${project ? ` · ${project}` : ""}`),
    h("div.results", {}, hits.map((hit) => hitCard(hit))));
  if (hits.length) root.querySelector("p.muted").append(` · ${when(hits[0].started_at)} – ${when(hits[hits.length - 1].started_at)}`);
}

function isoDay(date) {
  const two = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
}

function shift(day, by) {
  const [y, m, d] = day.split("-").map(Number);
  return isoDay(new Date(y, m - 1, d + by));
}
