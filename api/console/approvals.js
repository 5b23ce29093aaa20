// The approvals inbox: pending requests soonest to expire first, each with
// its context, a live countdown and approve/reject with a comment. New and
// decided requests arrive over the approvals stream.

import { aborted, api, problem, stream } from "./api.js";
import { add, badge, countdown, facts, fill, formatTime, h, pretty, shortId, time, uid } from "./dom.js";

export async function render(ctx) {
  document.title = "Approvals · Vigil";
  const { root } = ctx;
  if (!(ctx.has("approver") || ctx.has("operator") || ctx.has("auditor"))) {
    add(root,
      h("h1", { tabindex: "-1" }, "Approvals"),
      h("p", { class: "notice" }, "Reading approval requests needs the approver, operator or auditor role."),
    );
    return;
  }
  const live = h("p", { class: "live muted", role: "status" }, "Connecting…");
  const pending = h("ol", { class: "approvals", "aria-label": "Pending requests, soonest to expire first" });
  const empty = h("p", { class: "muted empty", hidden: true }, "No approval requests are waiting.");
  const decided = h("tbody");
  const error = h("div");
  add(root,
    h("h1", { tabindex: "-1" }, "Approvals"),
    h(
      "p",
      { class: "lead" },
      "High-impact tool calls wait here for a person. The principal that dispatched an investigation cannot decide its requests.",
    ),
    live,
    error,
    h("section", { "aria-labelledby": "pending-h" }, h("h2", { id: "pending-h" }, "Waiting for a decision"), empty, pending),
    h(
      "section",
      { "aria-labelledby": "decided-h" },
      h("h2", { id: "decided-h" }, "Recently decided"),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "decided" },
          h("thead", {}, h("tr", {}, ["Tool", "Investigation", "Decision", "By", "When", "Comment"].map((c) => h("th", { scope: "col", text: c })))),
          decided,
        ),
      ),
    ),
  );

  /** id -> card element, so a refresh keeps typed comments. */
  const cards = new Map();
  let loading = null;
  let again = false;

  const load = async () => {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        await reconcile();
      } while (again && !ctx.signal.aborted);
    })();
    try {
      await loading;
    } finally {
      loading = null;
    }
  };

  const reconcile = async () => {
    let list;
    try {
      list = await api("/approvals?limit=200", { signal: ctx.signal });
    } catch (e) {
      if (!aborted(e)) fill(error, problem(e, "Reading approval requests: "));
      return;
    }
    fill(error);
    const open = list.items.filter((a) => a.status === "pending").sort((a, b) => a.expires_at.localeCompare(b.expires_at));
    const wanted = new Set(open.map((a) => a.id));
    for (const [id, card] of cards) {
      if (!wanted.has(id)) {
        card.remove();
        cards.delete(id);
      }
    }
    for (const a of open) {
      if (cards.has(a.id)) continue;
      try {
        const d = await api(`/approvals/${encodeURIComponent(a.id)}`, { signal: ctx.signal });
        if (d.status !== "pending") continue;
        cards.set(a.id, h("li", {}, approvalCard(d, ctx, { onDecided: load })));
      } catch (e) {
        if (aborted(e)) return;
        ctx.alertError(e, `Reading approval request ${a.id}`);
      }
    }
    // Soonest to expire first; moving a node keeps what was typed in it.
    for (const a of open) if (cards.has(a.id)) add(pending, cards.get(a.id));
    empty.hidden = cards.size > 0;
    const done = list.items
      .filter((a) => a.status !== "pending")
      .sort((a, b) => (b.decided_at || b.expires_at).localeCompare(a.decided_at || a.expires_at))
      .slice(0, 20);
    fill(
      decided,
      done.length === 0 ? h("tr", {}, h("td", { colspan: "6", class: "muted" }, "None yet.")) : null,
      done.map((a) =>
        h(
          "tr",
          {},
          [
            h("code", { text: a.action }),
            h("a", { href: `/investigations/${encodeURIComponent(a.investigation_id)}`, "data-link": true, class: "mono" }, shortId(a.investigation_id)),
            badge(a.status, "decision"),
            a.decided_by || (a.status === "expired" ? "nobody (expired)" : "—"),
            time(a.decided_at || a.expires_at),
            a.comment || "",
          ].map((c, i) => h("td", { "data-label": ["Tool", "Investigation", "Decision", "By", "When", "Comment"][i] }, c)),
        ),
      ),
    );
  };

  await load();
  ticker(ctx);
  stream("/approvals/stream", {
    signal: ctx.signal,
    onEvent: () => load(),
    onState: (state, err) => {
      if (state === "live") {
        live.textContent = "Live: new requests appear here without reloading.";
        load();
      } else if (state === "reconnecting") {
        live.textContent = `Reconnecting to the live stream${err ? ` (${err.code}: ${err.detail})` : ""}…`;
      } else {
        fill(live, problem(err, "Live updates stopped: "));
      }
    },
  });
}

