// The console's entry point: sign-in, the header (mode, principal, sign-out),
// the router over the page's path, and the database-unavailable watch.

import "./errors.js";
import { ApiError, aborted, api, forgetToken, on, problem, setToken, token } from "./api.js";
import { add, fill, h, uid } from "./dom.js";
import * as list from "./list.js";
import * as detail from "./detail.js";
import * as approvals from "./approvals.js";
import * as tokens from "./tokens.js";
import * as cases from "./cases.js";
import * as settings from "./settings.js";

const $ = (id) => document.getElementById(id);

/** The signed-in principal: `{ name, roles, mode }`, or null. */
let session = null;
/** The current view's controller; aborting it stops its requests, streams and timers. */
let current = null;
/** Why the database (or the server) is unavailable, or null while it answers. */
let down = null;
/**
 * The current view's outage handler, when it has one: such a view stays on
 * the page in a degraded state of its own (the cases queue) instead of
 * being replaced by the recovery card.
 */
let onDown = null;

function has(role) {
  return !!session && (session.roles.includes(role) || session.roles.includes("admin"));
}

// ---------------------------------------------------------------- alerts

/** Shows an error that has no better place (the last five stay until dismissed). */
export function alertError(err, context = "") {
  if (aborted(err)) return;
  if (err instanceof ApiError && (err.code === "database_unavailable" || err.status === 0)) return;
  const box = $("alerts");
  const item = h(
    "div",
    { class: "alert" },
    problem(err, context ? `${context}: ` : ""),
    h("button", { type: "button", class: "secondary small", onclick: () => item.remove() }, "Dismiss"),
  );
  box.appendChild(item);
  while (box.children.length > 5) box.firstElementChild.remove();
}

// ---------------------------------------------------------------- routing

