// The entity graph of a case, in plain SVG: the case in the middle, its
// observables around it, and the related cases each linked to the
// observables it shares. A node is a button: an observable filters the
// queue by its value, a related case opens. No library, no network.

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of children) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}

const short = (s, n = 22) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * An `<svg>` for case `c` with its `observables` and `related` cases.
 * `onObservable(o)` and `onCase(r)` run when a node is chosen (click, Enter
 * or Space).
 */
export function entityGraph(c, observables, related, { onObservable, onCase }) {
  const W = 640;
  const H = 400;
  const cx = W / 2;
  const cy = H / 2;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "entity-graph", role: "group", "aria-label": `Entity graph of ${c.number}: ${observables.length} observables, ${related.length} related cases` });
  const edges = el("g", { class: "edges" });
  const nodes = el("g", { class: "nodes" });
  svg.append(edges, nodes);

  const key = (type, value) => `${type}\u0000${value}`;
  const at = new Map();
  const n = Math.max(observables.length, 1);
  const r1 = Math.min(W, H) * 0.3;
  observables.forEach((o, i) => {
    const a = (2 * Math.PI * i) / n - Math.PI / 2;
    at.set(key(o.type, o.value), { x: cx + r1 * 1.35 * Math.cos(a), y: cy + r1 * Math.sin(a), a });
  });

  const node = (x, y, label, sub, cls, data, choose, name) => {
    const g = el("g", { class: `node ${cls}`, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})`, tabindex: choose ? "0" : null, role: choose ? "button" : null, "aria-label": name, ...data });
    const w = Math.max(label.length, sub.length) * 6.6 + 16;
    g.append(el("rect", { x: -w / 2, y: -16, width: w, height: 32, rx: 8 }), el("text", { y: -2, "text-anchor": "middle", class: "label" }, label), el("text", { y: 11, "text-anchor": "middle", class: "sub" }, sub));
    g.append(el("title", {}, name));
    if (choose) {
      g.addEventListener("click", choose);
      g.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          choose();
        }
      });
    }
    nodes.appendChild(g);
  };

  for (const o of observables) {
    const p = at.get(key(o.type, o.value));
    edges.appendChild(el("line", { x1: cx, y1: cy, x2: p.x.toFixed(1), y2: p.y.toFixed(1), class: "edge" }));
  }
  related.forEach((r, i) => {
    const shared = r.shared.map((s) => at.get(key(s.type, s.value))).filter(Boolean);
    // Outside the ring, at the mean angle of what it shares (spread a little when several).
    const mean = shared.length ? Math.atan2(shared.reduce((s, p) => s + Math.sin(p.a), 0), shared.reduce((s, p) => s + Math.cos(p.a), 0)) : (2 * Math.PI * i) / Math.max(related.length, 1);
    const a = mean + (i - (related.length - 1) / 2) * 0.25;
    const x = Math.min(W - 70, Math.max(70, cx + r1 * 2.05 * Math.cos(a)));
    const y = Math.min(H - 22, Math.max(22, cy + r1 * 1.45 * Math.sin(a)));
    for (const p of shared) edges.appendChild(el("line", { x1: p.x.toFixed(1), y1: p.y.toFixed(1), x2: x.toFixed(1), y2: y.toFixed(1), class: "edge shared" }));
    node(x, y, r.number, short(r.title, 20), "related", { "data-id": r.id, "data-number": r.number }, () => onCase(r), `Open related case ${r.number}: ${r.title} (shares ${r.shared.map((s) => s.value).join(", ")})`);
  });
  for (const o of observables) {
    const p = at.get(key(o.type, o.value));
    node(p.x, p.y, short(o.value), o.type, "observable", { "data-value": o.value }, () => onObservable(o), `Filter the queue by ${o.type} ${o.value}`);
  }
  node(cx, cy, c.number, short(c.title, 24), "case", { "data-number": c.number }, null, `${c.number}: ${c.title}`);
  return svg;
}
