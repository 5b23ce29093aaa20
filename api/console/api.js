// The console's only way to the server: the public /api/v1 API, with the
// signed-in token in the Authorization header and nowhere else (never in a
// URL, never in a cookie). The token lives in sessionStorage: it is gone when
// the tab closes or the person signs out.

import { h } from "./dom.js";

const BASE = "/api/v1";
const TOKEN_KEY = "vigil.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A failed API call: the problem document's fields, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem && typeof problem === "object" ? problem : {};
    super(p.detail || p.title || `HTTP ${status}`);
    this.status = status;
    this.code = p.code || (status === 0 ? "network_error" : `http_${status}`);
    this.title = p.title || "";
    this.detail = p.detail || this.message;
    this.field = p.field || null;
    this.errors = Array.isArray(p.errors) ? p.errors : [];
  }
}

const listeners = { unavailable: [], unauthenticated: [] };

/** Registers `fn` for `unavailable` (503 database_unavailable, or no server) or `unauthenticated` (401). */
export function on(event, fn) {
  listeners[event].push(fn);
}

function notify(err) {
  if (err.code === "database_unavailable" || err.status === 0) {
    for (const fn of listeners.unavailable) fn(err);
  } else if (err.status === 401) {
    for (const fn of listeners.unauthenticated) fn(err);
  }
}

function headers(extra, with_token) {
  const out = { Accept: "application/json", ...extra };
  const t = with_token ?? token();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { detail: `${response.status} ${response.statusText}` };
  }
}

/**
 * Calls the API. `opts`: `method`, `body` (sent as JSON), `headers`,
 * `signal`, `token` (overrides the stored one, for signing in), `quiet`
 * (do not tell the listeners). Resolves to the parsed JSON answer; rejects
 * with an ApiError (or the AbortError when aborted).
 */
export async function api(path, opts = {}) {
  const init = {
    method: opts.method || "GET",
    headers: headers(opts.headers, opts.token),
    signal: opts.signal,
    cache: "no-store",
    credentials: "omit",
  };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    const err = new ApiError(0, { detail: `cannot reach the Vigil server (${e.message})` });
    if (!opts.quiet) notify(err);
    throw err;
  }
  if (!response.ok) {
    const err = new ApiError(response.status, await problemOf(response));
    if (!opts.quiet) notify(err);
    throw err;
  }
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/**
 * Fetches raw bytes from the API (evidence content): resolves to
 * `{ bytes: ArrayBuffer, headers }`; rejects with an ApiError as `api` does.
 */
export async function bytes(path, opts = {}) {
  let response;
  try {
    response = await fetch(BASE + path, { headers: headers({ Accept: "application/octet-stream" }), signal: opts.signal, cache: "no-store", credentials: "omit" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    const err = new ApiError(0, { detail: `cannot reach the Vigil server (${e.message})` });
    notify(err);
    throw err;
  }
  if (!response.ok) {
    const err = new ApiError(response.status, await problemOf(response));
    notify(err);
    throw err;
  }
  return { bytes: await response.arrayBuffer(), headers: response.headers };
}

/** Whether `e` is the rejection of an aborted call (not an error to show). */
export function aborted(e) {
  return e && e.name === "AbortError";
}

/**
 * What the live streams did, for people debugging the console and for the
 * browser tests: every connection attempt with the `Last-Event-ID` it sent,
 * `open()`, the paths of the connections open now, and `dropStreams()`,
 * which cuts the open connections as a network failure would (each then
 * reconnects and resumes after the last event it saw).
 */
const live = new Map();
window.__vigilStreams = {
  connects: [],
  open() {
    return [...live.values()];
  },
  dropStreams() {
    for (const c of live.keys()) c.abort();
    return live.size;
  },
};

/**
 * Reads a Server-Sent Events route with fetch (EventSource cannot send the
 * Authorization header) until `signal` aborts. On a dropped connection it
 * reconnects with `Last-Event-ID` set to the last id seen, so the server
 * resumes right after it. `onEvent(kind, data, id)` gets each message with
 * its JSON data; `onState(state, err)` gets `live`, `reconnecting` (with the
 * error, if any), `stopped` (a 4xx other than 429: retrying cannot help) and
 * `ended` (the server sent `stream_end`: the record has finished and every
 * entry was sent, so there is nothing to reconnect for).
 */
export async function stream(path, { signal, onEvent, onState, lastId = null }) {
  let wait = 500;
  while (!signal.aborted) {
    let err = null;
    // One controller per connection: aborting it drops this connection only.
    const connection = new AbortController();
    const stop = () => connection.abort();
    signal.addEventListener("abort", stop);
    live.set(connection, path);
    try {
      const extra = { Accept: "text/event-stream" };
      if (lastId !== null) extra["Last-Event-ID"] = String(lastId);
      window.__vigilStreams.connects.push({ path, lastEventId: lastId });
      const response = await fetch(BASE + path, {
        headers: headers(extra),
        signal: connection.signal,
        cache: "no-store",
        credentials: "omit",
      });
      if (!response.ok) {
        err = new ApiError(response.status, await problemOf(response));
        notify(err);
        if (response.status >= 400 && response.status < 500 && response.status !== 429) {
          onState("stopped", err);
          return;
        }
      } else {
        onState("live", null);
        wait = 500;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        let carry = "";
        let troubled = false;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          // Line ends may be CRLF, CR or LF; a CR at a chunk's end waits for the next chunk.
          let text = carry + value;
          carry = text.endsWith("\r") ? "\r" : "";
          if (carry) text = text.slice(0, -1);
          buffer += text.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = parseFrame(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (!frame) continue;
            if (frame.id !== null) lastId = frame.id;
            let data = null;
            try {
              data = JSON.parse(frame.data);
            } catch {
              data = frame.data;
            }
            if (frame.event === "stream_end") {
              // The record has finished and every entry was sent: stop.
              onState("ended", null);
              connection.abort();
              return;
            }
            if (frame.event === "problem") {
              const problem = new ApiError(data && data.status ? data.status : 503, data);
              notify(problem);
              onState("reconnecting", problem);
              troubled = true;
            } else {
              if (troubled) onState("live", null);
              troubled = false;
              onEvent(frame.event, data, frame.id);
            }
          }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      err = new ApiError(0, { detail: `the live stream dropped (${aborted(e) ? "connection closed" : e.message})` });
    } finally {
      live.delete(connection);
      signal.removeEventListener("abort", stop);
    }
    if (signal.aborted) return;
    onState("reconnecting", err);
    await sleep(wait, signal);
    wait = Math.min(wait * 2, 8000);
  }
}

function parseFrame(text) {
  let event = "message";
  let id = null;
  const data = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  return { event, id, data: data.join("\n") };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** A problem shown to people: its code, message, field and every listed error. */
export function problem(err, prefix = "") {
  if (!(err instanceof ApiError)) {
    return h("div", { class: "problem", role: "alert" }, h("p", {}, prefix, String(err && err.message ? err.message : err)));
  }
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("p", {}, prefix, h("code", { class: "code", text: err.code }), " ", err.detail),
    err.field ? h("p", { class: "muted" }, "Field: ", h("code", { text: err.field })) : null,
    err.errors.length ? h("ul", {}, err.errors.map((e) => h("li", { text: e }))) : null,
  );
}
