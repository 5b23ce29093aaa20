// One case, expanded in the queue: summary, counts, edits (status with its
// disposition, assignee, severity), linked investigations, the live
// timeline (SSE, resumed with Last-Event-ID), observables, evidence with
// custody, tasks, comments and the AI summary, related cases.

import { aborted, api, bytes, problem, stream } from "./api.js";
import { ago, badge, confidence, facts, fill, h, number, randomKey, since, time, uid } from "./dom.js";
import { caseEntry } from "./case-timeline.js";
import { entityGraph } from "./graph.js";
import { DISPOSITIONS, SEVERITIES, STATUSES, act } from "./cases.js";

const OBSERVABLE_TYPES = ["ip", "domain", "url", "hash_md5", "hash_sha1", "hash_sha256", "email", "user", "host", "file", "other"];
const TLP = ["clear", "green", "amber", "amber+strict", "red"];
const PAP = ["clear", "green", "amber", "red"];
const EVIDENCE_KINDS = ["log", "network_flow", "endpoint_scan", "forensic_image", "screenshot", "file", "other"];
const CUSTODY = ["transferred", "duplicated", "reviewed", "archived"];
const TASK_STATUSES = ["todo", "in_progress", "blocked", "done"];
const REFRESH_MS = 3000;

const seg = encodeURIComponent;

function selectOf(name, values, current, attrs = {}) {
  const options = values.map((v) => {
    const o = h("option", { value: v }, v.replaceAll("_", " "));
    // The default too, so that resetting the form comes back to it.
    o.defaultSelected = v === current;
    return o;
  });
  return h("select", { name, ...attrs }, options);
}

function field(label, control, cls = "field") {
  if (!control.id) control.id = uid("f");
  return h("div", { class: cls }, h("label", { for: control.id, text: label }), control);
}

function section(cls, title, ...children) {
  const id = uid("h");
  return h("section", { class: `card case-panel ${cls}`, "aria-labelledby": id }, h("h3", { id, text: title }), ...children);
}

/**
 * Opens case `ref` (id or number) in `box`. Returns `{ id, close() }`;
 * `hooks`: `onClose` (the Collapse button), `onChanged` (a stored write:
 * the queue refreshes), `onMissing` (the case cannot be read).
 */
