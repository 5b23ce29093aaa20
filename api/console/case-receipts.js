// Linked investigations as receipt cards, each live from its own event
// stream, and the form that dispatches one for the case.
//
// Which runs are linked comes from `GET /cases/{id}/investigations`, read
// when the case opens, after a dispatch, and when the case timeline gets an
// entry naming a run. A card of a run still pending follows the run's own
// stream (`GET /investigations/{id}/events/stream`, through `stream()`:
// resumed with Last-Event-ID after the last event seen, no gap, no
// repeat); each event it sends re-reads the run (`GET /investigations/{id}`),
// so the card's status, phase, confidence and pending approval are what the
// run's record says after that event. A card stops following when its run
// is no longer pending or the case view goes away.

import { aborted, api, stream } from "./api.js";
import { ago, badge, confidence, fill, h, randomKey, time } from "./dom.js";
import { field, selectOf, seg } from "./case-parts.js";

const LIVE_TEXT = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  ended: "finished",
  stopped: "live updates unavailable",
  closed: "finished",
};

/**
 * The receipts panel under `signal`, as `{ el, update(items), refresh(id) }`:
 * `update` shows the case's linked runs (as `GET /cases/{id}/investigations`
 * lists them), adding a card per new run and keeping the cards (and their
 * streams) it already has; `refresh(id)` re-reads one run, and follows it
 * again when it is pending once more (a rescue).
 */
export function receipts(signal) {
  const list = h("ul", { class: "receipts" });
  const empty = h("p", { class: "muted", text: "No investigation is linked to this case yet." });
  const el = h("div", { class: "receipts-body" }, empty, list);
  const cards = new Map();

  function card(summary) {
    const li = h("li", { class: "receipt", "data-id": summary.id, "data-live": "connecting" });
    const state = { li, run: summary, follow: null, refreshing: null, again: false, lastEvent: null };

    const draw = () => {
      const r = state.run;
      li.dataset.status = r.status;
      li.dataset.phase = r.phase || "";
      const approval = r.pending_approval;
      fill(
        li,
        h("p", {}, h("a", { href: `/investigations/${seg(r.id)}`, "data-link": true, class: "mono" }, `…${r.id.slice(-8)}`), " ", badge(r.status), " ", r.phase ? badge(r.phase, "phase") : null, " ", h("span", { class: "receipt-live muted small", text: LIVE_TEXT[li.dataset.live] || li.dataset.live })),
        h("p", { class: "muted small" }, `agent ${r.agent_id} · by ${r.requested_by} · confidence `, h("span", { class: "receipt-confidence", text: confidence(r.confidence) }), " · ", ago(r.updated_at)),
        r.phase === "awaiting_approval"
          ? h(
              "p",
              { class: "receipt-approval" },
              "Waits on an approval",
              approval ? [" of ", h("code", { text: approval.action }), " (expires ", time(approval.expires_at), ")"] : null,
              ": ",
              h("a", { href: "/approvals", "data-link": true }, "open the inbox"),
            )
          : null,
        state.lastEvent ? h("p", { class: "muted small receipt-last" }, `last event #${state.lastEvent.seq} ${state.lastEvent.kind.replaceAll("_", " ")}`) : null,
      );
    };

    const setLive = (s) => {
      li.dataset.live = s;
      const tag = li.querySelector(".receipt-live");
      if (tag) tag.textContent = LIVE_TEXT[s] || s;
    };

    // One read at a time; an event arriving meanwhile reads once more after it.
    async function reread() {
      if (state.refreshing) {
        state.again = true;
        return state.refreshing;
      }
      state.refreshing = (async () => {
        try {
          state.run = await api(`/investigations/${seg(summary.id)}`, { signal });
          draw();
          if (state.run.status !== "pending") stop("closed");
          else start();
        } catch (e) {
          if (aborted(e)) return;
          li.dataset.error = e.code || "error";
          // A run this principal may not read stays as the case lists it;
          // an outage is retried on the next entry or list read.
          if (e.status >= 400 && e.status < 500) setLive("stopped");
        }
      })();
      await state.refreshing;
      state.refreshing = null;
      if (state.again && !signal.aborted) {
        state.again = false;
        reread();
      }
    }

    function stop(why) {
      if (state.follow) {
        state.follow.abort();
        state.follow = null;
      }
      setLive(why);
    }

    // Follows the run's stream from `after` (its last seq when first read).
    function start(after = state.run.last_seq ?? null) {
      if (state.follow || signal.aborted) return;
      const own = new AbortController();
      state.follow = own;
      stream(`/investigations/${seg(summary.id)}/events/stream`, {
        signal: AbortSignal.any([signal, own.signal]),
        lastId: after,
        onEvent: (kind, ev) => {
          if (!ev || typeof ev.seq !== "number") return;
          state.lastEvent = { seq: ev.seq, kind };
          reread();
        },
        onState: (s) => {
          if (state.follow !== own) return;
          if (s === "ended" || s === "stopped") {
            state.follow = null;
            setLive(s);
            if (s === "ended") reread();
          } else setLive(s);
        },
      });
    }

    draw();
    if (summary.status === "pending") reread();
    else setLive("closed");
    return { li, state, draw, reread };
  }

  return {
    el,
    update(items) {
      empty.hidden = items.length > 0;
      const order = [];
      for (const item of items) {
        let c = cards.get(item.id);
        if (!c) {
          c = card(item);
          cards.set(item.id, c);
        } else if (!c.state.follow) {
          if (item.status === "pending" && c.state.run.status !== "pending" && c.state.li.dataset.live !== "stopped") {
            // Pending again (rescued): read it and follow it once more.
            c.reread();
          } else if (Date.parse(item.updated_at) >= Date.parse(c.state.run.updated_at)) {
            // Not followed (finished, or not readable by this principal):
            // the listing is as fresh as anything.
            c.state.run = { ...c.state.run, ...item };
            c.draw();
          }
        }
        order.push(c.li);
      }
      // Newest first, as listed; a card already in place is not moved.
      order.forEach((li, i) => {
        if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
      });
    },
    refresh(id) {
      const c = cards.get(id);
      if (c) c.reread();
    },
  };
}

/** Dispatches an investigation linked to the case (`POST /cases/{id}/investigations`). */
export function dispatchForm(ctx, current, write, dispatched) {
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
