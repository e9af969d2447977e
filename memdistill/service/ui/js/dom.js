// Building the page from data without ever parsing it as HTML: every text from the store
// goes in through text nodes (the Markdown of replies goes through markdown.js instead).

// h("a#id.hit", {href: "#/x/3"}, "text", child) -> an element; attributes are set one by
// one, `on*` functions become listeners, children are nodes or strings (as text).
export function h(tag, attrs, ...children) {
  const [head, ...classes] = tag.split(".");
  const [name, id] = head.split("#");
  const element = document.createElement(name || "div");
  if (id) element.id = id;
  if (classes.length) element.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

// Children appended as nodes or text; null, undefined and false are skipped (the DOM's own
// append would write "null").
export function append(element, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

// The words of a query, for marking: at least two characters, no duplicates.
export function queryWords(query) {
  const words = (query || "").toLowerCase().match(/[\p{L}\p{N}_][\p{L}\p{N}_.\-/]*/gu) || [];
  return [...new Set(words.filter((w) => w.length >= 2))];
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); // (a "u" regex refuses needless escapes)
}

// `text` as nodes, with each of `words` wrapped in <mark> (text nodes only, never HTML).
export function markWords(text, words) {
  text = text || "";
  if (!words || !words.length) return [text];
  const pattern = new RegExp(`(${words.map(escapeRegExp).join("|")})`, "giu");
  const out = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(h("mark", {}, match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function when(iso, withTime = true) {
  if (!iso) return "no date";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "no date";
  const day = date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  if (!withTime) return day;
  return `${day} ${date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}`;
}

export function count(n, word, plural) {
  return `${n.toLocaleString()} ${n === 1 ? word : plural || word + "s"}`;
}

// A route link: #/view/part?params, every part encoded.
export function route(view, parts = [], params = {}) {
  const path = [view, ...parts.map((p) => encodeURIComponent(String(p)))].join("/");
  const given = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return `#/${path}${given.length ? "?" + new URLSearchParams(given).toString() : ""}`;
}

export function errorBox(error) {
  return h("p.error", { role: "alert" }, error && error.message ? error.message : String(error));
}

export function loading(what = "loading") {
  return h("p.muted", { "aria-busy": "true" }, `${what}…`);
}

// A button that asks twice: the first click arms it, the second (within 5 s) acts.
export function confirmButton(label, armedLabel, act, attrs = {}) {
  let armed = null;
  const button = h("button.danger", { type: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    if (!armed) {
      button.textContent = armedLabel;
      button.classList.add("armed");
      armed = setTimeout(() => {
        armed = null;
        button.textContent = label;
        button.classList.remove("armed");
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.disabled = true;
    try {
      await act();
    } finally {
      button.disabled = false;
      button.textContent = label;
      button.classList.remove("armed");
    }
  });
  return button;
}

export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.add("shown");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("shown"), 4000);
}
