// The command palette of the case workspace (Ctrl+K or Cmd+K): jump to a
// case by number or title (the current page first, then the API's title
// search), or run a command: new case, assign the open case to me, change
// its status (the palette then lists the statuses to move it to), switch
// between table and Kanban. Commands act through the open case's own
// controls, so their outcome (done, the preview, the API's refusal) shows
// where that control shows it.

import { aborted, api } from "./api.js";
import { fill, h, uid } from "./dom.js";

/**
 * Installs the palette for the view in `ctx` (removed when it goes away).
 * `hooks`: `cases()` (the current page), `open(id)`, `newCase()`,
 * `opened()` (the open case's handle or null), `toggleView()`,
 * `unavailable()` (live reads are down: only commands that need none).
 */
export function palette(ctx, hooks) {
  const listId = uid("palette-list");
  const inputId = uid("palette-input");
  const input = h("input", {
    id: inputId,
    type: "text",
    class: "palette-input",
    role: "combobox",
    "aria-expanded": "true",
    "aria-controls": listId,
    "aria-autocomplete": "list",
    autocomplete: "off",
    placeholder: "CASE-12, words of a title, or a command",
  });
  const list = h("ul", { id: listId, class: "palette-list", role: "listbox", "aria-label": "Results" });
  const el = h(
    "dialog",
    { class: "palette", "aria-label": "Command palette" },
    h("label", { for: inputId }, "Go to a case or run a command"),
    input,
    list,
    h("p", { class: "muted small", text: "↑ ↓ to choose, Enter to run, Esc to close." }),
  );
  document.body.appendChild(el);
  ctx.signal.addEventListener("abort", () => el.remove());

  let items = [];
  let active = 0;
  let searching = null;
  // `cases` (cases and commands) or `status` (the statuses to move the open case to).
  let mode = "cases";
  const placeholder = input.placeholder;

  const commands = () => {
    const open = hooks.opened();
    const canWrite = ctx.has("operator");
    return [
      { label: "New case", hint: "C", run: hooks.newCase, disabled: !canWrite || !!hooks.unavailable() },
      {
        label: "Assign the open case to me",
        hint: open ? "" : "open a case first",
        disabled: !open || !canWrite,
        run: () => document.querySelector(".case-detail .assign-me")?.click(),
      },
      {
        label: "Change the open case's status…",
        hint: open ? "" : "open a case first",
        disabled: !open || !canWrite,
        keepOpen: true,
        run: () => {
          mode = "status";
          input.value = "";
          input.placeholder = "the status to move the open case to";
          compute();
          input.focus();
        },
      },
      { label: "Switch table / Kanban", hint: "V", run: hooks.toggleView, disabled: !!hooks.unavailable() },
    ];
  };

  /** The open case's statuses to move to, from its status control. */
  function statuses(text) {
    const detail = document.querySelector(".case-detail[data-status]");
    const select = detail?.querySelector(".edit-status");
    if (!select) return [];
    const number = (detail.querySelector(".case-heading")?.textContent || "the case").split(" · ")[0];
    return [...select.options]
      .filter((o) => o.value !== detail.dataset.status)
      .filter((o) => !text || o.textContent.toLowerCase().includes(text) || o.value.includes(text))
      .map((o) => ({
        label: `Move ${number} to ${o.textContent}`,
        hint: ["resolved", "closed"].includes(o.value) ? "asks for the disposition" : "",
        kind: "status",
        run: () => {
          select.value = o.value;
          select.dispatchEvent(new Event("change", { bubbles: true }));
          if (["resolved", "closed"].includes(o.value)) {
            // A disposition is needed first: the form waits for it.
            const d = detail.querySelector(".edit-disposition");
            d?.scrollIntoView({ block: "center" });
            d?.focus();
          } else select.form.requestSubmit();
        },
      }));
  }

  function compute(extra = []) {
    const text = input.value.trim().toLowerCase();
    if (mode === "status") {
      items = statuses(text);
      active = 0;
      draw();
      return;
    }
    const out = [];
    const seen = new Set();
    const addCase = (c) => {
      if (seen.has(c.id)) return;
      seen.add(c.id);
      out.push({ label: `${c.number} · ${c.title}`, hint: c.status.replaceAll("_", " "), run: () => hooks.open(c.id), kind: "case" });
    };
    if (!hooks.unavailable()) {
      for (const c of hooks.cases()) {
        if (!text || c.number.toLowerCase().includes(text) || c.title.toLowerCase().includes(text)) addCase(c);
      }
      for (const c of extra) addCase(c);
      const m = /^(case-)?(\d+)$/.exec(text);
      if (m && !out.some((i) => i.kind === "case" && i.label.toLowerCase().startsWith(`case-${m[2]} `))) {
        out.push({ label: `Open CASE-${m[2]}`, hint: "by number", run: () => hooks.open(`CASE-${m[2]}`), kind: "case" });
      }
    }
    for (const c of commands()) if (!text || c.label.toLowerCase().includes(text)) out.push(c);
    items = out.slice(0, 12);
    active = Math.max(0, items.findIndex((i) => !i.disabled));
    draw();
  }

  function draw() {
    fill(
      list,
      items.length === 0 ? h("li", { class: "muted", role: "option", "aria-disabled": "true" }, "Nothing matches.") : null,
      items.map((item, i) =>
        h(
          "li",
          {
            id: `${listId}-${i}`,
            role: "option",
            class: `palette-item${i === active ? " active" : ""}`,
            "aria-selected": i === active ? "true" : "false",
            "aria-disabled": item.disabled ? "true" : null,
            onmousedown: (e) => {
              e.preventDefault();
              run(i);
            },
          },
          h("span", { text: item.label }),
          item.hint ? h("span", { class: "muted small", text: ` ${item.hint}` }) : null,
        ),
      ),
    );
    if (items[active]) input.setAttribute("aria-activedescendant", `${listId}-${active}`);
    else input.removeAttribute("aria-activedescendant");
  }

  function run(i) {
    const item = items[i];
    if (!item || item.disabled) return;
    if (!item.keepOpen) el.close();
    item.run();
  }

  input.addEventListener("input", () => {
    compute();
    clearTimeout(searching);
    const text = input.value.trim();
    if (mode !== "cases" || text.length < 2 || hooks.unavailable()) return;
    searching = setTimeout(async () => {
      try {
        const page = await api(`/cases?${new URLSearchParams({ q: text, limit: "8" })}`, { signal: ctx.signal });
        if (input.value.trim() === text) compute(page.items);
      } catch (e) {
        if (!aborted(e)) compute();
      }
    }, 200);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      for (let n = 0; n < items.length; n += 1) {
        active = (active + step + items.length) % items.length;
        if (!items[active].disabled) break;
      }
      draw();
    } else if (e.key === "Enter") {
      e.preventDefault();
      run(active);
    }
  });

  document.addEventListener(
    "keydown",
    (e) => {
      if ((e.ctrlKey || e.metaKey) && (e.key === "k" || e.key === "K")) {
        e.preventDefault();
        if (el.open) {
          el.close();
          return;
        }
        mode = "cases";
        input.placeholder = placeholder;
        input.value = "";
        compute();
        el.showModal();
        input.focus();
      }
    },
    { signal: ctx.signal },
  );
}
