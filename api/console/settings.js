// Runtime settings, read-only: the mode and store (`GET /system/mode`),
// the model, agents, tools, webhooks and grouping rules
// (`GET /system/settings`), and the workers seen. While the database is
// down, the last answers the console kept are shown, marked as such. No
// secrets: the API never returns any.

import { aborted, api, problem } from "./api.js";
import { add, facts, h, time } from "./dom.js";

export const degradable = true;

const words = (v) => String(v).replaceAll("_", " ");

function table(cls, caption, heads, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: `settings-table ${cls}` },
      h("caption", { class: "visually-hidden", text: caption }),
      h("thead", {}, h("tr", {}, heads.map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, rows),
    ),
  );
}

function card(id, title, ...children) {
  return h("section", { class: `card settings-${id}`, "aria-labelledby": `settings-${id}-h` }, h("h2", { id: `settings-${id}-h` }, title), ...children);
}

function seconds(ms) {
  if (ms === null || ms === undefined) return "none";
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function windowText(secs) {
  if (secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs % 60 === 0) return `${secs / 60} min`;
  return `${secs} s`;
}

/** What `GET /system/settings` answered, as cards. */
function configuration(s) {
  return [
    card(
      "model",
      "Model",
      s.model
        ? facts([
            ["Model", h("code", { text: s.model.name })],
            ["Endpoint host", s.model.host ? h("code", { text: s.model.host }) : "none"],
          ])
        : h("p", { class: "muted" }, "No model endpoint: dummy mode's scripted model answers in the process."),
    ),
    card(
      "agents",
      "Agents",
      s.agents.length
        ? table(
            "agents",
            "Agents with their model and tools",
            ["Agent", "Model", "Tools"],
            s.agents.map((a) =>
              h(
                "tr",
                { "data-agent": a.id },
                h("td", { "data-label": "Agent" }, h("code", { text: a.id })),
                h("td", { "data-label": "Model", text: a.model || (s.model ? `${s.model.name} (default)` : "the scripted model") }),
                h("td", { "data-label": "Tools", text: a.tools.length ? a.tools.join(", ") : "none" }),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No agents configured."),
    ),
    card(
      "tools",
      "Tools",
      s.tools.length
        ? table(
            "tools",
            "Tools with their kind, effect, approval and timeout",
            ["Tool", "Kind", "Effect", "Approval", "Timeout", "Host"],
            s.tools.map((t) =>
              h(
                "tr",
                { "data-tool": t.name, "data-effect": t.effect, "data-approval": String(t.approval_required) },
                h("td", { "data-label": "Tool" }, h("code", { text: t.name })),
                h("td", { "data-label": "Kind", text: t.kind }),
                h("td", { "data-label": "Effect", text: t.effect === "write" ? "write (changes things)" : "read" }),
                h("td", { "data-label": "Approval", text: t.approval_required ? "a person approves" : "not needed" }),
                h("td", { "data-label": "Timeout", text: seconds(t.timeout_ms) }),
                h("td", { "data-label": "Host" }, t.host ? h("code", { text: t.host }) : "—"),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No tools configured."),
    ),
    card(
      "webhooks",
      "Webhooks",
      s.webhooks.length
        ? table(
            "webhooks",
            "Approval notification receivers",
            ["Receiver", "Where (origin only)", "Events"],
            s.webhooks.map((w) =>
              h(
                "tr",
                { "data-webhook": w.name },
                h("td", { "data-label": "Receiver" }, h("code", { text: w.name })),
                h("td", { "data-label": "Where" }, w.url ? h("code", { text: w.url }) : "—"),
                h("td", { "data-label": "Events", text: w.events.map(words).join(", ") }),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No webhooks: approval requests are announced in the console only."),
    ),
    card(
      "grouping",
      "Alert grouping rules",
      table(
        "grouping",
        "Alert grouping rules in the order they are tried",
        ["Detection rule", "Grouped by", "Window", "Investigates"],
        s.grouping_rules.map((r) =>
          h(
            "tr",
            {},
            h("td", { "data-label": "Detection rule", text: r.rule || "any" }),
            h("td", { "data-label": "Grouped by", text: r.entity_types.join(", then ") || "—" }),
            h("td", { "data-label": "Window", text: windowText(r.window_secs) }),
            h("td", { "data-label": "Investigates", text: r.investigate || "—" }),
          ),
        ),
      ),
    ),
  ];
}

export async function render(ctx) {
  document.title = "Settings · Vigil";
  const box = h("div", { class: "settings" });
  add(ctx.root,
    h("h1", { tabindex: "-1" }, "Runtime settings"),
    h("p", { class: "muted" }, "Read-only. They come from the server's configuration (vigil.toml, VIGIL_* variables, flags); change them there and restart. Secrets (API keys, headers, signing secrets, URL paths and queries) are never shown."),
    box,
  );
  let mode = ctx.session.mode;
  let config = ctx.session.settings || null;
  let stale = false;
  const problems = [];
  if (!ctx.down()) {
    const [m, s] = await Promise.allSettled([api("/system/mode", { signal: ctx.signal, quiet: true }), api("/system/settings", { signal: ctx.signal, quiet: true })]);
    if ([m, s].some((r) => r.status === "rejected" && aborted(r.reason))) return;
    if (m.status === "fulfilled") mode = m.value;
    else {
      stale = true;
      problems.push(problem(m.reason, "Reading the runtime mode: "));
    }
    if (s.status === "fulfilled") {
      config = s.value;
      ctx.session.settings = config;
    } else {
      stale = true;
      problems.push(problem(s.reason, "Reading the settings: "));
    }
  } else stale = true;
  add(box, ...problems);
  if (!mode && !config) return;
  add(box,
    stale ? h("p", { class: "notice", role: "status" }, "The server cannot read everything right now; this is what it said last.") : null,
    mode
      ? card(
          "runtime",
          "Runtime",
          facts([
            ["Mode", h("strong", { text: words(mode.mode) })],
            ["Store", mode.backend],
            ["Vigil", mode.version],
            ["Receipt key", mode.receipt_key || "none"],
          ]),
        )
      : null,
    config ? configuration(config) : h("p", { class: "notice settings-unavailable", role: "status" }, "The model, agents, tools and webhooks are shown once the server answers again."),
    mode
      ? card(
          "workers",
          `Workers seen in the last minute: ${mode.workers_seen}`,
          (mode.workers || []).length ? h("ul", {}, mode.workers.map((w) => h("li", {}, h("code", { text: w.id }), ` (${w.agents.join(", ")}) · last seen `, time(w.seen_at)))) : null,
        )
      : null,
  );
  // An outage leaves this page as it is: it is what the recovery card links to.
  ctx.onDown(() => {});
}
