// One case timeline entry, written for people: what changed (old -> new),
// who did it, and what a linked investigation wrote back.

import { confidence, h, pretty, time } from "./dom.js";

const TITLES = {
  created: "Case created",
  status_change: "Status changed",
  assignment_change: "Assignee changed",
  severity_change: "Severity changed",
  field_change: "Field changed",
  comment_added: "Comment",
  observable_added: "Observable added",
  observable_updated: "Observable updated",
  evidence_added: "Evidence added",
  custody_recorded: "Custody recorded",
  task_created: "Task created",
  task_status_change: "Task moved",
  task_updated: "Task updated",
  alert_linked: "Alert linked",
  case_merged: "Merged",
  case_deleted: "Case deleted",
  investigation_linked: "Investigation linked",
  result_written: "Investigation result",
  summary_written: "AI summary",
  investigation_needs_attention: "Investigation needs attention",
  approval_requested: "Approval requested",
  approval_decided: "Approval decided",
  approval_expired: "Approval expired",
};

const words = (v) => (v === null || v === undefined || v === "" ? "none" : String(v).replaceAll("_", " "));

/** `from -> to`, each as a word (or "none"). */
function move(from, to) {
  return h("span", { class: "move" }, h("span", { class: "from", text: words(from) }), " -> ", h("strong", { class: "to", text: words(to) }));
}

function value(v) {
  if (v === null || v === undefined) return "none";
  return typeof v === "string" ? v : JSON.stringify(v);
}

function changes(list) {
  return h(
    "ul",
    { class: "changes" },
    (list || []).map((c) => h("li", {}, h("code", { text: c.field }), ": ", h("span", { class: "from", text: value(c.old) }), " -> ", h("span", { class: "to", text: value(c.new) }))),
  );
}

function list(title, items, cls) {
  if (!items || items.length === 0) return null;
  return [h("p", { class: "list-title", text: title }), h("ul", { class: cls }, items.map((i) => h("li", { text: i })))];
}

function invLink(id) {
  return h("a", { href: `/investigations/${encodeURIComponent(id)}`, "data-link": true, class: "mono" }, `investigation …${String(id).slice(-8)}`);
}

function caseMove(p) {
  return p.status_from && p.status_to && p.status_from !== p.status_to ? h("p", {}, "Case status ", move(p.status_from, p.status_to), ".") : null;
}

