// One timeline entry per event, written for people: what happened, who did
// it, and the payload's details (arguments and outputs folded away).

import { confidence, cost, facts, h, number, pretty, time } from "./dom.js";

const TITLES = {
  dispatched: "Dispatched",
  claimed: "Claimed by a worker",
  model_turn: "Model turn",
  tool_intent: "Tool call",
  tool_result: "Tool result",
  model_call_failed: "Model call failed",
  approval_requested: "Approval requested",
  approval_decided: "Approval decided",
  approval_expired: "Approval expired",
  awaiting_children: "Waiting for delegated investigations",
  children_finished: "Delegated investigations finished",
  released: "Released",
  completed: "Completed",
  review_required: "Review required",
  failed: "Failed",
  dead_lettered: "Dead-lettered",
  rescued: "Rescued",
  cancelled: "Cancelled",
  reviewed: "Reviewed",
  operator_note: "Operator note",
};

/** A folded block: a summary line, and the full text when opened. */
function fold(summary, text, cls = "json") {
  return h("details", { class: "fold" }, h("summary", {}, summary), h("pre", { class: cls, text }));
}

/** Folded arguments, with a one-line preview in the summary. */
function args(value) {
  let compact = typeof value === "string" ? value : JSON.stringify(value);
  try {
    compact = JSON.stringify(typeof value === "string" ? JSON.parse(value) : value);
  } catch {
    // Arguments exactly as the model sent them: not always JSON.
  }
  const preview = compact.length > 90 ? `${compact.slice(0, 89)}…` : compact;
  return h("details", { class: "fold" }, h("summary", {}, "arguments ", h("code", { class: "preview", text: preview })), h("pre", { class: "json", text: pretty(value) }));
}

function para(text, cls) {
  return text ? h("p", { class: cls, text }) : null;
}