/** Updates every countdown on the page once a second until the view goes away. */
export function ticker(ctx) {
  const tick = () => {
    const now = Date.now();
    for (const el of ctx.root.querySelectorAll("[data-expires]")) {
      const left = (Date.parse(el.dataset.expires) - now) / 1000;
      const card = el.closest(".approval");
      if (left > 0) {
        el.textContent = `expires in ${countdown(left)}`;
        el.classList.toggle("urgent", left < 120);
      } else {
        el.textContent = "expired; the expiry sweep will tell the model it was not approved";
        el.classList.add("urgent");
        if (card && !card.classList.contains("expired")) {
          card.classList.add("expired");
          for (const b of card.querySelectorAll("button[data-decision]")) b.disabled = true;
        }
      }
    }
  };
  tick();
  const t = setInterval(tick, 1000);
  ctx.signal.addEventListener("abort", () => clearInterval(t));
}

/**
 * One pending request with what an approver needs: the investigation's
 * prompt, the model's rationale, the tool, its arguments and what approving
 * does in the current mode; approve or reject with a comment, or, when the
 * signed-in principal may not decide, disabled buttons and the reason.
 */
export function approvalCard(d, ctx, { onDecided } = {}) {
  const title = uid("approval");
  const reasonId = uid("why-not");
  const commentId = uid("comment");
  const comment = h("textarea", { id: commentId, name: "comment", rows: "2", maxlength: "4000" });
  const result = h("div", { class: "decision-result" });
  const tool = d.context.tool;
  const mode = ctx.session.mode ? ctx.session.mode.mode : "";
  const disabled = !d.can_decide;
  const decide = async (decision, button) => {
    fill(result);
    for (const b of card.querySelectorAll("button[data-decision]")) b.disabled = true;
    try {
      const body = { decision };
      if (comment.value.trim()) body.comment = comment.value.trim();
      const done = await api(`/approvals/${encodeURIComponent(d.id)}/decision`, { method: "POST", body, signal: ctx.signal });
      card.classList.add("decided");
      fill(result, h("p", { role: "status", class: "ok" }, `${done.status === "approved" ? "Approved" : "Rejected"} by ${done.decided_by} at ${formatTime(done.decided_at)}.`));
      if (onDecided) onDecided(done);
    } catch (e) {
      if (aborted(e)) return;
      fill(result, problem(e, "Not decided: "));
      for (const b of card.querySelectorAll("button[data-decision]")) b.disabled = disabled;
      button.focus();
    }
  };
  const approve = h(
    "button",
    { type: "button", "data-decision": "approve", disabled, "aria-describedby": disabled ? reasonId : null, onclick: (e) => decide("approve", e.currentTarget) },
    "Approve",
  );
  const reject = h(
    "button",
    { type: "button", class: "danger", "data-decision": "reject", disabled, "aria-describedby": disabled ? reasonId : null, onclick: (e) => decide("reject", e.currentTarget) },
    "Reject",
  );
  const card = h(
    "article",
    { class: "card approval", "aria-labelledby": title, "data-approval": d.id },
    h(
      "header",
      { class: "approval-head" },
      h("h3", { id: title }, h("code", { text: d.action }), tool ? h("span", { class: `badge effect-${tool.effect}` }, tool.effect) : null),
      h("p", { class: "countdown", "data-expires": d.expires_at, role: "timer", "aria-live": "off" }),
    ),
    h(
      "div",
      { class: "approval-body" },
      h(
        "div",
        {},
        facts([
          ["Investigation", h("a", { href: `/investigations/${encodeURIComponent(d.investigation_id)}`, "data-link": true, class: "mono" }, d.investigation_id)],
          ["Agent", d.context.agent_id],
          ["Requested by", d.context.requested_by],
          ["Asked in mode", d.mode ? d.mode.replaceAll("_", " ") : null],
          ["Case", d.context.case_ref],
          ["Asked", time(d.created_at)],
        ]),
        h("h4", {}, "Prompt"),
        h("blockquote", { class: "prompt", text: d.context.prompt }),
        h("h4", {}, "The model's rationale"),
        h("p", { class: "rationale", text: d.rationale || "(the model gave none)" }),
      ),
      h(
        "div",
        {},
        h("h4", {}, "Tool and arguments"),
        tool ? h("p", { class: "muted", text: tool.description }) : null,
        h("pre", { class: "json args", text: pretty(d.arguments) }),
        h("h4", {}, `What approving does${mode ? ` in ${mode.replaceAll("_", " ")} mode` : ""}`),
        h("p", { class: "effect", text: d.context.effect_in_mode }),
        h(
          "div",
          { class: "decide" },
          h("label", { for: commentId }, "Comment (recorded, and given to the model on reject)"),
          comment,
          h("div", { class: "buttons" }, approve, reject),
          disabled ? h("p", { id: reasonId, class: "why-not", role: "note" }, "You cannot decide this request: ", d.cannot_decide_reason || "not allowed") : null,
          result,
        ),
      ),
    ),
  );
  return card;
}
