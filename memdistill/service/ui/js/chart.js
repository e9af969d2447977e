// A bar chart in SVG, drawn from numbers (no library, nothing parsed as markup): the
// timeline's exchanges per day and the stats' histograms.

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// bars: [{value, label, title, href?}]; axis: {first, last} labels under the ends.
export function barChart(bars, { height = 140, title = "", axis = null, unit = "" } = {}) {
  const width = 600; // the SVG scales to its box; text keeps its proportions
  const top = Math.max(1, ...bars.map((b) => b.value));
  const pad = 20; // above the bars: the largest value's label
  const plot = height - 34 - pad;
  const step = width / Math.max(1, bars.length);
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title,
  });
  svg.append(el("title", {}, title));
  bars.forEach((bar, i) => {
    const h = bar.value ? Math.max(1.5, (plot * bar.value) / top) : 0;
    const rect = el("rect", {
      x: i * step + step * 0.1, y: pad + plot - h, width: step * 0.8, height: h, class: "bar-rect",
    });
    rect.append(el("title", {}, bar.title || `${bar.label}: ${bar.value}${unit}`));
    if (bar.href) {
      const link = el("a", { href: bar.href });
      link.append(rect);
      svg.append(link);
    } else {
      svg.append(rect);
    }
  });
  svg.append(el("line", { x1: 0, y1: pad + plot, x2: width, y2: pad + plot, class: "axis" }));
  svg.append(el("text", { x: 2, y: 13, class: "tick" }, `max ${top.toLocaleString()}`));
  if (axis) {
    svg.append(el("text", { x: 2, y: height - 8, class: "tick" }, axis.first));
    svg.append(el("text", { x: width - 2, y: height - 8, class: "tick end" }, axis.last));
  }
  return svg;
}
