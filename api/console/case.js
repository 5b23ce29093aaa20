// One case, expanded in the queue: summary, counts, edits (status with its
// disposition, assignee, severity), linked investigations as live receipt
// cards, the live timeline (SSE, resumed with Last-Event-ID), observables,
// evidence with custody, tasks, comments and the AI summary, related cases.
// The panels live in case-edit.js, case-receipts.js, case-evidence.js and
// case-records.js; this module opens the case, reads it and wires them up.

import { aborted, api, problem, stream } from "./api.js";
import { ago, badge, confidence, facts, fill, h, number, randomKey, since, time, uid } from "./dom.js";
import { caseEntry } from "./case-timeline.js";
import { entityGraph } from "./graph.js";
import { act } from "./cases.js";
import { same, section, seg } from "./case-parts.js";
import { editPanel } from "./case-edit.js";
import { dispatchForm, receipts } from "./case-receipts.js";
import { custodyForm, downloader, evidenceForm, renderEvidence } from "./case-evidence.js";
import { newCommentForm, newTaskForm, observableForm, renderComments, renderObservables, renderRelated, renderTasks } from "./case-records.js";

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
  const runs = receipts(signal);
  const invError = h("div", { class: "form-error" });
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
        section("case-investigations", "Linked investigations", runs.el, invError, dispatchForm(view, () => current, write, loadInvestigationsLater)),
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
        if (first) await loadInvestigations();
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

  // Which runs are linked: on opening, after a dispatch, and when an entry
  // names a run; each card then follows its run's own stream.
  async function loadInvestigations() {
    if (!current) return;
    try {
      const page = await api(`/cases/${seg(current.id)}/investigations`, { signal });
      fill(invError);
      runs.update(page.items);
    } catch (e) {
      if (!aborted(e)) fill(invError, problem(e));
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
        const run = data.payload && data.payload.investigation_id;
        if (run) {
          if (data.kind === "investigation_linked") loadInvestigations();
          else runs.refresh(run);
        }
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

  signal.addEventListener("abort", () => clearTimeout(pending));
  load();
  return handle;
}

/**
 * Whether `box` already shows `data` (remembering it otherwise): unchanged
 * records are not redrawn, so open folds, focus and half-filled forms stay.
 */

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