function body(ev) {
  const p = ev.payload || {};
  switch (ev.kind) {
    case "created":
      return [
        h("p", {}, h("strong", { text: typeof p.number === "number" ? `CASE-${p.number}` : String(p.number) }), ` "${p.title}": ${words(p.severity)}, ${words(p.status)}`, p.assignee ? `, assigned to ${p.assignee}` : "", "."),
        p.description ? h("p", { class: "muted", text: p.description }) : null,
      ];
    case "status_change":
      return [
        h("p", {}, move(p.from, p.to), p.disposition_to !== p.disposition_from ? [" · disposition ", move(p.disposition_from, p.disposition_to)] : null),
        p.reason ? h("p", { class: "reason", text: `Reason: ${p.reason}` }) : null,
      ];
    case "assignment_change":
    case "severity_change":
      return [h("p", {}, move(p.from, p.to))];
    case "field_change":
      return [h("p", {}, h("code", { text: p.field }), ": ", h("span", { class: "from", text: value(p.old) }), " -> ", h("span", { class: "to", text: value(p.new) }))];
    case "comment_added":
      return [h("p", { class: "muted small", text: p.kind === "ai_summary" ? "AI summary" : p.author_kind === "machine" ? "Machine note" : "Analyst note" }), h("blockquote", { class: "comment-body", text: p.body })];
    case "observable_added":
      return [h("p", {}, h("code", { text: p.type }), " ", h("strong", { text: p.value }), ` · TLP:${String(p.tlp).toUpperCase()} · PAP:${String(p.pap).toUpperCase()}`, p.source ? ` · from ${p.source}` : "")];
    case "observable_updated":
      return [h("p", {}, h("code", { text: p.type }), " ", h("strong", { text: p.value })), changes(p.changes)];
    case "evidence_added":
      return [h("p", {}, h("strong", { text: p.name }), ` (${words(p.evidence_kind)}${p.size_bytes !== null && p.size_bytes !== undefined ? `, ${p.size_bytes} bytes` : ""})`), h("p", { class: "mono small", text: `sha256 ${p.sha256}` }), p.uri ? h("p", { class: "small", text: `kept at ${p.uri}` }) : null];
    case "custody_recorded":
      return [h("p", {}, words(p.action), p.from || p.to ? [": ", move(p.from, p.to)] : null), p.note ? h("p", { class: "reason", text: p.note }) : null];
    case "task_created":
      return [h("p", {}, h("strong", { text: p.title }), ` · ${words(p.priority)} priority · ${words(p.status)}`, p.assignee ? ` · ${p.assignee}` : "")];
    case "task_status_change":
      return [h("p", {}, h("strong", { text: p.title }), ": ", move(p.from, p.to))];
    case "task_updated":
      return [changes(p.changes)];
    case "alert_linked":
      return [h("p", {}, "Alert ", h("code", { text: p.alert_id }))];
    case "case_merged":
      return [
        h("p", { text: p.role === "target" ? `Merged in ${(p.sources || []).length} case(s): ${p.alerts} alerts, ${p.observables} observables, ${p.evidence} evidence, ${p.comments} comments, ${p.tasks} tasks.` : "Merged into another case." }),
        p.summary ? h("p", { class: "muted", text: p.summary }) : null,
      ];
    case "case_deleted":
      return [h("p", { text: p.reason ? `Reason: ${p.reason}` : "No reason given." }), (p.alerts_detached || []).length ? h("p", { class: "muted", text: `Alerts detached: ${p.alerts_detached.join(", ")}` }) : null];
    case "investigation_linked":
      return [h("p", {}, "Agent ", h("code", { text: p.agent_id }), p.purpose ? ` (${words(p.purpose)})` : "", ": ", invLink(p.investigation_id))];
    case "result_written":
      return [
        p.summary ? h("p", { class: "result-summary", text: p.summary }) : null,
        list("Key findings", p.key_findings, "key-findings"),
        list("Recommended next steps", p.recommended_next_steps, "next-steps"),
        h("p", { class: "muted small" }, `Confidence ${confidence(p.confidence)} · agent `, h("code", { text: p.agent_id }), " · ", invLink(p.investigation_id), (p.observables || []).length ? ` · observables ${p.observables.join(", ")}` : ""),
        caseMove(p),
      ];
    case "summary_written":
      return [
        p.summary ? h("p", { class: "ai-summary-text", text: p.summary }) : null,
        list("Immediate actions", p.immediate_actions, "actions"),
        list("Long-term remediation", p.long_term_remediation, "actions"),
        list("Policy changes", p.policy_changes, "actions"),
        list("Similar cases", p.similar_cases, "actions"),
        h("p", { class: "muted small" }, "By ", h("code", { text: p.agent_id }), " · ", invLink(p.investigation_id)),
      ];
    case "investigation_needs_attention":
      return [h("p", {}, invLink(p.investigation_id), ` ended ${words(p.outcome)}`, p.reason ? `: ${p.reason}` : "", "."), h("p", { class: "reason", text: `Next: ${p.action}` })];
    case "approval_requested":
      return [h("p", {}, "Asks to run ", h("code", { text: p.action }), " for ", invLink(p.investigation_id), " · ", h("a", { href: "/approvals", "data-link": true }, "open the inbox")), caseMove(p)];
    case "approval_decided":
      return [h("p", {}, h("strong", { text: words(p.decision) }), ` by ${p.decided_by}`), p.comment ? h("blockquote", { class: "comment-body", text: p.comment }) : null, caseMove(p)];
    case "approval_expired":
      return [h("p", { text: "Nobody decided in time: re-evaluate." }), caseMove(p)];
    default:
      return [h("details", { class: "fold" }, h("summary", {}, "details"), h("pre", { class: "json", text: pretty(p) }))];
  }
}

/** The `<li>` for one case timeline entry. */
export function caseEntry(ev) {
  const machine = /^(agent|system):/.test(ev.actor) || ev.payload?.author_kind === "machine";
  return h(
    "li",
    { class: `event case-event${machine ? " machine" : ""}`, "data-kind": ev.kind, "data-seq": String(ev.seq) },
    h(
      "div",
      { class: "event-head" },
      h("span", { class: "seq", text: `#${ev.seq}` }),
      " ",
      h("strong", { class: "event-title", text: TITLES[ev.kind] || ev.kind.replaceAll("_", " ") }),
      " · ",
      h("span", { class: "actor", text: ev.actor }),
      " · ",
      time(ev.created_at),
    ),
    h("div", { class: "event-body" }, body(ev)),
  );
}