export function open(ctx, ref, box, hooks) {
  const controller = new AbortController();
  const signal = AbortSignal.any([ctx.signal, controller.signal]);
  const view = { ...ctx, signal };
  const handle = { id: ref, close: () => controller.abort() };

  const title = h("h2", { tabindex: "-1", class: "case-heading" }, `Loading ${ref}…`);
  const notice = h("div", { class: "case-notice detail-notice", "aria-live": "polite" });
  const summary = h("div", { class: "case-summary-body" });
  const counts = h("ul", { class: "stats case-counts", "aria-label": "Workflow counts" });
  const aiBox = h("div", { class: "ai-summary-body" });
  const aiError = h("div", { class: "form-error" });
  const canSummarize = ctx.has("operator") || ctx.has("orchestrator");
  const summarize = h(
    "button",
    {
      type: "button",
      class: "secondary summarize",
      disabled: !canSummarize,
      title: canSummarize ? "Dispatches a summarize investigation; its result becomes the AI summary" : "Needs the operator role",
      onclick: async () => {
        fill(aiError);
        summarize.disabled = true;
        try {
          const inv = await api(`/cases/${seg(current.id)}/summarize`, { method: "POST", headers: { "Idempotency-Key": randomKey() }, signal });
          fill(notice, h("p", { class: "done-note", role: "status" }, `Asked for an AI summary: `, h("a", { href: `/investigations/${seg(inv.id)}`, "data-link": true }, "the summarize investigation"), " writes it back when it completes."));
          loadInvestigations();
        } catch (e) {
          if (!aborted(e)) fill(aiError, problem(e));
        } finally {
          summarize.disabled = !canSummarize;
        }
      },
    },
    "Ask for an AI summary",
  );
  const invBox = h("div", { class: "investigations-body" });
  const timeline = h("ol", { class: "timeline case-timeline", "aria-live": "polite" });
  const liveState = h("p", { class: "live muted", "data-state": "connecting", role: "status" }, "Connecting…");
  const observables = h("div", { class: "observables-body" });
  const evidence = h("div", { class: "evidence-body" });
  const tasks = h("div", { class: "tasks-body" });
  const comments = h("div", { class: "comments-body" });
  const related = h("div", { class: "related-body" });
  const graph = h("div", { class: "graph-body" });
  const canWrite = ctx.has("operator");

  let current = null;
  const write = async (path, opts, would, errorBox) => {
    fill(errorBox);
    try {
      const answer = await act(view, notice, path, opts, would);
      if (!answer.preview) {
        hooks.onChanged();
        load();
      } else if (current) {
        // Nothing changed: the controls show the case as stored again.
        edit.update(current, { force: true });
      }
      return answer;
    } catch (e) {
      if (!aborted(e)) fill(errorBox, problem(e));
      return null;
    }
  };

  const edit = editPanel(view, () => current, write, canWrite);
  const obsForm = observableForm(() => current, write, canWrite);
  const evForm = evidenceForm(() => current, write, canWrite);
  const taskForm = newTaskForm(() => current, write, canWrite);
  const commentForm = newCommentForm(() => current, write, canWrite);

  const root = h(
    "section",
    { class: "case-detail", "aria-labelledby": title.id || (title.id = uid("case-h")), "data-case": ref },
    h("div", { class: "page-head" }, title, h("button", { type: "button", class: "secondary collapse-case", onclick: () => hooks.onClose() }, "Collapse")),
    notice,
    h(
      "div",
      { class: "case-grid" },
      h(
        "div",
        { class: "case-main" },
        section("case-summary", "Summary", summary, counts),
        section("case-ai", "AI summary", aiBox, summarize, aiError),
        section("case-graph", "Entity graph", h("p", { class: "muted small", text: "Its observables and the related cases that share them. Choose an observable to filter the queue by it, a case to open it." }), graph),
        section("case-investigations", "Linked investigations", invBox, dispatchForm(view, () => current, write, loadInvestigationsLater)),
        section("case-timeline-box", "Timeline", liveState, timeline),
      ),
      h(
        "div",
        { class: "case-side" },
        edit.el,
        section("case-observables", "Observables", observables, obsForm),
        section("case-evidence", "Evidence", evidence, evForm),
        section("case-tasks", "Tasks", tasks, taskForm),
        section("case-comments", "Comments", comments, commentForm),
        section("case-related", "Related cases", related),
      ),
    ),
  );
  fill(box, root);

  let loading = null;
  let again = false;
  async function load() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        const c = await api(`/cases/${seg(ref)}`, { signal });
        const first = !current;
        current = c;
        handle.id = c.id;
        root.dataset.case = c.id;
        root.dataset.status = c.status;
        title.textContent = `${c.number} · ${c.title}`;
        renderSummary(summary, counts, c);
        edit.update(c);
        if (first) {
          if (hooks.focus !== false) title.focus({ preventScroll: true });
          root.scrollIntoView({ block: "start" });
          follow();
        }
        const [obs, evs, ts, cs, rel] = await Promise.all([
          api(`/cases/${seg(c.id)}/observables`, { signal }),
          api(`/cases/${seg(c.id)}/evidence`, { signal }),
          api(`/cases/${seg(c.id)}/tasks`, { signal }),
          api(`/cases/${seg(c.id)}/comments`, { signal }),
          api(`/cases/${seg(c.id)}/related`, { signal }),
        ]);
        const custody = await Promise.all(evs.map((e) => api(`/cases/${seg(c.id)}/evidence/${seg(e.id)}/custody`, { signal })));
        renderObservables(observables, obs);
        renderEvidence(evidence, evs, custody, (e) => custodyForm(c, e, write, canWrite), (e) => downloader(c, e, signal));
        renderTasks(tasks, ts, (t, status, errorBox) =>
          write(`/cases/${seg(c.id)}/tasks/${seg(t.id)}`, { method: "PATCH", body: { status } }, `move task "${t.title}" to ${status.replaceAll("_", " ")}`, errorBox),
          canWrite,
        );
        renderComments(comments, aiBox, cs);
        renderRelated(related, rel);
        if (!same(graph, [c.number, c.title, obs.map((o) => [o.type, o.value]), rel])) {
          fill(
            graph,
            obs.length
              ? entityGraph(c, obs, rel, {
                  onObservable: (o) => ctx.navigate(`/cases?${new URLSearchParams({ observable: o.value })}`),
                  onCase: (r) => ctx.navigate(`/cases?${new URLSearchParams({ selectedCase: r.id })}`),
                })
              : h("p", { class: "muted", text: "No observables yet, so nothing to draw." }),
          );
        }
        await loadInvestigations();
      } catch (e) {
        if (aborted(e)) return;
        if (!current) {
          fill(box, problem(e, `Case ${ref}: `));
          hooks.onMissing();
        } else fill(notice, problem(e, "Refreshing the case: "));
      }
    })();
    await loading;
    loading = null;
    if (again && !signal.aborted) {
      again = false;
      load();
    }
  }

  function loadInvestigationsLater() {
    setTimeout(() => loadInvestigations(), 0);
  }

  async function loadInvestigations() {
    if (!current) return;
    try {
      const page = await api(`/cases/${seg(current.id)}/investigations`, { signal });
      renderInvestigations(invBox, page.items);
    } catch (e) {
      if (!aborted(e)) fill(invBox, problem(e));
    }
  }

  // The timeline, live: every entry once, in seq order; a dropped
  // connection resumes after the last seq shown.
  let pending = null;
  function follow() {
    const seen = new Set();
    stream(`/cases/${seg(current.id)}/timeline/stream`, {
      signal,
      onEvent: (kind, data) => {
        if (!data || typeof data.seq !== "number" || seen.has(data.seq)) return;
        seen.add(data.seq);
        timeline.appendChild(caseEntry(data));
        timeline.dataset.lastSeq = String(data.seq);
        // Whatever the entry changed, the panels catch up (once per burst).
        clearTimeout(pending);
        pending = setTimeout(() => {
          if (!signal.aborted && data.seq > current.last_seq) load();
        }, 250);
      },
      onState: (state, err) => {
        liveState.dataset.state = state;
        liveState.textContent = {
          live: "Live: new entries appear as they are written.",
          reconnecting: `Reconnecting${err ? ` (${err.detail})` : ""}…`,
          stopped: `Stopped${err ? `: ${err.detail}` : ""}.`,
          ended: "This case's timeline has ended (deleted or merged).",
        }[state] || state;
      },
    });
  }

  const timer = setInterval(() => {
    if (!signal.aborted && !ctx.down()) loadInvestigations();
  }, REFRESH_MS);
  signal.addEventListener("abort", () => {
    clearInterval(timer);
    clearTimeout(pending);
  });
  load();
  return handle;
}

