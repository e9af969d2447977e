// Forget: choose exchanges, see exactly what goes, confirm explicitly, delete for good.
// What is deleted is what the preview showed: its ids go with the selectors (AND), so an
// exchange stored after the preview is never taken unseen.

import { api } from "../api.js";
import { append, clear, count, errorBox, h, route, when } from "../dom.js";
import { dayStart } from "./search.js";

const SHOWN = 200;
const MAX_IDS = 10000; // the API's limit on ids in one request

function selectorsOf(form, project) {
  const value = (name) => form.querySelector(`[name=${name}]`).value.trim();
  const ids = value("ids").split(/[\s,]+/).filter(Boolean).map(Number);
  const body = {
    ids: ids.filter((n) => Number.isInteger(n) && n > 0),
    conversation: value("conversation") || undefined,
    project,
    since: dayStart(value("since")),
    until: dayStart(value("until"), 1),
    text: value("text") || undefined,
  };
  if (body.ids.length !== ids.length) throw new Error("ids are whole numbers, as search shows them: 12, 40");
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && !(Array.isArray(v) && !v.length)));
}

function plan(preview) {
  const n = preview.exchanges.length;
  return [
    h("p.warning", {}, `${count(n, "exchange")} will be deleted for good (messages, memories, vectors, history):`),
    h("ul.targets", {}, preview.exchanges.slice(0, SHOWN).map((t) => h("li", {},
      h("a", { href: route("x", [t.exchange_id]) }, `[${t.exchange_id}]`), " ",
      h("span.muted", {}, `${t.project} · ${when(t.started_at)} · `), t.exchange_core))),
    n > SHOWN ? h("p.muted", {}, `… and ${n - SHOWN} more`) : null,
    preview.loose.length ? h("p", {}, `and ${count(preview.loose.length, "conversation")} with no exchange ` +
      `(${count(preview.loose.reduce((s, l) => s + l.messages, 0), "message")}, not searchable): ` +
      preview.loose.map((l) => l.conversation_id).join(", ")) : null,
    preview.restores ? h("p", {}, `${count(preview.restores, "memory", "memories")} merged into or superseded by them will be active again.`) : null,
  ];
}

function done(report) {
  const parts = [`Forgot ${count(report.forgotten.length, "exchange")}`];
  if (report.loose_messages_deleted) parts.push(`${count(report.loose_messages_deleted, "message")} outside any exchange`);
  if (report.restored.length) parts.push(`${count(report.restored.length, "memory", "memories")} active again`);
  if (report.kept_files_rewritten.length || report.kept_files_deleted.length) {
    parts.push(`kept copies: ${count(report.kept_files_rewritten.length, "file")} rewritten, ${report.kept_files_deleted.length} deleted`);
  }
  return h("p.summary", { role: "status" }, parts.join("; ") + ".",
    report.scrubbed ? "" : " Another process holds the store, so the file could not be vacuumed yet: the next forget finishes it.");
}

export async function forgetView(root, { params, project }) {
  const form = h("form.forget", { onsubmit: (e) => e.preventDefault() },
    h("div.grid", {},
      h("label", {}, "exchange ids", h("input", { name: "ids", value: params.ids || "", placeholder: "12, 40" })),
      h("label", {}, "conversation", h("input", { name: "conversation", value: params.conversation || "" })),
      h("label", {}, "text (any case)", h("input", { name: "text", value: params.text || "", placeholder: "hunter2" })),
      h("label", {}, "from", h("input", { name: "since", type: "date" })),
      h("label", {}, "to (inclusive)", h("input", { name: "until", type: "date" }))),
    h("p.muted", {}, project ? `Only in project ${project} (the picker above).` : "In every project (the picker above narrows it)."),
    h("div.buttons", {}, h("button#preview", { type: "submit" }, "Preview")));
  const box = h("div.forget-plan", { "aria-live": "polite" });

  form.addEventListener("submit", async () => {
    let selectors;
    try {
      selectors = selectorsOf(form, project);
      clear(box, h("p.muted", {}, "looking…"));
      const preview = await api.forgetPreview(selectors);
      const n = preview.exchanges.length;
      const sure = h("input#sure", { type: "checkbox" });
      const go = h("button#forget-confirm.danger", { type: "button", disabled: true },
        `Forget ${count(n, "exchange")}${preview.loose.length ? ` and ${count(preview.loose.length, "conversation")}` : ""}`);
      sure.addEventListener("change", () => { go.disabled = !sure.checked; });
      go.addEventListener("click", async () => {
        go.disabled = true;
        const exact = !preview.loose.length && n <= MAX_IDS;
        const body = { ...selectors, confirm: true };
        if (exact) body.ids = preview.exchanges.map((t) => t.exchange_id);
        try {
          clear(box, done(await api.forget(body)));
        } catch (error) {
          box.append(errorBox(error));
        }
      });
      clear(box, plan(preview),
        h("label.check.confirm", {}, sure, " I understand: these are deleted for good, and cannot be restored."),
        h("div.buttons", {}, go));
    } catch (error) {
      clear(box, errorBox(error));
    }
  });
  append(root, 
    h("h1.title", {}, "Forget"),
    h("p.muted", {}, "Deletes exchanges for real: messages, memories, vectors, history, index entries; the store file is vacuumed, and ingest never brings them back. Selectors combine with AND."),
    form, box);
  if (params.ids) form.requestSubmit();
}
