// Forms: labelled fields, and the API's errors shown next to the field they name.
import {ApiError} from "./api.js";
import {h, uid} from "./dom.js";
import {errorWords} from "./words.js";

// A labelled input (or select/textarea via `input`), its hint, and the place of its error.
export function field(label, attrs = {}, {hint, input} = {}) {
  const id = attrs.id || uid("f");
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = `${id}-error`;
  const control = input || h("input", {type: "text", ...attrs, id,
                                       "aria-describedby": hintId});
  if (input) {
    control.id = id;
    if (hintId) control.setAttribute("aria-describedby", hintId);
  }
  control.dataset.errorId = errorId;
  return h("div", {class: "field"},
    h("label", {for: id}, label),
    hint && h("p", {class: "hint", id: hintId}, hint),
    control,
    h("p", {class: "field-error", id: errorId, hidden: true}));
}

// A checkbox with its label after it.
export function checkbox(label, attrs = {}) {
  const id = attrs.id || uid("c");
  return h("div", {class: "field check"},
    h("input", {type: "checkbox", ...attrs, id}), h("label", {for: id}, label),
    h("p", {class: "field-error", id: `${id}-error`, hidden: true}));
}

// Where a form says what went wrong as a whole, or that it worked.
export const formMessage = () => h("div", {class: "form-message", role: "status",
                                          "aria-live": "polite"});

export function clearErrors(form) {
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    const error = document.getElementById(el.dataset.errorId || "");
    if (error) { error.hidden = true; error.textContent = ""; }
    el.setAttribute("aria-describedby", (el.getAttribute("aria-describedby") || "")
      .split(" ").filter((id) => id && id !== el.dataset.errorId).join(" "));
  }
  const message = form.querySelector(".form-message");
  if (message) { message.textContent = ""; message.className = "form-message"; }
}

// Show `error` (an ApiError or a plain message) next to its field, or for the whole form.
export function showError(form, error, fieldName) {
  const words = error instanceof ApiError ? errorWords(error) : String(error.message || error);
  const name = fieldName ?? (error.field || "");
  const control = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (control) {
    const slot = document.getElementById(control.dataset.errorId || "");
    control.setAttribute("aria-invalid", "true");
    if (slot) {
      slot.textContent = words;
      slot.hidden = false;
      const described = (control.getAttribute("aria-describedby") || "").split(" ");
      if (!described.includes(slot.id)) described.push(slot.id);
      control.setAttribute("aria-describedby", described.filter(Boolean).join(" "));
    }
    control.focus();
    return;
  }
  say(form, words, "error");
}

export function say(form, words, tone = "ok") {
  const message = form.querySelector(".form-message");
  message.textContent = words;
  message.className = `form-message ${tone}`;
  if (tone === "error") message.setAttribute("role", "alert");
  else message.setAttribute("role", "status");
}

// The form's named values; checkboxes are "1"/"0".
export function valuesOf(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") out[el.name] = el.checked ? "1" : "0";
    else if (el.type === "radio") { if (el.checked) out[el.name] = el.value; }
    else out[el.name] = el.value;
  }
  return out;
}

// Run `action(values)` on submit: errors cleared first, the submit button disabled while it
// runs, an error shown where it belongs.
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await action(valuesOf(form));
    } catch (error) {
      showError(form, error);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return form;
}

// A check done in the browser before the API is asked (passwords typed twice...).
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}
