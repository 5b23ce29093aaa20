// Pieces every panel of the case detail is built from: labelled fields,
// selects, panel sections, and the "unchanged data is not redrawn" check.

import { h, uid } from "./dom.js";

/** A path segment. */
export const seg = encodeURIComponent;

/** A `<select>` of `values` (shown with spaces for underscores), `current` chosen. */
export function selectOf(name, values, current, attrs = {}) {
  const options = values.map((v) => {
    const o = h("option", { value: v }, v.replaceAll("_", " "));
    // The default too, so that resetting the form comes back to it.
    o.defaultSelected = v === current;
    return o;
  });
  return h("select", { name, ...attrs }, options);
}

/** `control` with its label. */
export function field(label, control, cls = "field") {
  if (!control.id) control.id = uid("f");
  return h("div", { class: cls }, h("label", { for: control.id, text: label }), control);
}

/** A panel of the case detail, headed `title`. */
export function section(cls, title, ...children) {
  const id = uid("h");
  return h("section", { class: `card case-panel ${cls}`, "aria-labelledby": id }, h("h3", { id, text: title }), ...children);
}

/**
 * Whether `box` already shows `data` (remembering it otherwise): unchanged
 * records are not redrawn, so open folds, focus and half-filled forms stay.
 */
export function same(box, data) {
  const sig = JSON.stringify(data);
  if (box.dataset.sig === sig) return true;
  box.dataset.sig = sig;
  return false;
}
