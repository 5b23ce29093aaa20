// The cases queue: KPI cards, filters and title search kept in the page URL,
// a table sortable by column, keyset pages, live refresh, a New Case form
// (key C), and the selected case's detail (`?selectedCase=<id>`). When live
// reads fail it turns into a recovery surface instead of an empty queue.

import { aborted, api, problem } from "./api.js";
import { add, ago, badge, fill, h, number, tickAgo, uid } from "./dom.js";
import * as detail from "./case.js";
import { board } from "./kanban.js";
import { palette } from "./palette.js";

export const STATUSES = ["open", "in_progress", "pending_approval", "contained", "eradicated", "recovered", "resolved", "closed", "pending"];
export const SEVERITIES = ["critical", "high", "medium", "low", "informational"];
export const DISPOSITIONS = ["true_positive", "false_positive", "benign", "inconclusive"];
const FILTERS = ["status", "severity", "assignee", "tag", "observable", "q"];
const PAGE_SIZE = 25;
const REFRESH_MS = 3000;

/** Columns: heading and the API's sort key. */
const COLUMNS = [
  ["Case", "number"],
  ["Title", "title"],
  ["Severity", "severity"],
  ["Status", "status"],
  ["Alerts", "alert_count"],
  ["Observables", "observable_count"],
  ["Assignee", "assignee"],
  ["Last activity", "updated_at"],
];

/** The queue keeps its frame during an outage and shows it itself. */
export const degradable = true;

/**
 * Runs a case write and says what happened: a stored change, or, in dummy
 * and dry_run modes, the preview the API answered ("Preview: would ...;
 * nothing was changed"). Resolves to the answer; rejects with the ApiError.
 */
export async function act(ctx, notice, path, opts, would) {
  const answer = await api(path, { signal: ctx.signal, ...opts });
  if (answer && answer.preview === true) {
    fill(
      notice,
      h(
        "div",
        { class: "preview-note", role: "status" },
        h("p", {}, h("strong", { text: "Preview: " }), `would ${would}; nothing was changed.`),
        h("p", { class: "muted small", text: answer.reason }),
      ),
    );
  } else {
    fill(notice, h("p", { class: "done-note", role: "status", text: `Done: ${would.replace(/^(\w+)/, (w) => pastTense(w))}.` }));
  }
  return answer;
}

function pastTense(verb) {
  const map = { move: "moved", add: "added", set: "set", assign: "assigned", create: "created", record: "recorded", unassign: "unassigned", delete: "deleted", dispatch: "dispatched" };
  return map[verb] || verb;
}

function queryUrl(params) {
  const s = params.toString();
  return `/cases${s ? `?${s}` : ""}`;
}

