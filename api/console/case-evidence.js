// The evidence panel: each item with its hash, size and who collected it,
// a download that checks the SHA-256 again, the chain of custody with a
// handoff form per item, and the add form for text content.

import { aborted, bytes, problem } from "./api.js";
import { fill, h, number, time } from "./dom.js";
import { field, same, selectOf, seg } from "./case-parts.js";

const EVIDENCE_KINDS = ["log", "network_flow", "endpoint_scan", "forensic_image", "screenshot", "file", "other"];
const CUSTODY = ["transferred", "duplicated", "reviewed", "archived"];

/**
 * Draws `items` with their `custody` records (one list per item) into
 * `box`, unless it shows them already; `handoff(e)` and `download(e)` build
 * an item's custody form and download button.
 */
export function renderEvidence(box, items, custody, handoff, download) {
  if (same(box, [items, custody])) return;
  if (!items.length) {
    fill(box, h("p", { class: "muted", text: "No evidence yet." }));
    return;
  }
  fill(
    box,
    h(
      "ul",
      { class: "evidence" },
      items.map((e, i) =>
        h(
          "li",
          { class: "evidence-item", "data-id": e.id, "data-name": e.name },
          h("p", {}, h("strong", { text: e.name }), ` · ${e.kind.replaceAll("_", " ")}`, e.size_bytes !== null ? ` · ${number(e.size_bytes)} bytes` : "", e.stored ? " · stored" : e.uri ? ` · kept at ${e.uri}` : ""),
          h("p", { class: "mono small sha", text: `sha256 ${e.sha256}` }),
          h("p", { class: "muted small" }, `collected by ${e.collected_by} `, time(e.collected_at)),
          e.stored ? download(e) : null,
          h(
            "details",
            { class: "fold custody", open: custody[i].length > 0 },
            h("summary", {}, `Chain of custody (${custody[i].length})`),
            h(
              "ol",
              { class: "custody-list" },
              custody[i].map((r) =>
                h("li", { "data-action": r.action }, h("strong", { text: r.action }), r.from || r.to ? ` ${r.from || "—"} -> ${r.to || "—"}` : "", ` · ${r.actor} · `, time(r.at), r.note ? h("span", { class: "muted", text: ` · ${r.note}` }) : null),
              ),
            ),
            handoff(e),
          ),
        ),
      ),
    ),
  );
}

/**
 * A Download button for stored content: the server re-hashes it before
 * answering (`500 integrity_mismatch` otherwise), and the console checks
 * the bytes' SHA-256 against the recorded one again before saving them.
 */

/**
 * A Download button for stored content: the server re-hashes it before
 * answering (`500 integrity_mismatch` otherwise), and the console checks
 * the bytes' SHA-256 against the recorded one again before saving them.
 */
export function downloader(c, e, signal) {
  const out = h("span", { class: "download-check small", role: "status" });
  const button = h(
    "button",
    {
      type: "button",
      class: "secondary small download",
      "aria-label": `Download ${e.name}`,
      onclick: async () => {
        fill(out, "checking…");
        try {
          const got = await bytes(`/cases/${seg(c.id)}/evidence/${seg(e.id)}/content`, { signal });
          const digest = await crypto.subtle.digest("SHA-256", got.bytes);
          const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
          if (hex !== e.sha256) {
            out.dataset.verified = "false";
            fill(out, h("strong", { class: "bad", text: `hash mismatch: got ${hex}, recorded ${e.sha256}; not saved` }));
            return;
          }
          out.dataset.verified = "true";
          fill(out, h("span", { class: "ok", text: "SHA-256 re-checked: matches" }));
          const url = URL.createObjectURL(new Blob([got.bytes], { type: "application/octet-stream" }));
          const a = h("a", { href: url, download: e.name, hidden: true });
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10000);
        } catch (err) {
          if (aborted(err)) return;
          out.dataset.verified = "false";
          fill(out, problem(err));
        }
      },
    },
    "Download",
  );
  return h("p", { class: "download-row" }, button, " ", out);
}

export function custodyForm(c, e, write, canWrite) {
  const err = h("div", { class: "form-error" });
  const action = selectOf("action", CUSTODY, "transferred");
  const to = h("input", { name: "to", type: "text", autocomplete: "off", placeholder: "who receives it" });
  const note = h("input", { name: "note", type: "text", autocomplete: "off" });
  return h(
    "form",
    {
      class: "custody-form",
      onsubmit: (ev) => {
        ev.preventDefault();
        const body = { action: action.value };
        if (to.value.trim()) body.to = to.value.trim();
        if (note.value.trim()) body.note = note.value.trim();
        write(`/cases/${seg(c.id)}/evidence/${seg(e.id)}/custody`, { method: "POST", body }, `record ${body.action} of ${e.name}${body.to ? ` to ${body.to}` : ""}`, err);
      },
    },
    field("Action", action),
    field("To", to),
    field("Note", note),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !canWrite }, "Record handoff")),
    err,
  );
}

export function evidenceForm(current, write, canWrite) {
  const err = h("div", { class: "form-error" });
  const name = h("input", { name: "name", type: "text", required: true, autocomplete: "off" });
  const kind = selectOf("kind", EVIDENCE_KINDS, "log");
  const content = h("textarea", { name: "content_text", rows: "3", required: true });
  const form = h(
    "form",
    {
      class: "add-evidence",
      onsubmit: async (e) => {
        e.preventDefault();
        const c = current();
        if (!c || !name.value.trim()) return;
        const body = { name: name.value.trim(), kind: kind.value, content_text: content.value };
        const ok = await write(`/cases/${seg(c.id)}/evidence`, { method: "POST", body }, `add evidence ${body.name} to ${c.number}`, err);
        if (ok && !ok.preview) form.reset();
      },
    },
    h("p", { class: "form-title", text: "Add evidence (text content, hashed by the server)" }),
    field("Name", name),
    field("Kind", kind),
    field("Content", content, "field grow"),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !canWrite }, "Add evidence")),
    err,
  );
  return form;
}
