// One investigation: summary, result, review, actions, audit verification
// and the live timeline of every event.

import { ApiError, aborted, api, problem, stream } from "./api.js";
import { add, badge, confidence, cost, duration, facts, fill, h, number, time, uid } from "./dom.js";
import { approvalCard, ticker } from "./approvals.js";
import { timelineItem } from "./timeline.js";

export async function render(ctx) {
  const id = ctx.id;
  document.title = `Investigation ${id} · Vigil`;
  const { root } = ctx;
  const parts = {
    summary: h("section", { class: "card summary", "aria-label": "Summary" }),
    prompt: h("section", { "aria-labelledby": "prompt-h" }),
    approval: h("section", { class: "pending-approval", "aria-label": "Pending approval" }),
    tree: h("section", { class: "delegation", "aria-labelledby": "tree-h" }),
    result: h("section", { class: "result", "aria-live": "polite" }),
    review: h("section", { class: "review" }),
    actions: h("section", { class: "actions-box" }),
    audit: h("section", { class: "audit", "aria-labelledby": "audit-h" }),
    live: h("p", { class: "live muted", role: "status" }, "Connecting…"),
    timeline: h("ol", { class: "timeline", "aria-label": "Events in order" }),
  };
  add(root,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/investigations", "data-link": true }, "Investigations"), " › ", h("span", { class: "mono", text: id })),
    h("h1", { tabindex: "-1" }, "Investigation ", h("span", { class: "mono", text: id })),
    h("div", { class: "detail-grid" }, h("div", { class: "detail-main" }, parts.summary, parts.prompt, parts.approval, parts.tree, parts.result, parts.review, parts.actions), h("div", { class: "detail-side" }, parts.audit)),
    h("section", { class: "timeline-box", "aria-labelledby": "timeline-h" }, h("h2", { id: "timeline-h" }, "Timeline"), parts.live, parts.timeline),
  );

  const state = { detail: null, keys: {}, reviewEvent: null, lastSeq: 0 };
  const load = async () => {
    const d = await api(`/investigations/${encodeURIComponent(id)}`, { signal: ctx.signal });
    state.detail = d;
    show(ctx, parts, state);
    return d;
  };
  await load();
  ticker(ctx);
  verify(ctx, parts.audit);

  // Every event refreshes the detail (debounced): status, result and
  // allowed actions follow the log.
  let pendingRefresh = null;
  const refreshSoon = () => {
    if (pendingRefresh) return;
    pendingRefresh = setTimeout(async () => {
      pendingRefresh = null;
      try {
        await load();
        verify(ctx, parts.audit);
        ctx.refreshBadge();
      } catch (e) {
        if (!aborted(e)) ctx.alertError(e, "Refreshing the investigation");
      }
    }, 250);
  };
  ctx.signal.addEventListener("abort", () => clearTimeout(pendingRefresh));
  // Durations and leases move while it runs.
  ctx.every(() => {
    if (state.detail && state.detail.status === "pending") refreshSoon();
  }, 5000);

  // A finished run's stream ends after its last event. A finished run can
  // still grow (a review, a rescue, a note): when its log has, the timeline
  // follows it again from where it was.
  let ended = false;
  ctx.every(async () => {
    if (!ended) return;
    try {
      const d = await load();
      if (d.last_seq > state.lastSeq) follow();
    } catch (e) {
      if (!aborted(e)) ctx.alertError(e, "Refreshing the investigation");
    }
  }, 5000);

  const follow = () => {
    ended = false;
    stream(`/investigations/${encodeURIComponent(id)}/events/stream`, {
      signal: ctx.signal,
      lastId: state.lastSeq > 0 ? state.lastSeq : null,
      onEvent: (_kind, ev) => {
        if (!ev || typeof ev.seq !== "number" || ev.seq <= state.lastSeq) return;
        if (ev.seq !== state.lastSeq + 1) {
          ctx.alertError(new Error(`timeline gap: expected seq ${state.lastSeq + 1}, got ${ev.seq}`));
        }
        state.lastSeq = ev.seq;
        add(parts.timeline, timelineItem(ev));
        parts.timeline.dataset.lastSeq = String(ev.seq);
        if (ev.kind === "review_required") {
          state.reviewEvent = ev;
          if (state.detail) show(ctx, parts, state);
        }
        refreshSoon();
      },
      onState: (s, err) => {
        parts.live.dataset.state = s;
        if (s === "live") parts.live.textContent = "Live: new events appear as they are written.";
        else if (s === "ended") {
          ended = true;
          parts.live.textContent = "Finished: every event is shown.";
        }
        else if (s === "reconnecting") {
          parts.live.textContent = `Reconnecting; the timeline resumes after event ${state.lastSeq}${err ? ` (${err.code}: ${err.detail})` : ""}…`;
        } else fill(parts.live, problem(err, "Live updates stopped: "));
      },
    });
  };
  follow();
}

