// Token management (admin): issue a token for a person or pipeline (shown
// once), list tokens (never their secrets), revoke one.

import { aborted, api, problem } from "./api.js";
import { add, fill, h, time, uid } from "./dom.js";

const ROLES = ["orchestrator", "operator", "approver", "auditor", "admin"];

export async function render(ctx) {
  document.title = "Tokens · Vigil";
  const { root } = ctx;
  add(root, h("h1", { tabindex: "-1" }, "API tokens"));
  if (!ctx.has("admin")) {
    add(root, h("p", { class: "notice" }, "Managing tokens needs the admin role."));
    return;
  }
  const rows = h("tbody");
  const listError = h("div");
  const reload = async () => {
    try {
      const list = await api("/tokens", { signal: ctx.signal });
      fill(listError);
      fill(rows, list.items.map((t) => row(ctx, t, reload)));
    } catch (e) {
      if (!aborted(e)) fill(listError, problem(e, "Listing tokens: "));
    }
  };
  add(root,
    issueForm(ctx, reload),
    h("h2", {}, "Issued tokens"),
    listError,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "tokens" },
        h("thead", {}, h("tr", {}, ["Id", "Principal", "Roles", "Created", "Revoked", ""].map((c) => h("th", { scope: "col", text: c })))),
        rows,
      ),
    ),
  );
  await reload();
}

function row(ctx, t, reload) {
  const out = h("span");
  let armed = false;
  const revoke = h(
    "button",
    {
      type: "button",
      class: "danger small",
      "aria-label": `Revoke token ${t.id} of ${t.principal}`,
      onclick: async () => {
        if (!armed) {
          armed = true;
          revoke.textContent = "Confirm revoke";
          return;
        }
        revoke.disabled = true;
        try {
          await api(`/tokens/${encodeURIComponent(t.id)}`, { method: "DELETE", signal: ctx.signal });
          await reload();
        } catch (e) {
          if (!aborted(e)) fill(out, problem(e));
          revoke.disabled = false;
        }
      },
    },
    "Revoke",
  );
  const cells = [
    h("code", { text: t.id }),
    t.principal,
    t.roles.join(", "),
    time(t.created_at),
    t.revoked_at ? time(t.revoked_at) : "—",
    t.revoked_at ? "" : [revoke, out],
  ];
  return h(
    "tr",
    {},
    cells.map((c, i) => h("td", { "data-label": ["Id", "Principal", "Roles", "Created", "Revoked", ""][i] }, c)),
  );
}

function issueForm(ctx, reload) {
  const nameId = uid("name");
  const name = h("input", { id: nameId, name: "name", type: "text", required: true, autocomplete: "off", maxlength: "200" });
  const boxes = ROLES.map((r) => {
    const id = uid(`role-${r}`);
    return h("span", { class: "check" }, h("input", { id, type: "checkbox", name: "role", value: r }), h("label", { for: id, text: r }));
  });
  const out = h("div", { class: "issued", "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Issue token");
  const form = h(
    "form",
    {
      class: "card issue",
      onsubmit: async (e) => {
        e.preventDefault();
        fill(out);
        const roles = [...form.querySelectorAll("input[name=role]:checked")].map((b) => b.value);
        submit.disabled = true;
        try {
          const issued = await api("/tokens", { method: "POST", body: { name: name.value.trim(), roles }, signal: ctx.signal });
          const tokenId = uid("issued");
          const field = h("input", { id: tokenId, type: "text", readOnly: true, value: issued.token, class: "mono issued-token", spellcheck: "false" });
          fill(
            out,
            h("label", { for: tokenId }, `Token for ${issued.principal} (${issued.roles.join(", ")}): copy it now, it is shown only this once`),
            field,
            h(
              "button",
              {
                type: "button",
                class: "secondary small",
                onclick: async (ev) => {
                  // currentTarget is gone once the event has been dispatched.
                  const button = ev.currentTarget;
                  field.select();
                  try {
                    await navigator.clipboard.writeText(field.value);
                    button.textContent = "Copied";
                  } catch {
                    button.textContent = "Selected: press Ctrl+C";
                  }
                },
              },
              "Copy",
            ),
          );
          name.value = "";
          for (const b of form.querySelectorAll("input[name=role]")) b.checked = false;
          await reload();
        } catch (err) {
          if (!aborted(err)) fill(out, problem(err, "Not issued: "));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", {}, "Issue a token"),
    h("p", { class: "muted" }, "For a person or a pipeline. A second token for an existing principal keeps its roles (leave the roles empty)."),
    h("div", { class: "field" }, h("label", { for: nameId }, "Principal name"), name),
    h("fieldset", { class: "roles" }, h("legend", {}, "Roles"), boxes),
    submit,
    out,
  );
  return form;
}
