// Runtime settings, read-only: the mode, the store, the agents and the
// workers seen, from `GET /system/mode` (the last answer the console kept
// when the database is down). No secrets: the API never returns any.

import { aborted, api, problem } from "./api.js";
import { add, facts, h, time } from "./dom.js";

export const degradable = true;

export async function render(ctx) {
  document.title = "Settings · Vigil";
  const box = h("div", { class: "settings" });
  add(ctx.root,
    h("h1", { tabindex: "-1" }, "Runtime settings"),
    h("p", { class: "muted" }, "Read-only. They come from the server's configuration (vigil.toml, VIGIL_* variables, flags); change them there and restart."),
    box,
  );
  let mode = ctx.session.mode;
  let stale = false;
  if (!ctx.down()) {
    try {
      mode = await api("/system/mode", { signal: ctx.signal, quiet: true });
    } catch (e) {
      if (aborted(e)) return;
      stale = true;
      add(box, problem(e, "Reading the runtime mode: "));
    }
  } else stale = true;
  if (!mode) return;
  add(box,
    stale ? h("p", { class: "notice", role: "status" }, "The server cannot read everything right now; this is what it said last.") : null,
    h("section", { class: "card", "aria-labelledby": "settings-runtime" },
      h("h2", { id: "settings-runtime" }, "Runtime"),
      facts([
        ["Mode", h("strong", { text: mode.mode.replaceAll("_", " ") })],
        ["Store", mode.backend],
        ["Vigil", mode.version],
        ["Receipt key", mode.receipt_key || "none"],
      ]),
    ),
    h("section", { class: "card", "aria-labelledby": "settings-agents" },
      h("h2", { id: "settings-agents" }, "Agents"),
      mode.agents.length ? h("ul", { class: "agents" }, mode.agents.map((a) => h("li", {}, h("code", { text: a })))) : h("p", { class: "muted" }, "No agents configured."),
    ),
    h("section", { class: "card", "aria-labelledby": "settings-workers" },
      h("h2", { id: "settings-workers" }, `Workers seen in the last minute: ${mode.workers_seen}`),
      (mode.workers || []).length
        ? h("ul", {}, mode.workers.map((w) => h("li", {}, h("code", { text: w.id }), ` (${w.agents.join(", ")}) · last seen `, time(w.seen_at))))
        : null,
    ),
  );
  // An outage leaves this page as it is: it is what the recovery card links to.
  ctx.onDown(() => {});
}