function show(ctx, parts, state) {
  const d = state.detail;
  fill(
    parts.summary,
    h("div", { class: "summary-head" }, badge(d.status), d.phase ? badge(d.phase, "phase") : null),
    facts([
      ["Agent", d.agent_id],
      ["Requested by", d.requested_by],
      ["Case", d.case_ref],
      ["Created", timeText(d.created_at)],
      ["Started", timeText(d.started_at)],
      ["Finished", d.finished_at ? timeText(d.finished_at) : null],
      ["Duration (approvals and review included)", duration(d.duration_ms)],
      ["Confidence", confidence(d.confidence)],
      ["Attempt", `${d.attempt} (${d.claims} ${d.claims === 1 ? "claim" : "claims"})`],
      ["Model turns", d.lost_turns ? `${d.model_turns} (${d.lost_turns} lost: no answer)` : String(d.model_turns)],
      ["Mode", d.mode ? `claimed in ${d.mode.replaceAll("_", " ")} mode` : null],
      ["Tokens", `${number(d.input_tokens)} in · ${number(d.output_tokens)} out`],
      ["Cost", cost(d.cost_usd)],
      ["Lease", d.lease.owner ? `${d.lease.owner} (epoch ${d.lease.epoch})` : null],
      ["Trace", d.trace_id ? h("span", { class: "mono trace-id", text: d.trace_id }) : null],
    ]),
    d.error ? h("p", { class: "notice error-text" }, h("strong", {}, d.status === "review_required" ? "Why: " : "Error: "), d.error) : null,
  );
  if (state.keys.prompt !== d.prompt) {
    state.keys.prompt = d.prompt;
    fill(parts.prompt, h("h2", { id: "prompt-h" }, "Prompt"), h("blockquote", { class: "prompt", text: d.prompt }));
  }
  showTree(parts.tree, d);
  showApproval(ctx, parts.approval, state);
  showResult(parts.result, d);
  const reviewKey = d.status === "review_required" ? `review:${state.reviewEvent ? state.reviewEvent.seq : 0}` : "";
  if (state.keys.review !== reviewKey) {
    state.keys.review = reviewKey;
    fill(parts.review);
    if (reviewKey) add(parts.review, ...reviewSection(ctx, d, state.reviewEvent));
  }
  const actionsKey = `${d.status}`;
  if (state.keys.actions !== actionsKey) {
    state.keys.actions = actionsKey;
    fill(parts.actions, ...actionsSection(ctx, d));
  }
}

/** The delegation tree around the investigation: the parent that
 * delegated it, and the children it delegated with their state. */
