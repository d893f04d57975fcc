// One modal form (native <dialog>: focus trap, Escape to close) for modify order, partial close,
// edit brackets, and the accounts' "new" and "reset" (a form with no field is a confirmation).
// A 422 puts each message next to its field, anything else above the buttons.

import { ApiError } from "./api.js";
import { h } from "./format.js";
import { OFFLINE_REASON, writes } from "./writes.js";

/** Messages for `fields` from a 422, keyed by field name; the rest go to `general`. */
export function splitFieldErrors(error, fieldNames) {
  const byField = new Map();
  const general = [];
  if (!(error instanceof ApiError) || error.status !== 422) {
    general.push(error.message);
    return { byField, general };
  }
  for (const [path, messages] of error.fieldErrors) {
    const last = path.split(".").at(-1);
    const name = fieldNames.includes(path) ? path : fieldNames.includes(last) ? last : null;
    if (name) byField.set(name, [...(byField.get(name) ?? []), ...messages]);
    else general.push(...messages.map((message) => (path ? `${path}: ${message}` : message)));
  }
  return { byField, general };
}

/** Show or clear the error line of a field (`[data-error-for=name]` inside `root`). */
export function setFieldError(root, name, messages) {
  const slot = root.querySelector(`[data-error-for="${name}"]`);
  const input = root.querySelector(`[name="${name}"]`);
  const text = messages?.length ? messages.join("; ") : "";
  if (slot) {
    slot.textContent = text;
    slot.hidden = !text;
  }
  if (input) {
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

/** A number from an input: "" → null (the field is cleared), else Number (NaN stays NaN). */
export function numberOrNull(value) {
  const text = String(value ?? "").trim();
  return text === "" ? null : Number(text);
}

/**
 * Open the form dialog. `fields`: `{ name, label, value, step, hint, type }` (type "number" unless
 * given, e.g. "text"). `onSubmit(values)`
 * resolves to close the dialog, or throws (an ApiError is shown in the form).
 */
export function openFormDialog(dialog, { title, description, fields, submitLabel, onSubmit }) {
  const names = fields.map((field) => field.name);
  const general = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, submitLabel);
  const form = h(
    "form",
    { class: "dialog-form", novalidate: true },
    h("h2", { id: "dialog-title" }, title),
    description ? h("p", { class: "dialog-description" }, description) : null,
    ...fields.map((field) =>
      h(
        "div",
        { class: "field" },
        h("label", { for: `dialog-${field.name}` }, field.label),
        h("input", {
          id: `dialog-${field.name}`,
          name: field.name,
          type: field.type ?? "number",
          inputmode: field.type ? null : "decimal",
          step: field.type ? null : field.step ?? "any",
          autocomplete: field.type ? "off" : null,
          value: field.value ?? "",
          placeholder: field.placeholder ?? "",
          "aria-describedby": `dialog-${field.name}-error`,
        }),
        h("p", {
          id: `dialog-${field.name}-error`,
          class: "field-error",
          "data-error-for": field.name,
          hidden: true,
        }),
        field.hint ? h("p", { class: "field-hint" }, field.hint) : null,
      ),
    ),
    general,
    h(
      "div",
      { class: "dialog-actions" },
      h("button", { type: "button", class: "btn", onclick: () => dialog.close() }, "Cancel"),
      submit,
    ),
  );
  // every dialog sends a write: not while offline
  const offline = h("p", { class: "field-hint", hidden: true }, OFFLINE_REASON);
  let sending = false;
  const sync = () => {
    submit.disabled = sending || !writes.allowed;
    offline.hidden = writes.allowed;
  };
  const stop = writes.onChange(sync);
  dialog.addEventListener("close", stop, { once: true });
  form.querySelector(".dialog-actions").before(offline);
  sync();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    const values = Object.fromEntries(names.map((name) => [name, form.elements[name].value]));
    for (const name of names) setFieldError(form, name, null);
    general.hidden = true;
    sending = true;
    sync();
    try {
      await onSubmit(values);
      dialog.close();
    } catch (error) {
      const { byField, general: messages } = splitFieldErrors(error, names);
      for (const [name, fieldMessages] of byField) setFieldError(form, name, fieldMessages);
      if (messages.length) {
        general.textContent = messages.join("; ");
        general.hidden = false;
      }
      const firstInvalid = form.querySelector("[aria-invalid=true]");
      firstInvalid?.focus();
    } finally {
      sending = false;
      sync();
    }
  });
  dialog.setAttribute("aria-labelledby", "dialog-title");
  dialog.replaceChildren(form);
  dialog.showModal();
  form.querySelector("input")?.focus();
}