function route(path) {
  if (path === "/" || path === "/investigations") return { view: list, nav: "investigations" };
  const m = /^\/investigations\/([^/]+)$/.exec(path);
  if (m) return { view: detail, nav: "investigations", id: decodeURIComponent(m[1]) };
  if (path === "/approvals") return { view: approvals, nav: "approvals" };
  if (path === "/tokens") return { view: tokens, nav: "tokens" };
  if (path === "/cases") return { view: cases, nav: "cases" };
  if (path === "/settings") return { view: settings, nav: "settings" };
  return null;
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

function stopView() {
  if (current) current.abort();
  current = null;
  onDown = null;
}

function render({ focus = true } = {}) {
  stopView();
  const root = $("view");
  fill(root);
  if (!session) {
    signInView(root);
    return;
  }
  const found = route(location.pathname);
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (found && a.dataset.nav === found.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (down && !(found && found.view.degradable)) {
    showDownCard();
    return;
  }
  refreshBadge();
  if (!found) {
    document.title = "Not found · Vigil";
    add(root,
      h("h1", { text: "No such page" }),
      h("p", {}, "Go to the ", h("a", { href: "/investigations", "data-link": true }, "investigations"), "."),
    );
    return;
  }
  const controller = new AbortController();
  current = controller;
  const signal = controller.signal;
  const ctx = {
    root,
    signal,
    session,
    has,
    id: found.id,
    query: new URLSearchParams(location.search),
    navigate,
    alertError,
    refreshBadge,
    /** Why live reads are unavailable right now, or null. */
    down: () => down,
    /** Registers the view's outage handler (`fn(cause)`); the view then stays on the page. */
    onDown(fn) {
      onDown = fn;
      if (down) fn(down);
    },
    /** Runs `fn` every `ms` until the view goes away. */
    every(fn, ms) {
      const t = setInterval(() => {
        if (!signal.aborted && !down) fn();
      }, ms);
      signal.addEventListener("abort", () => clearInterval(t));
    },
  };
  Promise.resolve()
    .then(() => found.view.render(ctx))
    .then(() => {
      if (focus && !signal.aborted) root.querySelector("h1")?.focus({ preventScroll: true });
    })
    .catch((e) => {
      if (aborted(e) || signal.aborted) return;
      if (e instanceof ApiError && (e.code === "database_unavailable" || e.status === 0)) return;
      add(root, problem(e));
    });
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", () => render());

// ---------------------------------------------------------------- session

function signInView(root, message) {
  document.title = "Sign in · Vigil";
  const input = uid("token");
  const help = uid("token-help");
  const error = h("div", { class: "form-error" });
  const button = h("button", { type: "submit" }, "Sign in");
  const field = h("input", {
    id: input,
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": help,
  });
  const form = h(
    "form",
    {
      class: "card signin",
      method: "post",
      onsubmit: async (e) => {
        e.preventDefault();
        const value = field.value.trim();
        if (!value) return;
        button.disabled = true;
        fill(error);
        try {
          const me = await api("/me", { token: value, quiet: true });
          setToken(value);
          field.value = "";
          await startSession(me);
        } catch (err) {
          fill(error, problem(err, "Sign-in failed: "));
          if (err instanceof ApiError && (err.code === "database_unavailable" || err.status === 0)) {
            setDown(err);
          }
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h1", { tabindex: "-1" }, "Sign in"),
    message ? h("p", { class: "notice", role: "status", text: message }) : null,
    h("label", { for: input }, "API token"),
    field,
    h(
      "p",
      { id: help, class: "muted" },
      "Paste a Vigil API token (vgl_…). The first ",
      h("code", { text: "vigil serve" }),
      " prints an admin token; an admin issues more under Tokens or with ",
      h("code", { text: "vigil token create" }),
      ". The token stays in this tab only and is forgotten when you sign out.",
    ),
    button,
    error,
  );
  add(root, form);
  field.focus();
}

async function startSession(me) {
  session = { name: me.name, roles: me.roles, mode: null };
  fill($("who-name"), h("strong", { text: me.name }), " ", h("span", { class: "muted", text: `(${me.roles.join(", ")})` }));
  $("who").hidden = false;
  $("nav").hidden = false;
  $("nav-tokens-item").hidden = !has("admin");
  await refreshMode();
  render();
  refreshBadge();
}

function signOut(message) {
  forgetToken();
  session = null;
  stopView();
  $("who").hidden = true;
  $("nav").hidden = true;
  $("mode").hidden = true;
  fill($("who-name"));
  fill($("alerts"));
  $("nav-approvals").hidden = true;
  fill($("view"));
  signInView($("view"), message);
}

$("sign-out").addEventListener("click", () => signOut("Signed out. The token was forgotten."));

on("unauthenticated", (err) => {
  if (session) signOut(`Your token is no longer accepted (${err.code}: ${err.detail}). Sign in again.`);
});

const MODE_TEXT = {
  dummy: "scripted model, fixture tools: nothing leaves the process",
  dry_run: "real model; write tools only preview",
  real: "real model, real tools",
};

async function refreshMode() {
  if (!session) return;
  try {
    const mode = await api("/system/mode");
    session.mode = mode;
    // Kept for the Settings page, which shows it while the database is
    // down; the page reads it again itself and shows a failure there.
    api("/system/settings", { quiet: true }).then(
      (settings) => {
        if (session) session.settings = settings;
      },
      () => {},
    );
    const el = $("mode");
    el.className = `mode mode-${mode.mode}`;
    fill(
      el,
      h("strong", { text: mode.mode.replaceAll("_", " ") }),
      " mode",
      h("span", { class: "mode-detail" }, ` · ${MODE_TEXT[mode.mode] || ""} · ${mode.workers_seen} worker${mode.workers_seen === 1 ? "" : "s"}`),
    );
    el.title = `${MODE_TEXT[mode.mode] || mode.mode}; ${mode.backend} store; ${mode.workers_seen} worker process(es) seen in the last minute; Vigil ${mode.version}`;
    el.hidden = false;
  } catch (e) {
    alertError(e, "Reading the runtime mode");
  }
}

async function refreshBadge() {
  if (!session || down || !(has("operator") || has("auditor") || has("approver"))) return;
  try {
    const stats = await api("/investigations/stats");
    const badge = $("nav-approvals");
    badge.textContent = String(stats.approvals_pending);
    badge.setAttribute("aria-label", `${stats.approvals_pending} pending`);
    badge.hidden = stats.approvals_pending === 0;
  } catch (e) {
    alertError(e, "Reading queue counts");
  }
}

// ---------------------------------------------------------------- readiness

function setDown(err) {
  const cause = err instanceof ApiError ? err.detail : String(err);
  const heading = err instanceof ApiError && err.status === 0 ? "Vigil server unreachable" : "Database unavailable";
  const first = !down;
  down = cause;
  $("down").querySelector("h1").textContent = heading;
  $("down-cause").textContent = cause;
  $("down-retry").textContent = `Checking again every few seconds; the console recovers by itself. Last check: ${new Date().toLocaleTimeString()}.`;
  if (onDown) {
    // The view shows the outage itself, and keeps the page's frame.
    onDown(cause);
    if (first) scheduleReadiness(1000);
    return;
  }
  if (first) scheduleReadiness(1000);
  showDownCard();
}

/** Replaces the view by the recovery card: nothing to act on until the database is back. */
function showDownCard() {
  if (!$("down").hidden) return;
  $("down").hidden = false;
  stopView();
  const view = $("view");
  view.hidden = true;
  view.inert = true;
  for (const el of view.querySelectorAll("button, input, textarea, select")) el.disabled = true;
}

function setUp() {
  if (!down) return;
  down = null;
  $("down").hidden = true;
  const view = $("view");
  view.hidden = false;
  view.inert = false;
  if (session) {
    refreshMode();
    refreshBadge();
    render({ focus: false });
  } else if (token()) {
    resume();
  } else {
    render();
  }
}

on("unavailable", setDown);

let readinessTimer = null;

function scheduleReadiness(ms) {
  clearTimeout(readinessTimer);
  readinessTimer = setTimeout(checkReadiness, ms);
}

async function checkReadiness() {
  try {
    await api("/readyz", { quiet: true, token: "" });
    setUp();
  } catch (e) {
    if (e instanceof ApiError) setDown(e);
  }
  scheduleReadiness(down ? 2000 : 5000);
}

setInterval(() => {
  if (session && !down) refreshBadge();
}, 10000);
setInterval(() => {
  if (session && !down) refreshMode();
}, 30000);

// ---------------------------------------------------------------- start

/** Signs in again with the token this tab kept (after a reload, or once the database is back). */
async function resume() {
  try {
    await startSession(await api("/me", { quiet: true }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      signOut(`Your saved token is no longer accepted (${e.code}). Sign in again.`);
    } else if (e instanceof ApiError && (e.code === "database_unavailable" || e.status === 0)) {
      setDown(e);
    } else {
      signOut();
      alertError(e, "Signing in");
    }
  }
}

checkReadiness();
if (token()) resume();
else render();
