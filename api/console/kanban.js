// The case queue as a Kanban board: one column per status of the forward
// lifecycle (and pending), legacy statuses in a folded column. A card moves
// by drag and drop, by its "Move to" select, or with Alt+ArrowLeft/Right on
// its button; resolved and closed ask for the disposition first. A move the
// API refuses snaps back with the API's reason.

import { problem } from "./api.js";
import { badge, fill, h, number, uid } from "./dom.js";

export const COLUMNS = ["open", "in_progress", "pending_approval", "contained", "eradicated", "recovered", "resolved", "closed", "pending"];
const LEGACY = ["investigating", "escalated"];
const DISPOSITIONS = ["true_positive", "false_positive", "benign", "inconclusive"];
const words = (s) => s.replaceAll("_", " ");

/**
 * A board in `box`. `opts.move(c, status, disposition)` resolves to
 * `{ stored }` or rejects with the API's error; `opts.open(c)` opens a case.
 * Returns `{ render(items), busy() }`: `busy` is true while a card is being
 * dragged or moved, or a disposition is asked for (the queue then waits
 * before re-rendering).
 */
export function board(box, opts) {
  let dragged = null;
  let moving = 0;
  let asking = false;
  let items = [];
  /** Why the last move of a case was refused, by case id, shown on its card. */
  const refused = new Map();
  const lists = new Map();

  const dialog = dispositionDialog();
  const root = h("div", { class: "board", role: "region", "aria-label": "Cases by status" });
  const legacy = h("details", { class: "board-legacy" }, h("summary", {}, "Legacy statuses"));
  fill(box, root, dialog.el);

  function column(status, into) {
    const id = uid("col");
    const list = h("ol", { class: "board-cards", "aria-labelledby": id });
    const col = h(
      "section",
      { class: "board-column", "data-status": status, "aria-labelledby": id },
      h("h3", { id }, words(status), " ", h("span", { class: "count", "data-count": status })),
      list,
    );
    col.addEventListener("dragover", (e) => {
      if (!dragged || LEGACY.includes(status)) return;
      e.preventDefault();
      col.classList.add("drop-target");
    });
    col.addEventListener("dragleave", () => col.classList.remove("drop-target"));
    col.addEventListener("drop", (e) => {
      e.preventDefault();
      col.classList.remove("drop-target");
      const id = dragged || e.dataTransfer?.getData("text/plain");
      dragged = null;
      const c = items.find((x) => x.id === id);
      if (c) moveTo(c, status);
    });
    lists.set(status, list);
    into.appendChild(col);
  }
  for (const s of COLUMNS) column(s, root);
  const legacyCols = h("div", { class: "board-legacy-columns" });
  legacy.appendChild(legacyCols);
  for (const s of LEGACY) column(s, legacyCols);
  root.appendChild(legacy);

  function cardOf(c) {
    const reason = refused.get(c.id);
    const open = h("button", { type: "button", class: "link card-open", "aria-keyshortcuts": "Alt+ArrowLeft Alt+ArrowRight", "aria-describedby": null }, c.number);
    open.addEventListener("click", () => opts.open(c));
    open.addEventListener("keydown", (e) => {
      if (!e.altKey || (e.key !== "ArrowRight" && e.key !== "ArrowLeft")) return;
      const at = COLUMNS.indexOf(c.status);
      const next = at < 0 ? 0 : at + (e.key === "ArrowRight" ? 1 : -1);
      if (next < 0 || next >= COLUMNS.length) return;
      e.preventDefault();
      moveTo(c, COLUMNS[next], { refocus: true });
    });
    const select = h(
      "select",
      { class: "card-move", "aria-label": `Move ${c.number} to` },
      h("option", { value: "" }, "Move to…"),
      COLUMNS.filter((s) => s !== c.status).map((s) => h("option", { value: s }, words(s))),
    );
    select.addEventListener("change", () => {
      if (select.value) moveTo(c, select.value, { refocus: true });
    });
    const card = h(
      "li",
      { class: "board-card", draggable: "true", "data-id": c.id, "data-number": c.number, "data-status": c.status },
      h("p", {}, open, " ", badge(c.severity, "severity")),
      h("p", { class: "card-title", text: c.title }),
      h("p", { class: "muted small", text: `${number(c.counts.alerts)} alert${c.counts.alerts === 1 ? "" : "s"}` }),
      select,
      reason ? h("div", { class: "card-reason" }, reason) : null,
    );
    card.addEventListener("dragstart", (e) => {
      dragged = c.id;
      card.classList.add("dragging");
      if (e.dataTransfer) {
        e.dataTransfer.setData("text/plain", c.id);
        e.dataTransfer.effectAllowed = "move";
      }
    });
    card.addEventListener("dragend", () => {
      card.classList.remove("dragging");
      dragged = null;
    });
    return card;
  }

  async function moveTo(c, status, { refocus = false } = {}) {
    if (status === c.status) return;
    let disposition = null;
    if (status === "resolved" || status === "closed") {
      asking = true;
      disposition = await dialog.ask(c, status);
      asking = false;
      if (disposition === null) {
        draw();
        return;
      }
    }
    // Optimistic: the card goes to its column at once, and back if refused.
    const card = root.querySelector(`.board-card[data-id="${CSS.escape(c.id)}"]`);
    const from = c.status;
    if (card) {
      lists.get(status).appendChild(card);
      card.dataset.status = status;
      card.classList.add("moving");
    }
    moving += 1;
    refused.delete(c.id);
    try {
      const { stored } = await opts.move(c, status, disposition);
      if (stored) c.status = status;
    } catch (e) {
      refused.set(c.id, problem(e, `Stays ${words(from)}: `));
    } finally {
      moving -= 1;
    }
    draw();
    if (refocus) root.querySelector(`.board-card[data-id="${CSS.escape(c.id)}"] .card-open`)?.focus();
  }

  function draw() {
    // Keyboard focus stays on the same card's same control across a redraw.
    const focused = root.contains(document.activeElement) ? document.activeElement : null;
    const focusCard = focused?.closest(".board-card")?.dataset.id;
    const focusClass = focused?.classList.contains("card-move") ? "card-move" : "card-open";
    for (const list of lists.values()) fill(list);
    for (const c of items) {
      const list = lists.get(c.status) || lists.get("open");
      list.appendChild(cardOf(c));
    }
    for (const [status, list] of lists) {
      const count = root.querySelector(`[data-count="${status}"]`);
      count.textContent = String(list.children.length);
    }
    legacy.hidden = LEGACY.every((s) => lists.get(s).children.length === 0);
    if (focusCard) root.querySelector(`.board-card[data-id="${CSS.escape(focusCard)}"] .${focusClass}`)?.focus();
  }

  return {
    render(next) {
      items = next.map((c) => ({ ...c }));
      draw();
    },
    busy: () => !!dragged || moving > 0 || asking,
  };
}