function showTree(box, d) {
  const children = d.children || [];
  if (!d.parent && children.length === 0) {
    fill(box);
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const link = (id) => h("a", { href: `/investigations/${encodeURIComponent(id)}`, "data-link": true, class: "mono", text: id });
  fill(
    box,
    h("h2", { id: "tree-h" }, "Delegation"),
    d.parent
      ? h("p", { class: "parent" }, "Delegated by ", link(d.parent.id), ` in call ${d.parent.tool_call_id} (depth ${d.parent.depth})`)
      : null,
    children.length
      ? h("ul", { class: "children", "aria-label": "Delegated investigations" },
        ...children.map((c) => h("li", { class: "child", "data-child": c.id },
          link(c.id), " ", h("span", { text: c.agent_id }), " ", badge(c.status), c.phase ? badge(c.phase, "phase") : null,
          c.confidence != null ? h("span", { class: "muted", text: ` confidence ${confidence(c.confidence)}` }) : null)))
      : null,
  );
}

function timeText(iso) {
  return iso ? time(iso) : null;
}

async function showApproval(ctx, box, state) {
  const a = state.detail.pending_approval;
  const key = a ? a.id : "";
  if (state.keys.approval === key) return;
  state.keys.approval = key;
  fill(box);
  if (!a) return;
  add(box, h("h2", {}, "Waiting for an approver"));
  if (ctx.has("approver") || ctx.has("operator") || ctx.has("auditor")) {
    try {
      const d = await api(`/approvals/${encodeURIComponent(a.id)}`, { signal: ctx.signal });
      if (state.keys.approval === key) add(box, approvalCard(d, ctx));
      return;
    } catch (e) {
      if (aborted(e)) return;
      add(box, problem(e, "Reading the approval request: "));
    }
  }
  add(box,
    h(
      "div",
      { class: "card approval" },
      h("p", {}, h("code", { text: a.action }), " waits for an approver. ", h("span", { class: "countdown", "data-expires": a.expires_at })),
      h("p", { class: "rationale", text: a.rationale || "" }),
    ),
  );
}

function showResult(box, d) {
  const r = d.result;
  const key = JSON.stringify(r);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  fill(box);
  if (!r) return;
  add(box, h("h2", {}, "Result"));
  const isDefault = r && typeof r === "object" && typeof r.summary === "string";
  if (!isDefault) {
    add(box, h("pre", { class: "json", text: JSON.stringify(r, null, 2) }));
    return;
  }
  const list = (items) => (Array.isArray(items) && items.length ? h("ul", {}, items.map((i) => h("li", { text: typeof i === "string" ? i : JSON.stringify(i) }))) : h("p", { class: "muted", text: "None." }));
  const c = typeof r.confidence === "number" ? r.confidence : d.confidence;
  add(box,
    h(
      "div",
      { class: "card result-card" },
      h("h3", {}, "Summary"),
      h("p", { class: "result-summary", text: r.summary }),
      h("h3", {}, "Key findings"),
      h("div", { class: "key-findings" }, list(r.key_findings)),
      h("h3", {}, "Recommended next steps"),
      h("div", { class: "next-steps" }, list(r.recommended_next_steps)),
      h("h3", {}, "Confidence"),
      c === null || c === undefined
        ? h("p", { class: "muted", text: "Not given." })
        : h("p", { class: "result-confidence" }, h("meter", { min: "0", max: "1", value: String(c), "aria-label": "Confidence" }), ` ${confidence(c)}`),
    ),
  );
}

function reviewSection(ctx, d, event) {
  const raw = d.result_raw ?? (event ? event.payload.result_raw : null) ?? "";
  const errors = event ? event.payload.errors || [] : [];
  const reason = event ? event.payload.reason : d.error;
  let parsed = null;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = null;
  }
  const rawIsObject = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed);
  const head = [
    h("h2", {}, "Review required"),
    reason ? h("p", { class: "notice", text: reason }) : null,
    h(
      "div",
      { class: "side-by-side" },
      h("div", {}, h("h3", {}, "The model's output (result_raw)"), h("pre", { class: "json raw", text: raw || "(none)" })),
      h(
        "div",
        {},
        h("h3", {}, "Schema errors"),
        errors.length ? h("ul", { class: "schema-errors" }, errors.map((e) => h("li", { text: e }))) : h("p", { class: "muted", text: "None recorded." }),
      ),
    ),
  ];
  if (!ctx.has("operator")) {
    return [...head, h("p", { class: "muted" }, "Grading a result needs the operator role.")];
  }
  const editorId = uid("result");
  const noteId = uid("note");
  const hintId = uid("hint");
  const editor = h("textarea", { id: editorId, rows: "12", class: "mono", spellcheck: "false", "aria-describedby": hintId, value: rawIsObject ? JSON.stringify(parsed, null, 2) : raw });
  const note = h("input", { id: noteId, type: "text", maxlength: "4000", autocomplete: "off" });
  const out = h("div", { class: "form-error" });
  const send = async (body, button) => {
    fill(out);
    button.disabled = true;
    try {
      if (note.value.trim()) body.note = note.value.trim();
      await api(`/investigations/${encodeURIComponent(d.id)}/review`, { method: "POST", body, signal: ctx.signal });
      fill(out, h("p", { class: "ok", role: "status" }, "Reviewed: the investigation is completed."));
    } catch (e) {
      if (!aborted(e)) fill(out, problem(e, "Review refused: "));
    } finally {
      button.disabled = false;
    }
  };
  const acceptWhy = uid("accept-why");
  const accept = h(
    "button",
    {
      type: "button",
      class: "secondary",
      disabled: !rawIsObject,
      "aria-describedby": rawIsObject ? null : acceptWhy,
      onclick: (e) => send({ accept_raw: true }, e.currentTarget),
    },
    "Accept the raw output",
  );
  const submit = h(
    "button",
    {
      type: "button",
      onclick: (e) => {
        fill(out);
        let result;
        try {
          result = JSON.parse(editor.value);
        } catch (err) {
          fill(out, h("div", { class: "problem", role: "alert" }, h("p", {}, "The corrected result is not valid JSON: ", err.message)));
          editor.focus();
          return;
        }
        if (result === null || typeof result !== "object" || Array.isArray(result)) {
          fill(out, h("div", { class: "problem", role: "alert" }, h("p", {}, "The corrected result must be a JSON object.")));
          editor.focus();
          return;
        }
        send({ result }, e.currentTarget);
      },
    },
    "Submit the corrected result",
  );
  return [
    ...head,
    h(
      "form",
      { class: "review-form", onsubmit: (e) => e.preventDefault() },
      h("label", { for: editorId }, "Corrected result (JSON)"),
      editor,
      h("p", { id: hintId, class: "muted" }, "Checked as JSON here, then against the agent's output schema by the server, which lists every violation."),
      h("label", { for: noteId }, "Note for the record (optional)"),
      note,
      h("div", { class: "buttons" }, submit, accept),
      rawIsObject ? null : h("p", { id: acceptWhy, class: "muted" }, "The raw output is not a JSON object, so it cannot be accepted as it is; correct it above."),
      out,
    ),
  ];
}

