// The one place text from the store becomes HTML: an agent's reply, as Markdown.
// Three guards: marked renders raw HTML in the Markdown as text (escaped), DOMPurify
// sanitises what marked made and hands back nodes (never a string we assign), and the
// page's Content-Security-Policy (no inline script, Trusted Types) stops whatever slipped
// past both. Images become links: the page never fetches what a message points at.

import { Marked } from "../vendor/marked/marked.esm.js";
import hljs from "../vendor/highlight/highlight.min.js";
import DOMPurify from "../vendor/dompurify/purify.es.js";

const AUTO_HIGHLIGHT_CHARS = 20000; // guessing a language is slow on huge blocks

function escape(text) {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

function highlighted(code, lang) {
  const language = (lang || "").trim().split(/\s+/)[0].toLowerCase();
  if (language && hljs.getLanguage(language)) {
    return { html: hljs.highlight(code, { language, ignoreIllegals: true }).value, language };
  }
  if (!language && code.length <= AUTO_HIGHLIGHT_CHARS) {
    const guess = hljs.highlightAuto(code);
    if (guess.relevance >= 5) return { html: guess.value, language: guess.language };
  }
  return { html: escape(code), language: "" };
}

const markdown = new Marked({
  gfm: true,
  breaks: true, // chat replies put line breaks where they mean them
  renderer: {
    html({ text, block }) {
      // Raw HTML in a message is shown as the text it is, never parsed.
      return block ? `<pre class="plain">${escape(text)}</pre>\n` : escape(text);
    },
    code({ text, lang }) {
      const { html, language } = highlighted(text, lang);
      const cls = language ? ` class="hljs language-${escape(language)}"` : ' class="hljs"';
      return `<pre><code${cls}>${html}</code></pre>\n`;
    },
    image({ href, text }) {
      return `<a href="${escape(href || "")}">[image: ${escape(text || href || "")}]</a>`;
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
  FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea", "select", "svg", "math"],
  FORBID_ATTR: ["style", "id", "name"],
};

// Markdown text -> a DocumentFragment of sanitised nodes.
export function renderMarkdown(text) {
  return DOMPurify.sanitize(markdown.parse(text || ""), PURIFY);
}

// A plain code block, highlighted when its language is known (tool inputs, JSON).
export function codeBlock(text, lang) {
  const { html, language } = highlighted(text || "", lang);
  const cls = language ? `hljs language-${escape(language)}` : "hljs";
  return DOMPurify.sanitize(`<pre><code class="${cls}">${html}</code></pre>`, PURIFY);
}
