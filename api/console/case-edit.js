// The "Work the case" panel: status (with its disposition, or the reason
// a reopen needs), assignee, severity, title, description and the approval
// flag (only the changed fields are sent), and deleting after a second
// step that asks for the reason.

import { fill, h, uid } from "./dom.js";
import { field, section, selectOf, seg } from "./case-parts.js";
import { DISPOSITIONS, SEVERITIES, STATUSES } from "./cases.js";

/**
 * The panel, as `{ el, update(case, { force }) }`: `update` shows the
 * stored values again when they changed (or, with `force`, after a preview
 * changed nothing), never under a person's hands otherwise. `write(path,
 * opts, would, errorBox)` runs a change.
 */
export function editPanel(ctx, current, write, canWrite) {
  const statusErr = h("div", { class: "form-error" });
  const assignErr = h("div", { class: "form-error" });
  const sevErr = h("div", { class: "form-error" });
  const status = selectOf("status", STATUSES, null, { class: "edit-status" });
  const disposition = h("select", { name: "disposition", class: "edit-disposition" }, h("option", { value: "" }, "—"), DISPOSITIONS.map((d) => h("option", { value: d }, d.replaceAll("_", " "))));
  const reason = h("input", { name: "reason", type: "text", class: "edit-reason", autocomplete: "off", placeholder: "why (needed to reopen)" });
  const dispField = field("Disposition", disposition);
  const syncDisp = () => {
    dispField.hidden = !["resolved", "closed"].includes(status.value);
  };
  status.addEventListener("change", syncDisp);
  const statusForm = h(
    "form",
    {
      class: "edit-status-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const c = current();
        const body = { status: status.value };
        if (!dispField.hidden && disposition.value) body.disposition = disposition.value;
        if (reason.value.trim()) body.reason = reason.value.trim();
        const ok = await write(`/cases/${seg(c.id)}/status`, { method: "POST", body }, `move ${c.number} to ${status.value.replaceAll("_", " ")}${body.disposition ? ` (${body.disposition.replaceAll("_", " ")})` : ""}`, statusErr);
        if (ok && !ok.preview) reason.value = "";
      },
    },
    field("Status", status),
    dispField,
    field("Reason", reason),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !canWrite }, "Change status")),
    statusErr,
  );
  const assignee = h("input", { name: "assignee", type: "text", class: "edit-assignee", autocomplete: "off", placeholder: "principal; empty unassigns" });
  const assignForm = h(
    "form",
    {
      class: "edit-assign-form",
      onsubmit: (e) => {
        e.preventDefault();
        const c = current();
        const who = assignee.value.trim() || null;
        write(`/cases/${seg(c.id)}/assign`, { method: "POST", body: { assignee: who } }, who ? `assign ${c.number} to ${who}` : `unassign ${c.number}`, assignErr);
      },
    },
    field("Assignee", assignee),
    h(
      "div",
      { class: "field actions" },
      h("button", { type: "submit", disabled: !canWrite }, "Assign"),
      h("button", { type: "button", class: "secondary assign-me", disabled: !canWrite, onclick: () => ((assignee.value = ctx.session.name), assignForm.requestSubmit()) }, "Assign to me"),
    ),
    assignErr,
  );
  const severity = selectOf("severity", SEVERITIES, null, { class: "edit-severity" });
  const sevForm = h(
    "form",
    {
      class: "edit-severity-form",
      onsubmit: (e) => {
        e.preventDefault();
        const c = current();
        write(`/cases/${seg(c.id)}`, { method: "PATCH", body: { severity: severity.value } }, `set ${c.number} severity to ${severity.value}`, sevErr);
      },
    },
    field("Severity", severity),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !canWrite }, "Set severity")),
    sevErr,
  );
  // Title, description and the approval flag: only the changed fields are sent.
  const detailsErr = h("div", { class: "form-error" });
  const titleIn = h("input", { name: "title", type: "text", class: "edit-title", maxlength: "500", autocomplete: "off" });
  const descIn = h("textarea", { name: "description", rows: "3", class: "edit-description" });
  const flagId = uid("flag");
  const flag = h("input", { id: flagId, name: "requires_human_approval", type: "checkbox", class: "edit-flag" });
  const detailsForm = h(
    "form",
    {
      class: "edit-details-form",
      onsubmit: (e) => {
        e.preventDefault();
        const c = current();
        const body = {};
        if (titleIn.value.trim() && titleIn.value.trim() !== c.title) body.title = titleIn.value.trim();
        if (descIn.value !== c.description) body.description = descIn.value;
        if (flag.checked !== c.requires_human_approval) body.requires_human_approval = flag.checked;
        const names = Object.keys(body).map((k) => k.replaceAll("_", " "));
        if (!names.length) {
          fill(detailsErr, h("p", { class: "muted", role: "status", text: "Nothing changed." }));
          return;
        }
        write(`/cases/${seg(c.id)}`, { method: "PATCH", body }, `set ${c.number}'s ${names.join(", ")}`, detailsErr);
      },
    },
    field("Title", titleIn),
    field("Description", descIn),
    h("div", { class: "check" }, flag, h("label", { for: flagId }, "Write tools need a person's approval")),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !canWrite }, "Save details")),
    detailsErr,
  );
  // Deleting takes a second, explicit step and a reason.
  const deleteErr = h("div", { class: "form-error" });
  const deleteReason = h("input", { name: "reason", type: "text", class: "delete-reason", autocomplete: "off" });
  const deleteForm = h(
    "details",
    { class: "delete-case" },
    h("summary", {}, "Delete this case…"),
    h(
      "form",
      {
        onsubmit: (e) => {
          e.preventDefault();
          const c = current();
          if (!deleteReason.value.trim()) {
            fill(deleteErr, h("p", { role: "alert", text: "Say why the case is deleted." }));
            return;
          }
          write(`/cases/${seg(c.id)}?${new URLSearchParams({ reason: deleteReason.value.trim() })}`, { method: "DELETE" }, `delete ${c.number}`, deleteErr);
        },
      },
      h("p", { class: "muted", text: "The case stays readable with its timeline; its alerts are detached. This cannot be undone." }),
      field("Reason", deleteReason),
      h("div", { class: "field actions" }, h("button", { type: "submit", class: "danger confirm-delete", disabled: !canWrite }, "Delete the case")),
      deleteErr,
    ),
  );
  const el = section("case-edit", "Work the case", canWrite ? null : h("p", { class: "muted", text: "Changing a case needs the operator role." }), statusForm, assignForm, sevForm, h("details", { class: "edit-details" }, h("summary", {}, "Title, description, approval flag"), detailsForm), deleteForm);
  let shown = null;
  return {
    el,
    update(c, { force = false } = {}) {
      // Only reset the controls when the stored case changed (or a preview
      // changed nothing), not under a person's hands.
      const key = JSON.stringify([c.status, c.assignee, c.severity, c.title, c.description, c.requires_human_approval]);
      if (key === shown && !force) return;
      shown = key;
      titleIn.value = c.title;
      descIn.value = c.description;
      flag.checked = c.requires_human_approval;
      status.value = c.status;
      disposition.value = c.disposition || "";
      assignee.value = c.assignee || "";
      severity.value = c.severity;
      syncDisp();
    },
  };
}

/** Dispatches an investigation linked to the case (`POST /cases/{id}/investigations`). */