/**
 * Whether `box` already shows `data` (remembering it otherwise): unchanged
 * records are not redrawn, so open folds, focus and half-filled forms stay.
 */
function same(box, data) {
  const sig = JSON.stringify(data);
  if (box.dataset.sig === sig) return true;
  box.dataset.sig = sig;
  return false;
}

function renderSummary(box, counts, c) {
  fill(
    box,
    c.showcase ? h("p", { class: "notice small", text: "Showcase case (dummy mode): actions answer a preview." }) : null,
    c.deleted_at ? h("p", { class: "notice", text: "This case was deleted." }) : null,
    facts([
      ["Status", [badge(c.status), " for ", since(new Date(Date.now() - c.time_in_status_ms).toISOString()), c.disposition ? [" · ", badge(c.disposition, "disposition")] : null]],
      ["Severity", badge(c.severity, "severity")],
      ["Assignee", c.assignee || "unassigned"],
      ["Confidence", [confidence(c.confidence), c.confidence_reason ? h("span", { class: "muted", text: ` · ${c.confidence_reason}` }) : null]],
      ["Needs human approval", c.requires_human_approval ? "yes" : "no"],
      ["Tags", c.tags.length ? c.tags.join(", ") : "—"],
      ["Created", [time(c.created_at), ` by ${c.created_by}`]],
      ["Last activity", ago(c.updated_at)],
      ["Alerts", c.alert_ids.length ? c.alert_ids.join(", ") : "none"],
    ]),
    c.description ? h("p", { class: "case-description", text: c.description }) : null,
  );
  const item = (label, n, key) => h("li", { class: "stat", "data-count": key }, h("span", { class: "stat-count", text: number(n) }), h("span", { class: "stat-label", text: label }));
  fill(
    counts,
    item("observables", c.counts.observables, "observables"),
    item("evidence", c.counts.evidence, "evidence"),
    item("notes", c.counts.comments, "comments"),
    item(`tasks (${c.counts.open_tasks} open)`, c.counts.tasks, "tasks"),
  );
}

