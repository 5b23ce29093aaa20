// The case's observables, tasks, comments (with the AI summary) and related
// cases, each with its add form where people add them.

import { ago, badge, fill, h, time } from "./dom.js";
import { field, same, selectOf, seg } from "./case-parts.js";

const OBSERVABLE_TYPES = ["ip", "domain", "url", "hash_md5", "hash_sha1", "hash_sha256", "email", "user", "host", "file", "other"];
const TLP = ["clear", "green", "amber", "amber+strict", "red"];
const PAP = ["clear", "green", "amber", "red"];
const TASK_STATUSES = ["todo", "in_progress", "blocked", "done"];

export function renderObservables(box, items) {
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

export function observableForm(current, write, canWrite) {
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

export function renderTasks(box, items, move, canWrite) {
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

export function newTaskForm(current, write, canWrite) {
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

export function renderComments(box, aiBox, items) {
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

export function newCommentForm(current, write, canWrite) {
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

export function renderRelated(box, items) {
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