function actionsSection(ctx, d) {
  const rescuable = d.status === "dead_lettered" || d.status === "failed";
  const cancellable = d.status === "pending";
  if (!rescuable && !cancellable) return [];
  if (!ctx.has("operator")) {
    return [h("p", { class: "muted" }, `${rescuable ? "Rescuing" : "Cancelling"} needs the operator role.`)];
  }
  const form = (action, label, help, cls) => {
    const reasonId = uid(action);
    const helpId = uid(`${action}-help`);
    const reason = h("textarea", { id: reasonId, name: "reason", rows: "2", required: true, maxlength: "4000", "aria-describedby": helpId });
    const out = h("div", { class: "form-error" });
    const button = h("button", { type: "submit", class: cls, "data-action": action }, label);
    return h(
      "form",
      {
        class: `card action-form action-${action}`,
        onsubmit: async (e) => {
          e.preventDefault();
          fill(out);
          if (!reason.value.trim()) {
            fill(out, h("p", { role: "alert" }, "Give a reason: it is recorded with your name."));
            reason.focus();
            return;
          }
          button.disabled = true;
          try {
            await api(`/investigations/${encodeURIComponent(d.id)}/${action}`, { method: "POST", body: { reason: reason.value.trim() }, signal: ctx.signal });
            fill(out, h("p", { class: "ok", role: "status" }, action === "rescue" ? "Rescued: queued again; it resumes from its last checkpoint." : "Cancelled."));
          } catch (err) {
            if (!aborted(err)) fill(out, problem(err, `${label} refused: `));
            button.disabled = false;
          }
        },
      },
      h("h3", {}, label),
      h("p", { id: helpId, class: "muted" }, help),
      h("label", { for: reasonId }, "Reason (recorded with your name)"),
      reason,
      button,
      out,
    );
  };
  return [
    h("h2", {}, "Actions"),
    rescuable
      ? form("rescue", "Rescue", `It is ${d.status.replaceAll("_", " ")}. Rescue puts it back in the queue; it resumes from its last checkpoint without redoing finished tool calls.`, "")
      : null,
    cancellable ? form("cancel", "Cancel", "Stops it for good: it becomes failed, and an approval it waits on is resolved as rejected.", "danger") : null,
  ];
}

/** Verifies the audit trail (operators and auditors). */
async function verify(ctx, box) {
  if (!(ctx.has("operator") || ctx.has("auditor"))) {
    fill(box, h("h2", { id: "audit-h" }, "Audit trail"), h("p", { class: "muted" }, "Verification needs the auditor or operator role."));
    return;
  }
  try {
    const r = await api(`/investigations/${encodeURIComponent(ctx.id)}/audit`, { signal: ctx.signal });
    fill(
      box,
      h("h2", { id: "audit-h" }, "Audit trail"),
      r.valid
        ? h("p", { class: "audit-ok", "data-valid": "true" }, `Verified: ${r.events_checked} events, every seq, hash and link checks out.`)
        : h("p", { class: "audit-bad", "data-valid": "false" }, `Broken at seq ${r.broken_at_seq}: ${r.problem}`),
      h("p", { class: "muted" }, `Checked ${new Date().toLocaleTimeString()}.`),
    );
  } catch (e) {
    if (aborted(e)) return;
    if (e instanceof ApiError && e.code === "database_unavailable") return;
    fill(box, h("h2", { id: "audit-h" }, "Audit trail"), problem(e, "Verification failed: "));
  }
}
