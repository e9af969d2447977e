// Counts, tokens, compression, and the distribution of sizes as a histogram.

import { api } from "../api.js";
import { append, clear, h } from "../dom.js";
import { barChart } from "../chart.js";

const PLOTS = {
  compression: ["compression per exchange (verbatim ÷ distilled tokens)", "×"],
  verbatim_tokens: ["verbatim tokens per exchange", ""],
  distilled_tokens: ["distilled tokens per exchange", ""],
};

function figure(label, value) {
  return h("div.figure", {}, h("div.value", {}, value), h("div.label", {}, label));
}

function table(title, entries) {
  if (!entries.length) return null;
  return h("div.breakdown", {}, h("h3", {}, title),
    h("table", {}, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("td", {}, k || "(none)"), h("td.num", {}, v.toLocaleString()))))));
}

function histogram(data, which) {
  const [title, unit] = PLOTS[which];
  const hist = data[which];
  if (!hist.counts.length) return h("p.muted", {}, "Nothing to plot yet.");
  const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString() : x.toFixed(1));
  const bars = hist.counts.map((n, i) => {
    const last = i === hist.counts.length - 1;
    const range = `${fmt(hist.edges[i])}–${last ? fmt(hist.edges[i + 1]) + "+" : fmt(hist.edges[i + 1])}${unit}`;
    return { value: n, label: range, title: `${range}: ${n.toLocaleString()} exchanges` };
  });
  return barChart(bars, {
    title, height: 180,
    axis: { first: `${fmt(hist.edges[0])}${unit}`, last: `${fmt(hist.edges[hist.edges.length - 1])}+${unit}` },
  });
}

export async function statsView(root, { stillCurrent }) {
  const [stats, data] = await Promise.all([api.stats(), api.distribution({ bins: 24 })]);
  if (!stillCurrent()) return;
  const plotBox = h("figure.plot");
  const caption = h("figcaption.muted");
  const picker = h("select", { "aria-label": "distribution" },
    Object.entries(PLOTS).map(([key, [label]]) => h("option", { value: key }, label)));
  const draw = () => {
    clear(plotBox, histogram(data, picker.value), caption);
    caption.textContent = `${data.exchanges.toLocaleString()} searchable exchanges; the last bar holds everything above the 99th percentile.`;
  };
  picker.addEventListener("change", draw);
  append(root, 
    h("h1.title", {}, "Stats"),
    h("div.figures", {},
      figure("exchanges", stats.exchanges.toLocaleString()),
      figure("conversations", stats.conversations.toLocaleString()),
      figure("messages", stats.messages.toLocaleString()),
      figure("rooms", stats.rooms.toLocaleString()),
      figure("verbatim tokens", stats.verbatim_tokens.toLocaleString()),
      figure("distilled tokens", stats.distilled_tokens.toLocaleString()),
      figure("compression", `${stats.compression.toFixed(1)}×`),
      figure("median per exchange", `${stats.compression_median.toFixed(1)}×`)),
    h("h2", {}, "Distribution ", picker),
    plotBox,
    h("div.breakdowns", {},
      table("projects", Object.entries(stats.projects)),
      table("memories by status", Object.entries(stats.statuses)),
      table("distillers", Object.entries(stats.distillers))),
    h("p.muted", {}, `embedder: ${stats.embedder || "none yet"} · ${stats.sources.toLocaleString()} source files`));
  draw();
}
