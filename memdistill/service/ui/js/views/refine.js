// Refinement: a dry run shown as the table `memdistill refine --dry-run` prints, applied
// on confirmation; and the memories refinement took out, each restorable.

import { api } from "../api.js";
import { append, clear, confirmButton, count, errorBox, h, route, toast, when } from "../dom.js";
import { hitCard } from "../hits.js";
import { restoreButton, statusBadge } from "./exchange.js";

const STATUS_OF_RULE = { merge: "merged", supersede: "superseded", prune: "pruned" };
const KNOBS = [
  ["min_freq", "prune: served at least", "1"],
  ["min_utility_ratio", "prune: utility/freq below", "0.01"],
  ["merge_similarity", "merge: cosine above", "0.01"],
  ["supersede_similarity", "supersede: cosine above", "0.01"],
];

// The store's settings are the placeholders; what is typed over them is sent.
function settingsForm(settings) {
  return h("form.refine-settings", { onsubmit: (e) => e.preventDefault() },
    h("fieldset", {}, h("legend", {}, "rules"),
      Object.keys(STATUS_OF_RULE).map((rule) => h("label.check", {},
        h("input", { type: "checkbox", name: "rules", value: rule, checked: settings.rules.includes(rule) }), ` ${rule}`))),
    h("div.grid", {}, KNOBS.map(([name, label, step]) =>
      h("label", {}, label, h("input", { type: "number", name, step, min: 0, placeholder: String(settings[name]) })))));
}

function settingsOf(form, project) {
  const body = { project };
  body.rules = [...form.querySelectorAll("input[name=rules]:checked")].map((i) => i.value);
  for (const [name] of KNOBS) {
    const value = form.querySelector(`input[name=${name}]`).value;
    if (value !== "") body[name] = Number(value);
  }
  return body;
}

// The CLI's table: rule, memory, into/by, reason; and its summary line.
export function refineTable(report) {
  const counts = Object.entries(report.counts).filter(([, n]) => n)
    .map(([rule, n]) => `${n} ${STATUS_OF_RULE[rule]}`).join(", ");
  if (!report.changes.length) {
    return [h("p", {}, `Nothing to refine among ${report.active_before} active memories.`)];
  }
  const table = h("table.refine", {},
    h("thead", {}, h("tr", {}, h("th", {}, "rule"), h("th.num", {}, "memory"), h("th.num", {}, "into/by"), h("th", {}, "reason"))),
    h("tbody", {}, report.changes.map((c) => h("tr", {},
      h("td", {}, c.rule),
      h("td.num", {}, h("a", { href: route("x", [c.exchange_id]) }, `[${c.exchange_id}]`)),
      h("td.num", {}, c.target !== null ? h("a", { href: route("x", [c.target]) }, `[${c.target}]`) : ""),
      h("td", {}, c.reason)))));
  const n = report.changes.length;
  const summary = report.dry_run
    ? `Would take ${n} of ${report.active_before} memories out of the indexes (${counts}).`
    : `Took ${n} of ${report.active_before} memories out of the indexes (${counts}).`;
  const out = [h("div.scroll", {}, table), h("p.summary", {}, summary)];
  if (report.skipped.length) out.push(h("p.muted", {}, `Skipped ${report.skipped.length}: changed by another process meanwhile.`));
  return out;
}

async function refinedList(box, project, status) {
  const list = await api.refined({ project, status: status || undefined, limit: 200 });
  const refresh = () => refinedList(box, project, status);
  clear(box, list.length ? list.map((r) => hitCard(r.memory, {
    extra: h("div.refined", {},
      statusBadge(r.status), " ",
      r.replaced_by ? h("span", {}, "into/by ", h("a", { href: route("x", [r.replaced_by]) }, `[${r.replaced_by}]`), " ") : null,
      h("span.muted", {}, `${r.rule || ""}${r.reason ? ": " + r.reason : ""} · ${when(r.at)} `),
      restoreButton(r.memory.exchange_id, refresh)),
  })) : h("p.muted", {}, "No memory is pruned, merged or superseded."));
}

export async function refineView(root, { project, stillCurrent }) {
  const form = settingsForm(await api.refineSettings());
  if (!stillCurrent()) return;
  const result = h("div.refine-result", { "aria-live": "polite" });
  const refinedBox = h("div.results");
  const statusPicker = h("select", { "aria-label": "which refined memories" },
    h("option", { value: "" }, "all"), ["pruned", "merged", "superseded"].map((s) => h("option", { value: s }, s)));
  statusPicker.addEventListener("change", () => refinedList(refinedBox, project, statusPicker.value));

  async function dryRun() {
    clear(result, h("p.muted", {}, "planning…"));
    try {
      const report = await api.refine({ ...settingsOf(form, project), dry_run: true });
      clear(result, refineTable(report));
      if (report.changes.length) {
        result.append(confirmButton("Apply", `Take ${count(report.changes.length, "memory", "memories")} out of search? Click again`, apply, { id: "apply" }));
      }
    } catch (error) {
      clear(result, errorBox(error));
    }
  }

  async function apply() {
    try {
      const report = await api.refine({ ...settingsOf(form, project), dry_run: false });
      clear(result, refineTable(report), h("p.muted", {}, "Each can be restored below."));
      toast(`Refined ${count(report.changes.length, "memory", "memories")}.`);
      await refinedList(refinedBox, project, statusPicker.value);
    } catch (error) {
      clear(result, errorBox(error));
    }
  }

  append(root, 
    h("h1.title", {}, "Refine"),
    h("p.muted", {}, "Prune memories served often that rarely helped, merge near-duplicates, retire decisions a later exchange reversed. Nothing is deleted: every one can be restored."),
    form,
    h("div.buttons", {}, h("button#dry-run", { type: "button", onclick: dryRun }, "Dry run")),
    result,
    h("h2", {}, "Out of search ", statusPicker),
    refinedBox);
  await refinedList(refinedBox, project, "");
}
