// Small DOM helpers. Every piece of data reaches the page as a text node or an
// attribute value: nothing here parses HTML.

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on<event>` (listeners),
 * `hidden`/`disabled`/`checked`/`required`/`value`/`open` (properties), and any
 * other attribute (set when not null/false). Children: nodes, strings
 * (text), arrays (flattened), null/undefined/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (["hidden", "disabled", "checked", "required", "value", "open", "selected", "readOnly"].includes(key)) {
      el[key] = value;
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Appends children as `h` does (null, undefined and false are skipped, unlike `Element.append`). */
export function add(el, ...children) {
  append(el, children);
  return el;
}

/** Replaces `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
/** A fresh element id with `prefix`, to tie labels and descriptions to controls. */
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

const pad = (n) => String(n).padStart(2, "0");

/** An RFC 3339 time as local `YYYY-MM-DD HH:MM:SS`, in a `<time>` element. */
export function time(iso) {
  if (!iso) return h("span", { class: "muted", text: "—" });
  return h("time", { datetime: iso, title: iso }, formatTime(iso));
}

export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Milliseconds for people: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(Math.floor(s % 60))} s`;
  return `${Math.floor(m / 60)} h ${pad(m % 60)} min`;
}

/** Seconds left as `14 min 32 s` (or `45 s`). */
export function countdown(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${pad(s % 60)} s` : `${s} s`;
}

export function confidence(c) {
  return c === null || c === undefined ? "—" : `${Math.round(c * 100)}%`;
}

export function number(n) {
  return (n ?? 0).toLocaleString("en-US");
}

export function cost(usd) {
  if (!usd) return "$0.00";
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/** The tail of an id, which is what tells UUID v7 ids made close together apart. */
export function shortId(id) {
  return String(id).slice(-8);
}

/** Pretty-prints JSON values, and JSON held in strings; anything else as it is. */
export function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/** A status or phase badge. */
export function badge(value, kind = "status") {
  if (!value) return h("span", { class: "muted", text: "—" });
  return h("span", { class: `badge ${kind}-${value}` }, value.replaceAll("_", " "));
}

/** A `<dl>` from `[term, description]` pairs (pairs with null descriptions are skipped). */
export function facts(pairs, cls = "facts") {
  return h(
    "dl",
    { class: cls },
    pairs
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", {}, v))),
  );
}

/** A random id for Idempotency-Key headers. */
export function randomKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** How long ago `iso` was, for people: `just now`, `45 s ago`, `3 min ago`, `2 h ago`, `4 d ago`. */
export function agoText(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return String(iso);
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ago`;
  return `${Math.floor(hrs / 24)} d ago`;
}

/** A relative time (`3 min ago`) that `tickAgo` keeps current; the exact time is its title. */
export function ago(iso) {
  if (!iso) return h("span", { class: "muted", text: "—" });
  return h("time", { class: "ago", datetime: iso, title: formatTime(iso) }, agoText(iso));
}

/** How long since `iso`, as `duration` writes it, kept current by `tickAgo`. */
export function since(iso) {
  return h("time", { class: "since", datetime: iso, title: formatTime(iso) }, duration(Date.now() - new Date(iso).getTime()));
}

/** Brings every relative time (`ago`, `since`) under `root` up to date. */
export function tickAgo(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time.ago")) {
    const text = agoText(el.getAttribute("datetime"), now);
    if (el.textContent !== text) el.textContent = text;
  }
  for (const el of root.querySelectorAll("time.since")) {
    const text = duration(now - new Date(el.getAttribute("datetime")).getTime());
    if (el.textContent !== text) el.textContent = text;
  }
}
