// Building the page: elements are made with h(), never from HTML strings, so no text the
// server or a user gave can become markup.

// h("p", {class: "note", onclick: f, hidden: true}, "text", child, [more children])
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A coloured badge that also says its meaning in words (colour is never the only cue).
export const badge = ({words, tone}) => h("span", {class: `badge ${tone}`}, words);

let ids = 0;
export const uid = (prefix) => `${prefix}-${++ids}`;

// Text with `code` parts (as the agent's install steps are written) as nodes.
export function withCode(text) {
  return text.split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}