function body(ev) {
  const p = ev.payload || {};
  switch (ev.kind) {
    case "dispatched":
      return [
        h("p", {}, "By ", h("strong", { text: p.requested_by }), " to agent ", h("code", { text: p.agent_id }), p.case_ref ? ` for case ${p.case_ref}` : "", "."),
        p.parent ? h("p", {}, "Delegated by ", h("a", { href: `/investigations/${encodeURIComponent(p.parent.id)}`, "data-link": true, class: "mono", text: p.parent.id }), ` in call ${p.parent.tool_call_id}.`) : null,
        h("blockquote", { class: "prompt", text: p.prompt }),
        p.budget && Object.keys(p.budget).length ? fold("Budget overrides", pretty(p.budget)) : null,
      ];
    case "claimed":
      return [h("p", {}, "Worker ", h("code", { text: p.worker }), ` started attempt ${p.attempt}`, p.mode ? ` in ${p.mode.replaceAll("_", " ")} mode` : "", "; lease until ", time(p.lease_expires_at), ".")];
    case "model_call_failed":
      return [
        h("p", {}, h("code", { text: p.model || "the model" }), ` gave no turn (${String(p.cause).replaceAll("_", " ")}) after ${number(p.elapsed_ms)} ms; counted as a lost turn.`),
        para(p.error, "muted"),
      ];
    case "model_turn": {
      const calls = p.tool_calls || [];
      return [
        para(p.content, "reasoning"),
        calls.length
          ? h(
              "ul",
              { class: "calls" },
              calls.map((c) => h("li", {}, "Asks for ", h("code", { text: c.name }), " ", args(c.arguments))),
            )
          : null,
        h("p", { class: "muted small" }, `${p.model} · ${number(p.input_tokens)} in · ${number(p.output_tokens)} out · ${cost(p.cost_usd)}`),
      ];
    }
    case "tool_intent":
      return [
        h("p", {}, h("code", { text: p.tool }), ` (${p.effect === "write" ? "changes things" : "read-only"}), call `, h("code", { text: p.tool_call_id }), "."),
        args(p.arguments),
      ];
    case "tool_result": {
      const flags = [p.is_error ? "error" : null, p.truncated ? `truncated from ${number(p.original_bytes)} bytes` : null].filter(Boolean);
      return [
        h("p", {}, "From ", h("code", { text: p.tool }), ", call ", h("code", { text: p.tool_call_id }), flags.length ? ` (${flags.join(", ")})` : "", "."),
        fold(`output (${number((p.output || "").length)} characters)`, pretty(p.output || "")),
      ];
    }
    case "approval_requested":
      return [
        h("p", {}, h("code", { text: p.action }), " needs an approver; expires ", time(p.expires_at), "."),
        para(p.rationale, "reasoning"),
        args(p.arguments),
      ];
    case "approval_decided":
      return [
        h("p", {}, h("strong", { class: `decision-${p.decision}`, text: p.decision === "approve" ? "Approved" : "Rejected" }), " by ", h("strong", { text: p.decided_by }), " at ", time(ev.created_at), "."),
        p.comment ? h("blockquote", { class: "comment", text: p.comment }) : null,
      ];
    case "approval_expired":
      return [h("p", {}, "Nobody decided in time; the model is told the action was not approved.")];
    case "released":
      return [h("p", {}, "Worker ", h("code", { text: p.worker }), " let go: ", p.reason, ".")];
    case "completed":
      return [h("p", {}, `With a valid result; confidence ${confidence(p.confidence)}.`)];
    case "review_required":
      return [
        para(p.reason),
        (p.errors || []).length ? h("ul", { class: "schema-errors" }, p.errors.map((e) => h("li", { text: e }))) : null,
        p.result_raw ? fold("raw output", pretty(p.result_raw)) : null,
      ];
    case "failed":
      return [para(p.reason)];
    case "dead_lettered":
      return [
        facts(
          [
            ["Worker", p.worker || "unknown"],
            ["Attempt", String(p.attempt)],
            ["Last heartbeat", time(p.last_heartbeat_at)],
            ["Lease expired", time(p.lease_expired_at)],
          ],
          "facts compact",
        ),
        h("p", { class: "muted" }, "The worker stopped heartbeating. An operator can rescue it; it resumes from its last checkpoint."),
      ];
    case "rescued":
      return [h("p", {}, "By ", h("strong", { text: p.by }), ` from ${String(p.from).replaceAll("_", " ")}.`), h("blockquote", { class: "comment", text: p.reason })];
    case "cancelled":
      return [h("p", {}, "By ", h("strong", { text: p.by }), "."), h("blockquote", { class: "comment", text: p.reason })];
    case "reviewed":
      return [
        h("p", {}, "By ", h("strong", { text: p.by }), `; confidence ${confidence(p.confidence)}.`),
        p.note ? h("blockquote", { class: "comment", text: p.note }) : null,
        fold("graded result", pretty(p.result)),
      ];
    case "awaiting_children":
      return [
        h("p", {}, `Waiting, without a lease, for ${(p.children || []).length} delegated investigation(s):`),
        h("ul", { class: "children" }, ...(p.children || []).map((id) => h("li", {}, h("a", { href: `/investigations/${encodeURIComponent(id)}`, "data-link": true, class: "mono", text: id })))),
      ];
    case "children_finished":
      return [
        h("p", {}, "Every delegated investigation finished; queued again to read their results:"),
        h("ul", { class: "children" }, ...(p.children || []).map((c) => h("li", {}, h("a", { href: `/investigations/${encodeURIComponent(c.id)}`, "data-link": true, class: "mono", text: c.id }), ` ${String(c.status).replaceAll("_", " ")}`))),
      ];
    case "operator_note":
      return [h("p", {}, "By ", h("strong", { text: p.by }), "."), h("blockquote", { class: "comment", text: p.text })];
    default:
      return [fold("payload", pretty(p))];
  }
}

/** The `<li>` for one event. */
export function timelineItem(ev) {
  return h(
    "li",
    { class: `event kind-${ev.kind}`, "data-seq": String(ev.seq), "data-kind": ev.kind },
    h(
      "div",
      { class: "event-head" },
      h("span", { class: "seq", "aria-label": `event ${ev.seq}` }, `#${ev.seq}`),
      h("strong", { class: "event-title", text: TITLES[ev.kind] || ev.kind }),
      time(ev.created_at),
      h("span", { class: "actor muted" }, "by ", h("code", { text: ev.actor })),
    ),
    h("div", { class: "event-body" }, body(ev)),
  );
}