function editPanel(ctx, current, write, canWrite) {
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
function dispatchForm(ctx, current, write, dispatched) {
  const err = h("div", { class: "form-error" });
  const agents = ctx.session.mode ? ctx.session.mode.agents : [];
  const agent = selectOf("agent_id", agents, agents.includes("triage") ? "triage" : agents[0]);
  const prompt = h("textarea", { name: "prompt", rows: "2", class: "dispatch-prompt" });
  const can = ctx.has("operator") || ctx.has("orchestrator");
  const form = h(
    "form",
    {
      class: "case-dispatch",
      onsubmit: async (e) => {
        e.preventDefault();
        const c = current();
        if (!c) return;
        if (!prompt.value.trim()) {
          fill(err, h("p", { role: "alert", text: "Say what to investigate." }));
          return;
        }
        const ok = await write(`/cases/${seg(c.id)}/investigations`, { method: "POST", body: { agent_id: agent.value, prompt: prompt.value.trim() }, headers: { "Idempotency-Key": randomKey() } }, `dispatch ${agent.value} for ${c.number}`, err);
        if (ok && !ok.preview) {
          form.reset();
          dispatched();
        }
      },
    },
    h("p", { class: "form-title", text: "Dispatch an investigation for this case" }),
    field("Agent", agent),
    field("What to investigate", prompt, "field grow"),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !can || agents.length === 0 }, "Dispatch")),
    err,
  );
  return h("details", { class: "dispatch-case" }, h("summary", {}, "Dispatch an investigation…"), form);
}

function renderInvestigations(box, items) {
  if (!items.length) {
    fill(box, h("p", { class: "muted", text: "No investigation is linked to this case yet." }));
    return;
  }
  fill(
    box,
    h(
      "ul",
      { class: "receipts" },
      items.map((i) =>
        h(
          "li",
          { class: "receipt", "data-id": i.id, "data-status": i.status, "data-phase": i.phase || "" },
          h("p", {}, h("a", { href: `/investigations/${seg(i.id)}`, "data-link": true, class: "mono" }, `…${i.id.slice(-8)}`), " ", badge(i.status), " ", i.phase ? badge(i.phase, "phase") : null),
          h("p", { class: "muted small" }, `agent ${i.agent_id} · by ${i.requested_by} · confidence ${confidence(i.confidence)} · `, ago(i.updated_at)),
          i.phase === "awaiting_approval" ? h("p", {}, "Waits on an approval: ", h("a", { href: "/approvals", "data-link": true }, "open the inbox")) : null,
        ),
      ),
    ),
  );
}

function renderObservables(box, items) {
  if (same(box, items)) return;
  if (!items.length) {
    fill(box, h("p", { class: "muted", text: "No observables yet." }));
    return;
  }
  fill(
    box,
    h(
      "ul",
      { class: "observables" },
      items.map((o) =>
        h(
          "li",
          { class: "observable", "data-type": o.type, "data-value": o.value },
          h("p", {}, h("code", { text: o.type }), " ", h("strong", { class: "obs-value", text: o.value }), " ", h("span", { class: `badge tlp tlp-${o.tlp.replace("+", "-")}`, text: `TLP:${o.tlp.toUpperCase()}` }), " ", h("span", { class: "badge pap", text: `PAP:${o.pap.toUpperCase()}` })),
          h("p", { class: "muted small" }, `${o.sightings} sighting${o.sightings === 1 ? "" : "s"}`, o.source ? ` · from ${o.source}` : "", o.tags.length ? ` · ${o.tags.join(", ")}` : "", " · last seen ", ago(o.last_seen)),
          o.enrichment && Object.keys(o.enrichment).length ? h("details", { class: "fold" }, h("summary", {}, "enrichment"), h("pre", { class: "json", text: JSON.stringify(o.enrichment, null, 2) })) : null,
        ),
      ),
    ),
  );
}

function observableForm(current, write, canWrite) {
  const err = h("div", { class: "form-error" });
  const type = selectOf("type", OBSERVABLE_TYPES, "ip");
  const value = h("input", { name: "value", type: "text", required: true, autocomplete: "off" });
  const source = h("input", { name: "source", type: "text", autocomplete: "off", placeholder: "optional" });
  const tlp = selectOf("tlp", TLP, "amber");
  const pap = selectOf("pap", PAP, "amber");
  const form = h(
    "form",
    {
      class: "add-observable",
      onsubmit: async (e) => {
        e.preventDefault();
        const c = current();
        if (!c || !value.value.trim()) return;
        const body = { type: type.value, value: value.value.trim(), tlp: tlp.value, pap: pap.value };
        if (source.value.trim()) body.source = source.value.trim();
        const ok = await write(`/cases/${seg(c.id)}/observables`, { method: "POST", body }, `add ${body.type} ${body.value} to ${c.number}`, err);
        if (ok && !ok.preview) form.reset();
      },
    },
    h("p", { class: "form-title", text: "Add an observable" }),
    field("Type", type),
    field("Value", value, "field grow"),
    field("Source", source),
    field("TLP", tlp),
    field("PAP", pap),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !canWrite }, "Add observable")),
    err,
  );
  return form;
}