export async function render(ctx) {
  document.title = "Cases · Vigil";
  const { root, query } = ctx;
  const mode = ctx.session.mode ? ctx.session.mode.mode : null;
  const canWrite = ctx.has("operator");
  const kpiBox = h("section", { class: "kpis", "aria-label": "Case counts" });
  renderKpis(kpiBox, undefined);
  const notice = h("div", { class: "case-notice", "aria-live": "polite" });
  const queueBox = h("div", { class: "queue-box" });
  const detailBox = h("div", { class: "detail-box" });
  const liveNote = h("p", { class: "muted live-note", role: "status" });
  const showcase = h("p", { class: "notice showcase-note", hidden: true }, "Showcase data: this is the bundled sample queue of dummy mode. Case actions answer a preview and change nothing.");

  const newForm = createForm(ctx, notice);
  const newButton = h("button", { type: "button", class: "new-case", "aria-keyshortcuts": "C", disabled: !canWrite, title: canWrite ? "New case (C)" : "Needs the operator role" }, "New case");
  const kanban = query.get("view") === "kanban";
  const toggleView = () => {
    const here = new URLSearchParams(location.search);
    if (kanban) here.delete("view");
    else here.set("view", "kanban");
    ctx.navigate(queryUrl(here));
  };
  const viewButton = h("button", { type: "button", class: "secondary view-toggle", "aria-keyshortcuts": "V", "aria-pressed": kanban ? "true" : "false", title: "Table or Kanban (V)", onclick: toggleView }, "Kanban view");
  newButton.addEventListener("click", () => newForm.toggle(true));
  const filters = filterForm(ctx);

  add(root,
    h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Cases"), h("div", { class: "head-actions" }, h("span", { class: "muted small", text: "Ctrl+K: palette" }), viewButton, newButton)),
    showcase,
    kpiBox,
    newForm.el,
    notice,
    filters.el,
    queueBox,
    liveNote,
    detailBox,
  );

  // The page's state: the last page of cases, and the open detail.
  let page = null;
  let opened = null;
  let degraded = null;

  const table = h("table", { class: "queue cases" });
  // Bulk selection: ids kept across refreshes while their rows are shown.
  const chosen = new Set();
  const selectAll = h("input", { type: "checkbox", class: "select-all", "aria-label": "Select every case on this page", disabled: !canWrite });
  const bulk = bulkForm(ctx, () => (page ? page.items.filter((c) => chosen.has(c.id)) : []), () => refresh());
  const syncBulk = () => {
    const shown = page ? page.items.filter((c) => chosen.has(c.id)).length : 0;
    bulk.update(shown);
    selectAll.checked = !!page && page.items.length > 0 && shown === page.items.length;
    selectAll.indeterminate = shown > 0 && !selectAll.checked;
  };
  selectAll.addEventListener("change", () => {
    for (const c of page ? page.items : []) {
      if (selectAll.checked) chosen.add(c.id);
      else chosen.delete(c.id);
    }
    for (const box of body.querySelectorAll("input.select-case")) box.checked = selectAll.checked;
    syncBulk();
  });
  const body = h("tbody");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const listError = h("div");
  const sort = query.get("sort") || "updated_at";
  const order = query.get("order") || "desc";
  add(table,
    h("caption", { class: "visually-hidden" }, `Cases by ${sort.replaceAll("_", " ")}, ${order === "asc" ? "ascending" : "descending"}`),
    h("thead", {}, h("tr", {}, h("td", { class: "select-cell" }, selectAll), COLUMNS.map(([label, key]) => header(label, key, sort, order)))),
    body,
  );
  const boardBox = h("div", { class: "board-box" });
  fill(queueBox, listError, kanban ? null : bulk.el, kanban ? boardBox : h("div", { class: "table-wrap" }, table), pager);
  const cards = kanban
    ? board(boardBox, {
        open: (c) => openDetail(c.id),
        move: async (c, status, disposition) => {
          const body = { status };
          if (disposition) body.disposition = disposition;
          const answer = await act(ctx, notice, `/cases/${encodeURIComponent(c.id)}/status`, { method: "POST", body }, `move ${c.number} to ${status.replaceAll("_", " ")}${disposition ? ` (${disposition.replaceAll("_", " ")})` : ""}`);
          if (!answer.preview) refresh();
          return { stored: !answer.preview };
        },
      })
    : null;

  const params = new URLSearchParams();
  for (const key of FILTERS) if (query.get(key)) params.set(key, query.get(key));
  for (const key of ["sort", "order", "cursor"]) if (query.get(key)) params.set(key, query.get(key));
  params.set("limit", query.get("limit") || String(PAGE_SIZE));

  const select = (id) => {
    const here = new URLSearchParams(location.search);
    if (id) here.set("selectedCase", id);
    else here.delete("selectedCase");
    history.replaceState(null, "", queryUrl(here));
  };

  const closeDetail = () => {
    if (opened) opened.close();
    opened = null;
    fill(detailBox);
    select(null);
    markSelected();
  };

  const openDetail = (id, { focus = true } = {}) => {
    if (opened && opened.id === id) return;
    if (opened) opened.close();
    select(id);
    opened = detail.open(ctx, id, detailBox, {
      onClose: closeDetail,
      onChanged: () => refresh(),
      onMissing: () => {
        opened = null;
        select(null);
        markSelected();
      },
      focus,
    });
    markSelected();
  };

  function markSelected() {
    const id = opened ? opened.id : null;
    for (const row of body.querySelectorAll("tr[data-id]")) {
      const on = !!id && (row.dataset.id === id || row.dataset.number === id.toUpperCase());
      row.classList.toggle("selected", on);
      row.querySelector("button.open-case")?.setAttribute("aria-expanded", on ? "true" : "false");
    }
  }

  const selectBox = (c) => {
    const box = h("input", { type: "checkbox", class: "select-case", "aria-label": `Select ${c.number}`, checked: chosen.has(c.id), disabled: !canWrite });
    box.addEventListener("change", () => {
      if (box.checked) chosen.add(c.id);
      else chosen.delete(c.id);
      syncBulk();
    });
    return box;
  };

  const renderRows = () => {
    if (cards) {
      if (!cards.busy()) cards.render(page.items);
      renderPager();
      return;
    }
    const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.closest("tr")?.dataset.id : null;
    fill(body);
    if (page.items.length === 0) {
      add(body, h("tr", { class: "empty" }, h("td", { colspan: String(COLUMNS.length + 1) }, "No cases match these filters.")));
    }
    for (const c of page.items) {
      const cells = [
        h("button", { type: "button", class: "link open-case mono", "aria-expanded": "false", "aria-label": `Open ${c.number}: ${c.title}`, onclick: () => (opened && opened.id === c.id ? closeDetail() : openDetail(c.id)) }, c.number),
        h("span", { class: "case-title", text: c.title }),
        badge(c.severity, "severity"),
        [badge(c.status), c.disposition ? h("span", { class: "muted small", text: ` ${c.disposition.replaceAll("_", " ")}` }) : null],
        number(c.counts.alerts),
        number(c.counts.observables),
        c.assignee || h("span", { class: "muted", text: "unassigned" }),
        ago(c.updated_at),
      ];
      add(body,
        h(
          "tr",
          { "data-id": c.id, "data-number": c.number, "data-status": c.status },
          h("td", { class: "select-cell" }, selectBox(c)),
          cells.map((cell, i) => h(i === 0 ? "th" : "td", { "data-label": COLUMNS[i][0], scope: i === 0 ? "row" : null }, cell)),
        ),
      );
    }
    markSelected();
    syncBulk();
    if (focused) body.querySelector(`tr[data-id="${CSS.escape(focused)}"] button`)?.focus();
    renderPager();
  };

  const renderPager = () => {
    const links = [];
    const here = new URLSearchParams(location.search);
    here.delete("selectedCase");
    if (here.get("cursor")) {
      here.delete("cursor");
      links.push(h("a", { href: queryUrl(here), "data-link": true }, "« First page"));
    }
    if (page.next_cursor) {
      const next = new URLSearchParams(location.search);
      next.delete("selectedCase");
      next.set("cursor", page.next_cursor);
      links.push(h("a", { href: queryUrl(next), "data-link": true, rel: "next" }, "Next page »"));
    }
    fill(pager, links);
  };

  const refresh = async () => {
    if (degraded) return;
    try {
      page = await api(`/cases?${params}`, { signal: ctx.signal });
    } catch (e) {
      if (aborted(e)) return;
      if (!degraded) fill(listError, problem(e, "Listing cases: "));
      return;
    }
    fill(listError);
    showcase.hidden = !page.showcase;
    renderKpis(kpiBox, page.kpis);
    renderRows();
    liveNote.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s.`;
  };

  // Degraded live reads: placeholders, read-only filters, no creation, a
  // recovery card, and no pinned case. The app re-renders this view once
  // /readyz answers again.
  ctx.onDown((cause) => {
    const first = !degraded;
    degraded = cause;
    renderKpis(kpiBox, null);
    filters.readOnly(true);
    newButton.disabled = true;
    viewButton.disabled = true;
    newForm.toggle(false);
    if (opened || new URLSearchParams(location.search).get("selectedCase")) {
      if (opened) opened.close();
      opened = null;
      fill(detailBox);
      select(null);
    }
    if (first) fill(queueBox, recoveryCard());
    const cardCause = queueBox.querySelector(".recovery-cause");
    if (cardCause) cardCause.textContent = cause;
    const checked = queueBox.querySelector(".recovery-checked");
    if (checked) checked.textContent = `Checking again every few seconds; the queue comes back by itself. Last check: ${new Date().toLocaleTimeString()}.`;
    liveNote.textContent = "";
  });

  document.addEventListener(
    "keydown",
    (e) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target;
      if (t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
      if ((e.key === "c" || e.key === "C") && !newButton.disabled) {
        e.preventDefault();
        newForm.toggle(true);
      } else if ((e.key === "v" || e.key === "V") && !degraded) {
        e.preventDefault();
        toggleView();
      }
    },
    { signal: ctx.signal },
  );
  palette(ctx, {
    cases: () => (page ? page.items : []),
    open: (id) => openDetail(id),
    newCase: () => !newButton.disabled && newForm.toggle(true),
    opened: () => opened,
    toggleView,
    unavailable: () => degraded,
  });
  newForm.onCreated((created) => {
    refresh();
    if (created && created.id) openDetail(created.id);
  });

  if (ctx.down()) return;
  await refresh();
  const wanted = query.get("selectedCase");
  if (wanted && !degraded) openDetail(wanted, { focus: false });
  ctx.every(refresh, REFRESH_MS);
  ctx.every(() => tickAgo(root), 1000);
}

function header(label, key, sort, order) {
  if (!key) return h("th", { scope: "col", text: label });
  const active = sort === key;
  const next = active && order === "desc" ? "asc" : "desc";
  const here = new URLSearchParams(location.search);
  here.delete("cursor");
  here.delete("selectedCase");
  here.set("sort", key);
  here.set("order", next);
  return h(
    "th",
    { scope: "col", "aria-sort": active ? (order === "asc" ? "ascending" : "descending") : "none" },
    h("a", { href: queryUrl(here), "data-link": true, class: "sort", "data-sort": key, "aria-label": `Sort by ${label.toLowerCase()}, ${next === "asc" ? "ascending" : "descending"}` }, label, active ? (order === "asc" ? " ▲" : " ▼") : ""),
  );
}

/** The KPI cards: counts, "…" while loading (`undefined`), "unavailable" placeholders (`null`). */
function renderKpis(box, kpis) {
  const card = (label, key, cls) => {
    const state = kpis === null ? "unavailable" : kpis === undefined ? "loading" : "live";
    const count = kpis ? number(kpis[key]) : kpis === null ? "—" : "…";
    return h(
      "li",
      { class: `stat kpi ${cls}`, "data-kpi": key, "data-state": state },
      h("span", { class: "stat-count", text: count }),
      h("span", { class: "stat-label", text: label }),
      state === "unavailable" ? h("span", { class: "kpi-unavailable", text: "unavailable" }) : null,
    );
  };
  fill(
    box,
    h("ul", { class: "stats" }, card("total", "total", "k-total"), card("open", "open", "k-open"), card("critical", "critical", "k-critical"), card("resolved", "resolved", "k-resolved")),
  );
  box.dataset.state = kpis === null ? "unavailable" : kpis === undefined ? "loading" : "live";
}

function recoveryCard() {
  return h(
    "section",
    { class: "card recovery queue-recovery", role: "alert", "aria-labelledby": "queue-recovery-h" },
    h("h2", { id: "queue-recovery-h" }, "Live case queue unavailable"),
    h("p", {}, "Vigil cannot read cases right now, so this is not an empty queue: nothing is shown rather than something stale. Nothing is lost."),
    h("p", {}, h("strong", { text: "Cause: " }), h("span", { class: "recovery-cause" })),
    h("p", {}, "Restore the database connection for live case reads, or run in dummy mode to review the showcase workflow while it is offline."),
    h("p", {}, h("a", { href: "/settings", "data-link": true, class: "button secondary review-settings" }, "Review runtime settings")),
    h("p", { class: "muted recovery-checked" }),
  );
}

function filterForm(ctx) {
  const q = ctx.query;
  const field = (label, control) => {
    control.id = uid("filter");
    return h("div", { class: "field" }, h("label", { for: control.id, text: label }), control);
  };
  const select = (name, values) =>
    h("select", { name }, h("option", { value: "" }, "any"), values.map((v) => h("option", { value: v, selected: q.get(name) === v }, v.replaceAll("_", " "))));
  const text = (name, placeholder, type = "text") => h("input", { name, type, value: q.get(name) || "", placeholder, autocomplete: "off" });
  const fieldset = h(
    "fieldset",
    { class: "filter-fields" },
    h("legend", { class: "visually-hidden" }, "Filters"),
    field("Search titles", text("q", "words in the title", "search")),
    field("Status", select("status", STATUSES)),
    field("Severity", select("severity", SEVERITIES)),
    field("Assignee", text("assignee", "principal")),
    field("Tag", text("tag", "tag")),
    field("Observable", text("observable", "a value, e.g. an IP")),
    h("div", { class: "field actions" }, h("button", { type: "submit" }, "Apply"), h("a", { href: "/cases", "data-link": true, class: "button secondary clear-filters" }, "Clear")),
  );
  const form = h(
    "form",
    {
      class: "filters case-filters",
      role: "search",
      "aria-label": "Filter cases",
      onsubmit: (e) => {
        e.preventDefault();
        if (fieldset.disabled) return;
        const data = new FormData(form);
        const out = new URLSearchParams();
        for (const key of FILTERS) {
          const v = String(data.get(key) || "").trim();
          if (v) out.set(key, v);
        }
        for (const key of ["sort", "order", "limit", "view"]) if (q.get(key)) out.set(key, q.get(key));
        ctx.navigate(queryUrl(out));
      },
    },
    fieldset,
  );
  return {
    el: form,
    readOnly(on) {
      fieldset.disabled = on;
      form.dataset.readonly = on ? "true" : "false";
      const clear = form.querySelector(".clear-filters");
      if (on) clear.setAttribute("aria-disabled", "true");
      else clear.removeAttribute("aria-disabled");
      clear.tabIndex = on ? -1 : 0;
      clear.classList.toggle("disabled", on);
    },
  };
}

function createForm(ctx, notice) {
  const ids = { title: uid("new-title"), severity: uid("new-sev"), assignee: uid("new-assignee"), description: uid("new-desc"), tags: uid("new-tags") };
  const error = h("div", { class: "form-error" });
  const title = h("input", { id: ids.title, name: "title", type: "text", required: true, maxlength: "500", autocomplete: "off" });
  const severity = h("select", { id: ids.severity, name: "severity" }, SEVERITIES.map((s) => h("option", { value: s, selected: s === "medium" }, s)));
  const assignee = h("input", { id: ids.assignee, name: "assignee", type: "text", autocomplete: "off", placeholder: "principal (optional)" });
  const description = h("textarea", { id: ids.description, name: "description", rows: "2" });
  const tags = h("input", { id: ids.tags, name: "tags", type: "text", autocomplete: "off", placeholder: "comma-separated" });
  const submit = h("button", { type: "submit" }, "Create case");
  let created = () => {};
  const form = h(
    "form",
    {
      class: "card new-case-form",
      hidden: true,
      "aria-label": "New case",
      onsubmit: async (e) => {
        e.preventDefault();
        fill(error);
        if (!title.value.trim()) {
          fill(error, h("p", { role: "alert" }, "Give the case a title."));
          return;
        }
        submit.disabled = true;
        const body = { title: title.value.trim(), severity: severity.value };
        if (assignee.value.trim()) body.assignee = assignee.value.trim();
        if (description.value.trim()) body.description = description.value.trim();
        const t = tags.value.split(",").map((s) => s.trim()).filter(Boolean);
        if (t.length) body.tags = t;
        try {
          const answer = await act(ctx, notice, "/cases", { method: "POST", body }, `create ${body.severity} case "${body.title}"`);
          form.reset();
          toggle(false);
          created(answer.preview ? null : answer);
        } catch (err) {
          if (!aborted(err)) fill(error, problem(err, "Not created: "));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", {}, "New case"),
    h("div", { class: "field grow" }, h("label", { for: ids.title }, "Title"), title),
    h("div", { class: "field" }, h("label", { for: ids.severity }, "Severity"), severity),
    h("div", { class: "field" }, h("label", { for: ids.assignee }, "Assignee"), assignee),
    h("div", { class: "field" }, h("label", { for: ids.tags }, "Tags"), tags),
    h("div", { class: "field grow" }, h("label", { for: ids.description }, "Description"), description),
    h("div", { class: "field actions" }, submit, h("button", { type: "button", class: "secondary", onclick: () => toggle(false) }, "Cancel")),
    error,
  );
  function toggle(on) {
    form.hidden = !on;
    if (on) title.focus();
  }
  return { el: form, toggle, onCreated: (fn) => (created = fn) };
}

/**
 * Batch status change and assignment for the selected cases: one request
 * per case, and the outcome of each listed (stored, preview, or the API's
 * problem).
 */
function bulkForm(ctx, selected, done) {
  const results = h("ul", { class: "bulk-results", "aria-live": "polite" });
  const count = h("strong", { class: "bulk-count" });
  const status = h("select", { name: "status", class: "bulk-status", "aria-label": "New status for the selected cases" }, h("option", { value: "" }, "status…"), STATUSES.map((s) => h("option", { value: s }, s.replaceAll("_", " "))));
  const disposition = h("select", { name: "disposition", class: "bulk-disposition", "aria-label": "Disposition (resolved or closed)" }, h("option", { value: "" }, "disposition…"), DISPOSITIONS.map((d) => h("option", { value: d }, d.replaceAll("_", " "))));
  const assignee = h("input", { name: "assignee", type: "text", class: "bulk-assignee", "aria-label": "Assignee for the selected cases", placeholder: "assignee", autocomplete: "off" });
  const run = async (what, request) => {
    const cases = selected();
    fill(results);
    for (const c of cases) {
      const line = h("li", { "data-number": c.number }, `${c.number}: …`);
      results.appendChild(line);
      const [path, opts, would] = request(c);
      try {
        const answer = await api(path, { signal: ctx.signal, ...opts });
        line.dataset.outcome = answer.preview ? "preview" : "done";
        fill(line, h("strong", { text: `${c.number}: ` }), answer.preview ? `Preview: would ${would}; nothing was changed.` : `done (${what}).`);
      } catch (e) {
        if (aborted(e)) return;
        line.dataset.outcome = "refused";
        fill(line, h("strong", { text: `${c.number}: ` }), problem(e));
      }
    }
    done();
  };
  const el = h(
    "form",
    {
      class: "bulk",
      hidden: true,
      "aria-label": "Change the selected cases",
      onsubmit: (e) => e.preventDefault(),
    },
    h("p", {}, count, " selected"),
    status,
    disposition,
    h(
      "button",
      {
        type: "button",
        class: "small bulk-apply-status",
        onclick: () => {
          if (!status.value) return;
          const body = { status: status.value };
          if (disposition.value) body.disposition = disposition.value;
          run(`moved to ${status.value.replaceAll("_", " ")}`, (c) => [`/cases/${encodeURIComponent(c.id)}/status`, { method: "POST", body }, `move ${c.number} to ${status.value.replaceAll("_", " ")}`]);
        },
      },
      "Change status",
    ),
    assignee,
    h(
      "button",
      {
        type: "button",
        class: "small bulk-apply-assign",
        onclick: () => {
          const who = assignee.value.trim() || null;
          run(who ? `assigned to ${who}` : "unassigned", (c) => [`/cases/${encodeURIComponent(c.id)}/assign`, { method: "POST", body: { assignee: who } }, who ? `assign ${c.number} to ${who}` : `unassign ${c.number}`]);
        },
      },
      "Assign",
    ),
    results,
  );
  return {
    el,
    update(n) {
      count.textContent = String(n);
      el.hidden = n === 0 && results.children.length === 0;
    },
  };
}
