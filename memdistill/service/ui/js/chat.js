// An exchange's verbatim messages as a person reads a chat: the prompt, the reply as
// Markdown, thinking and tool round trips folded (each call with its result), long texts
// collapsed behind "show all".

import { h, markWords, when } from "./dom.js";
import { codeBlock, renderMarkdown } from "./markdown.js";

const LONG_LINES = 24;
const LONG_CHARS = 3000;

function firstLine(text, max = 90) {
  const line = (text || "").split("\n").find((l) => l.trim()) || "";
  return line.length > max ? line.slice(0, max - 1) + "…" : line;
}

// Plain text in a <pre>, the first lines only when it is long, with a button for the rest.
export function collapsible(text, words) {
  text = text || "";
  const lines = text.split("\n");
  const long = lines.length > LONG_LINES || text.length > LONG_CHARS;
  if (!long) return h("pre.plain", {}, markWords(text, words));
  const head = lines.slice(0, LONG_LINES).join("\n").slice(0, LONG_CHARS);
  const pre = h("pre.plain", {}, markWords(head, words));
  const rest = `show all (${lines.length.toLocaleString()} lines, ${text.length.toLocaleString()} characters)`;
  const more = h("button.quiet.more", { type: "button" }, rest);
  more.addEventListener("click", () => {
    pre.replaceChildren(...markWords(text, words));
    more.remove();
  });
  return h("div.collapsible", {}, pre, more);
}

function stamp(message) {
  return message.timestamp ? h("time", { datetime: message.timestamp }, when(message.timestamp)) : null;
}

function prompt(message, words) {
  return h("section.turn.prompt", { "aria-label": "prompt" },
    h("header", {}, h("strong", {}, "You"), stamp(message)),
    collapsible(message.text, words));
}

function reply(message) {
  return h("div.markdown", {}, renderMarkdown(message.text));
}

function looksLikeJson(text) {
  const t = (text || "").trim();
  return (t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"));
}

function toolRound(call, results, words) {
  const name = call ? call.tool || "tool" : "tool result";
  const summary = h("summary", {},
    h("span.tool-name", {}, name),
    " ",
    h("span.muted", {}, firstLine(call ? call.text : results[0]?.text)),
    results.length ? null : h("span.badge", {}, "no result"));
  const body = [];
  if (call) {
    body.push(h("div.label", {}, "call"));
    body.push(looksLikeJson(call.text) ? codeBlock(call.text, "json") : collapsible(call.text, words));
  }
  for (const result of results) {
    body.push(h("div.label", {}, "result"));
    body.push(collapsible(result.text, words));
  }
  return h("details.tool", {}, summary, ...body);
}

function folded(label, message, words, cls) {
  return h(`details.${cls}`, {},
    h("summary", {}, h("span.tool-name", {}, label), " ", h("span.muted", {}, firstLine(message.text))),
    collapsible(message.text, words));
}

// The messages of one exchange -> nodes, in order.
export function renderChat(messages, words) {
  const out = [];
  let agent = null; // the agent's turn being built: its body element
  let pending = []; // tool calls waiting for their results, oldest first
  const agentTurn = (message) => {
    if (!agent) {
      agent = h("div.body");
      out.push(h("section.turn.agent", { "aria-label": "reply" },
        h("header", {}, h("strong", {}, "Agent"), stamp(message)), agent));
    }
    return agent;
  };
  for (const message of messages) {
    if (message.kind === "prompt") {
      agent = null;
      pending = [];
      out.push(prompt(message, words));
    } else if (message.kind === "text") {
      agentTurn(message).append(reply(message));
    } else if (message.kind === "thinking") {
      agentTurn(message).append(folded("thinking", message, words, "thinking"));
    } else if (message.kind === "tool_call") {
      const round = { call: message, results: [], node: null };
      round.node = toolRound(message, [], words);
      agentTurn(message).append(round.node);
      pending.push(round);
    } else if (message.kind === "tool_result") {
      const round = pending.shift();
      if (round) {
        round.results.push(message);
        const open = round.node.open;
        const node = toolRound(round.call, round.results, words);
        node.open = open;
        round.node.replaceWith(node);
        round.node = node;
      } else {
        agentTurn(message).append(toolRound(null, [message], words));
      }
    } else {
      out.push(folded(message.role, message, words, "meta"));
    }
  }
  return out;
}
