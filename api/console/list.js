// The investigations queue: counts per status, a dispatch form, filters kept
// in the page URL (so a view can be shared), keyset pages, live refresh.

import { aborted, api, problem } from "./api.js";
import { add, badge, confidence, cost, duration, fill, h, number, randomKey, shortId, time, uid } from "./dom.js";

const STATUSES = ["pending", "completed", "review_required", "failed", "dead_lettered"];
const PHASES = ["queued", "running", "awaiting_approval", "awaiting_children"];
const FILTERS = ["status", "phase", "agent_id", "requested_by", "case_ref", "created_after", "created_before"];
const PAGE_SIZE = 25;
const REFRESH_MS = 3000;

/** Sample prompts of the offline showcase (dummy mode). */
const SAMPLES = [
  ["Failed SSH logins on web-01 from 185.220.101.4", "asks an approver to isolate web-01"],
  ["Scanner at 203.0.113.7 hitting web-02", "completes without an approval"],
];

const COLUMNS = [
  "Investigation",
  "Status",
  "Phase",
  "Agent",
  "Requester",
  "Case",
  "Started",
  "Duration",
  "Confidence",
  "Attempt",
  "Tokens",
  "Cost",
];

export async function render(ctx) {
  document.title = "Investigations · Vigil";
  const { root, query } = ctx;
  const statsBox = h("section", { class: "stats-box", "aria-label": "Queue counts" });
  const tableBody = h("tbody");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const liveNote = h("p", { class: "muted live-note", role: "status" });
  const listError = h("div");
  const canStats = ctx.has("operator") || ctx.has("auditor") || ctx.has("approver");
  const canList = ctx.has("operator") || ctx.has("auditor") || ctx.has("orchestrator");

  add(root,
    h("h1", { tabindex: "-1" }, "Investigations"),
    canStats ? statsBox : null,
    ctx.has("orchestrator") ? dispatchForm(ctx) : null,
  );
  if (!canList) {
    add(root,
      h(
        "p",
        { class: "notice" },
        "Listing investigations needs the operator, auditor or orchestrator role. ",
        ctx.has("approver") ? h("a", { href: "/approvals", "data-link": true }, "Go to the approvals inbox.") : null,
      ),
    );
    if (canStats) await refreshStats(ctx, statsBox);
    ctx.every(() => refreshStats(ctx, statsBox), REFRESH_MS);
    return;
  }
  add(root,
    filterForm(ctx),
    listError,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "queue" },
        h("caption", { class: "visually-hidden" }, "Investigations, newest first"),
        h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", text: c })))),
        tableBody,
      ),
    ),
    pager,
    liveNote,
  );

  const params = new URLSearchParams();
  for (const key of FILTERS) {
    const v = query.get(key);
    if (v) params.set(key, v);
  }
  if (query.get("cursor")) params.set("cursor", query.get("cursor"));
  // The page size may be set in the URL too (`?limit=`), so shared views page alike.
  params.set("limit", query.get("limit") || String(PAGE_SIZE));

  const refresh = async () => {
    const tasks = [refreshRows(ctx, params, tableBody, pager, listError)];
    if (canStats) tasks.push(refreshStats(ctx, statsBox));
    await Promise.all(tasks);
    liveNote.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s.`;
  };
  await refresh();
  ctx.every(refresh, REFRESH_MS);
}

async function refreshStats(ctx, box) {
  try {
    const s = await api("/investigations/stats", { signal: ctx.signal });
    const item = (label, count, href, cls) =>
      h(
        "li",
        { class: `stat ${cls}` },
        h("a", { href, "data-link": true }, h("span", { class: "stat-count", text: number(count) }), h("span", { class: "stat-label", text: label })),
      );
    fill(
      box,
      h(
        "div",
        { class: "stats-group" },
        h("h2", { class: "stats-title" }, "Pending"),
        h(
          "ul",
          { class: "stats" },
          item("queued", s.queued, "/investigations?status=pending&phase=queued", "s-queued"),
          item("running", s.running, "/investigations?status=pending&phase=running", "s-running"),
          item("awaiting approval", s.awaiting_approval, "/investigations?status=pending&phase=awaiting_approval", "s-awaiting"),
          item("awaiting children", s.awaiting_children || 0, "/investigations?status=pending&phase=awaiting_children", "s-children"),
        ),
      ),
      h(
        "div",
        { class: "stats-group" },
        h("h2", { class: "stats-title" }, "Finished"),
        h(
          "ul",
          { class: "stats" },
          item("completed", s.completed, "/investigations?status=completed", "s-completed"),
          item("review required", s.review_required, "/investigations?status=review_required", "s-review"),
          item("failed", s.failed, "/investigations?status=failed", "s-failed"),
          item("dead-lettered", s.dead_lettered, "/investigations?status=dead_lettered", "s-dead"),
        ),
      ),
    );
    box.setAttribute("data-loaded", "true");
  } catch (e) {
    if (aborted(e)) return;
    fill(box, problem(e, "Queue counts: "));
  }
}

async function refreshRows(ctx, params, body, pager, errorBox) {
  let page;
  try {
    page = await api(`/investigations?${params}`, { signal: ctx.signal });
  } catch (e) {
    if (aborted(e)) return;
    fill(errorBox, problem(e, "Listing investigations: "));
    return;
  }
  fill(errorBox);
  // Keep keyboard focus on the same link across a refresh.
  const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
  fill(body);
  if (page.items.length === 0) {
    add(body, h("tr", { class: "empty" }, h("td", { colspan: String(COLUMNS.length) }, "No investigations match these filters.")));
  }
  for (const inv of page.items) {
    const href = `/investigations/${encodeURIComponent(inv.id)}`;
    const cells = [
      h("a", { href, "data-link": true, "aria-label": `Investigation ${inv.id}`, class: "mono" }, shortId(inv.id)),
      badge(inv.status),
      inv.phase ? badge(inv.phase, "phase") : h("span", { class: "muted", text: "—" }),
      inv.agent_id,
      inv.requested_by,
      inv.case_ref || h("span", { class: "muted", text: "—" }),
      time(inv.started_at),
      duration(inv.duration_ms),
      confidence(inv.confidence),
      String(inv.attempt),
      number(inv.input_tokens + inv.output_tokens),
      cost(inv.cost_usd),
    ];
    add(body,
      h(
        "tr",
        { "data-id": inv.id, "data-status": inv.status },
        cells.map((c, i) => h(i === 0 ? "th" : "td", { "data-label": COLUMNS[i], scope: i === 0 ? "row" : null }, c)),
      ),
    );
  }
  if (focused) body.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();

  const here = new URLSearchParams(location.search);
  const links = [];
  if (here.get("cursor")) {
    here.delete("cursor");
    links.push(h("a", { href: `/investigations${here.size ? `?${here}` : ""}`, "data-link": true }, "« Newest"));
  }
  if (page.next_cursor) {
    const next = new URLSearchParams(location.search);
    next.set("cursor", page.next_cursor);
    links.push(h("a", { href: `/investigations?${next}`, "data-link": true, rel: "next" }, "Older »"));
  }
  fill(pager, links);
}

function filterForm(ctx) {
  const q = ctx.query;
  const field = (label, control) => {
    control.id = uid("filter");
    return h("div", { class: "field" }, h("label", { for: control.id, text: label }), control);
  };
  const select = (name, values) =>
    h(
      "select",
      { name },
      h("option", { value: "" }, "any"),
      values.map((v) => h("option", { value: v, selected: q.get(name) === v }, v.replaceAll("_", " "))),
    );
  const agents = ctx.session.mode ? ctx.session.mode.agents : [];
  const current = q.get("agent_id");
  const text = (name, placeholder) => h("input", { name, type: "text", value: q.get(name) || "", placeholder, autocomplete: "off" });
  const when = (name) => h("input", { name, type: "datetime-local", step: "1", value: toLocalInput(q.get(name)) });
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Filter investigations",
      onsubmit: (e) => {
        e.preventDefault();
        const data = new FormData(form);
        const out = new URLSearchParams();
        for (const key of FILTERS) {
          let v = String(data.get(key) || "").trim();
          if (!v) continue;
          if (key.startsWith("created_")) {
            const d = new Date(v);
            if (Number.isNaN(d.getTime())) continue;
            v = d.toISOString();
          }
          out.set(key, v);
        }
        if (q.get("limit")) out.set("limit", q.get("limit"));
        ctx.navigate(`/investigations${out.size ? `?${out}` : ""}`);
      },
    },
    field("Status", select("status", STATUSES)),
    field("Phase", select("phase", PHASES)),
    field("Agent", select("agent_id", current && !agents.includes(current) ? [...agents, current] : agents)),
    field("Requester", text("requested_by", "principal")),
    field("Case", text("case_ref", "case ref")),
    field("Created from", when("created_after")),
    field("Created before", when("created_before")),
    h(
      "div",
      { class: "field actions" },
      h("button", { type: "submit" }, "Apply filters"),
      h("a", { href: "/investigations", "data-link": true, class: "button secondary" }, "Clear"),
    ),
  );
  return form;
}

/** An RFC 3339 time as a `datetime-local` value in the browser's zone. */
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 19);
}

function dispatchForm(ctx) {
  const mode = ctx.session.mode;
  const agents = mode ? mode.agents : [];
  const agentId = uid("agent");
  const promptId = uid("prompt");
  const caseId = uid("case");
  const error = h("div", { class: "form-error" });
  const prompt = h("textarea", { id: promptId, name: "prompt", rows: "3", required: true, maxlength: "32768" });
  const agent = h("select", { id: agentId, name: "agent_id", required: true }, agents.map((a) => h("option", { value: a }, a)));
  const caseRef = h("input", { id: caseId, name: "case_ref", type: "text", maxlength: "200", autocomplete: "off" });
  const submit = h("button", { type: "submit" }, "Dispatch");
  // One key per filled-in form: a double submit dispatches once.
  let key = randomKey();
  const renew = () => {
    key = randomKey();
  };
  prompt.addEventListener("input", renew);
  agent.addEventListener("change", renew);
  caseRef.addEventListener("input", renew);
  const samples =
    mode && mode.mode === "dummy"
      ? h(
          "div",
          { class: "samples" },
          h("p", { class: "muted" }, "Offline showcase samples:"),
          SAMPLES.map(([text, what]) =>
            h(
              "button",
              {
                type: "button",
                class: "secondary small",
                onclick: () => {
                  prompt.value = text;
                  if (agents.includes("triage")) agent.value = "triage";
                  renew();
                  prompt.focus();
                },
              },
              text,
              h("span", { class: "muted" }, ` (${what})`),
            ),
          ),
        )
      : null;
  const form = h(
    "form",
    {
      class: "dispatch",
      onsubmit: async (e) => {
        e.preventDefault();
        fill(error);
        if (!prompt.value.trim()) {
          fill(error, h("p", { role: "alert" }, "Write a prompt first."));
          return;
        }
        submit.disabled = true;
        try {
          const body = { agent_id: agent.value, prompt: prompt.value };
          if (caseRef.value.trim()) body.case_ref = caseRef.value.trim();
          const inv = await api("/investigations", { method: "POST", body, headers: { "Idempotency-Key": key }, signal: ctx.signal });
          ctx.navigate(`/investigations/${encodeURIComponent(inv.id)}`);
        } catch (err) {
          if (!aborted(err)) fill(error, problem(err, "Dispatch refused: "));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: agentId }, "Agent"), agent),
    h("div", { class: "field grow" }, h("label", { for: promptId }, "Prompt"), prompt),
    h("div", { class: "field" }, h("label", { for: caseId }, "Case ref (optional)"), caseRef),
    samples,
    h("div", { class: "field actions" }, submit),
    error,
  );
  return h("details", { class: "card dispatch-box" }, h("summary", {}, "New investigation"), form);
}