/** A modal asking for the disposition of a move to resolved or closed. */
function dispositionDialog() {
  const id = uid("disp");
  const select = h("select", { id, name: "disposition" }, DISPOSITIONS.map((d) => h("option", { value: d }, words(d))));
  const title = h("h2", {});
  let settle = null;
  const form = h(
    "form",
    {
      method: "dialog",
      onsubmit: (e) => {
        e.preventDefault();
        done(select.value);
      },
    },
    title,
    h("p", { class: "muted", text: "Resolved and closed cases carry a disposition." }),
    h("label", { for: id }, "Disposition"),
    select,
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "confirm-move" }, "Move"), h("button", { type: "button", class: "secondary", onclick: () => done(null) }, "Cancel")),
  );
  const el = h("dialog", { class: "disposition-dialog", "aria-labelledby": null }, form);
  el.addEventListener("cancel", (e) => {
    e.preventDefault();
    done(null);
  });
  function done(value) {
    if (el.open) el.close();
    const s = settle;
    settle = null;
    if (s) s(value);
  }
  return {
    el,
    ask(c, status) {
      title.textContent = `Move ${c.number} to ${words(status)}`;
      el.showModal();
      select.focus();
      return new Promise((resolve) => {
        settle = resolve;
      });
    },
  };
}