function renderEvidence(box, items, custody, handoff, download) {
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
function downloader(c, e, signal) {
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

function custodyForm(c, e, write, canWrite) {
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

function evidenceForm(current, write, canWrite) {
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

function renderTasks(box, items, move, canWrite) {
  if (same(box, items)) return;
  if (!items.length) {
    fill(box, h("p", { class: "muted", text: "No tasks yet." }));
    return;
  }
  fill(
    box,
    h(
      "ul",
      { class: "tasks" },
      items.map((t) => {
        const err = h("div", { class: "form-error" });
        const sel = selectOf("status", TASK_STATUSES, t.status, { "aria-label": `Status of task ${t.title}`, disabled: !canWrite });
        sel.addEventListener("change", async () => {
          const ok = await move(t, sel.value, err);
          if (!ok || ok.preview) sel.value = t.status;
        });
        return h(
          "li",
          { class: "task", "data-id": t.id, "data-status": t.status },
          h("p", {}, h("strong", { text: t.title }), ` · ${t.priority} priority`, t.assignee ? ` · ${t.assignee}` : "", t.due_at ? [" · due ", time(t.due_at)] : null),
          sel,
          err,
        );
      }),
    ),
  );
}

function newTaskForm(current, write, canWrite) {
  const err = h("div", { class: "form-error" });
  const title = h("input", { name: "title", type: "text", required: true, autocomplete: "off" });
  const form = h(
    "form",
    {
      class: "add-task",
      onsubmit: async (e) => {
        e.preventDefault();
        const c = current();
        if (!c || !title.value.trim()) return;
        const ok = await write(`/cases/${seg(c.id)}/tasks`, { method: "POST", body: { title: title.value.trim() } }, `add task "${title.value.trim()}" to ${c.number}`, err);
        if (ok && !ok.preview) form.reset();
      },
    },
    field("New task", title, "field grow"),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !canWrite }, "Add task")),
    err,
  );
  return form;
}

function renderComments(box, aiBox, items) {
  if (same(box, items)) return;
  const ai = items.filter((c) => c.kind === "ai_summary");
  if (ai.length) {
    const last = ai[ai.length - 1];
    fill(aiBox, h("div", { class: "ai-summary", "data-id": last.id }, h("p", { class: "ai-summary-text", text: last.body }), h("p", { class: "muted small" }, `by ${last.author} · `, time(last.created_at))));
  } else fill(aiBox, h("p", { class: "muted", text: "No AI summary yet: a summarize investigation writes one." }));
  const notes = items.filter((c) => c.kind !== "ai_summary");
  if (!notes.length) {
    fill(box, h("p", { class: "muted", text: "No comments yet." }));
    return;
  }
  fill(
    box,
    h(
      "ul",
      { class: "comments" },
      notes.map((c) =>
        h(
          "li",
          { class: `comment ${c.author_kind}`, "data-author-kind": c.author_kind },
          h("p", { class: "small" }, h("strong", { text: c.author }), " ", h("span", { class: `badge author-${c.author_kind}`, text: c.author_kind === "machine" ? "machine note" : "analyst" }), " · ", time(c.created_at)),
          h("p", { class: "comment-body", text: c.body }),
        ),
      ),
    ),
  );
}

function newCommentForm(current, write, canWrite) {
  const err = h("div", { class: "form-error" });
  const body = h("textarea", { name: "body", rows: "2", required: true });
  const form = h(
    "form",
    {
      class: "add-comment",
      onsubmit: async (e) => {
        e.preventDefault();
        const c = current();
        if (!c || !body.value.trim()) return;
        const ok = await write(`/cases/${seg(c.id)}/comments`, { method: "POST", body: { body: body.value.trim() } }, `add a note to ${c.number}`, err);
        if (ok && !ok.preview) form.reset();
      },
    },
    field("Note", body, "field grow"),
    h("div", { class: "field actions" }, h("button", { type: "submit", disabled: !canWrite }, "Add note")),
    err,
  );
  return form;
}

function renderRelated(box, items) {
  if (same(box, items)) return;
  if (!items.length) {
    fill(box, h("p", { class: "muted", text: "No other case shares two or more observables with this one." }));
    return;
  }
  fill(
    box,
    h(
      "ul",
      { class: "related" },
      items.map((r) =>
        h(
          "li",
          { "data-id": r.id },
          h("a", { href: `/cases?selectedCase=${seg(r.id)}`, "data-link": true }, `${r.number} · ${r.title}`),
          " ",
          badge(r.severity, "severity"),
          " ",
          badge(r.status),
          h("p", { class: "muted small", text: `shares ${r.shared.map((s) => `${s.type} ${s.value}`).join(", ")} · score ${r.score.toFixed(2)}` }),
        ),
      ),
    ),
  );
}
