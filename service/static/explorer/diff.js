// Two versions side by side: both trees, the changed nodes highlighted, and the
// changes with their deltas (Query.versionDiff, matched by the nodes' stable keys).
import { gql } from "./api.js";
import { amount } from "./format.js";
import { el, sortNumber, table } from "./dom.js";
import { link } from "./links.js";
import { path, readTree } from "./treedata.js";
import { drawTreemap, zoomTo } from "./treemap.js";

const DIFF = `query Diff($base: ID!, $other: ID!) {
  versionDiff(base: $base, other: $other) {
    truncated
    changes { key kind aspects oldTarget newTarget delta }
  }
}`;
export const MARK = { CHANGED: "#6a1b9a", ADDED: "#00838f", REMOVED: "#ad1457" };
const PLAIN = "#cfd8dc";
const INSIDE = "#d1c4e9"; // not changed itself, but a node below it is
const WHOLE = 3000; // trees up to this size are drawn to their leaves

export async function diffView(main, state, say) {
  const versions = state.versions;
  const other = state.other || state.version;
  const base = state.base || versions.find((v) => v.id !== other)?.id;
  const pick = (id, chosen) => el("select", { id, "aria-label": id === "base" ? "Base version" : "Compared version" },
    versions.map((v) => el("option", { value: v.id, selected: v.id === chosen }, `${v.number}: ${v.name} (${v.state})`)));
  const baseSelect = pick("base", base);
  const otherSelect = pick("other", other);
  const choose = () => link({ ...state, base: baseSelect.value, other: otherSelect.value }, "diff");
  baseSelect.addEventListener("change", choose);
  otherSelect.addEventListener("change", choose);
  main.replaceChildren(el("h2", {}, "Compare versions"),
    el("p", {}, el("label", {}, "Base ", baseSelect), " ", el("label", {}, "Compared with ", otherSelect)));
  if (!base) return say("The plan has one version: nothing to compare.");

  say("Reading both versions and their differences…");
  const [left, right, diff] = await Promise.all([
    readTree(base, state.plan.name),
    readTree(other, state.plan.name),
    gql(DIFF, { base, other }),
  ]);
  const changes = diff.versionDiff.changes;
  const kinds = new Map(changes.map((c) => [c.key, c.kind]));
  const inside = new Set();
  for (const tree of [left, right]) {
    for (const key of kinds.keys()) {
      for (let n = tree.byKey.get(key)?.parent; n; n = n.parent) inside.add(n.key);
    }
  }
  const style = (node) => {
    const kind = kinds.get(node.key);
    const color = kind ? MARK[kind] : inside.has(node.key) ? INSIDE : PLAIN;
    return { change: kind || null, itemStyle: { color } };
  };
  const boxes = [left, right].map((_, i) =>
    el("div", { class: "chart half", id: i ? "other-chart" : "base-chart", role: "img",
      "aria-label": `Treemap of the ${i ? "compared" : "base"} version, changed nodes highlighted; the table below lists them` }));
  main.append(el("div", { class: "side-by-side" }, boxes), legend());
  const leafDepth = left.byId.size + right.byId.size <= 2 * WHOLE ? null : 3;
  const charts = [left, right].map((tree, i) =>
    drawTreemap(boxes[i], tree, style, {
      title: i ? "Compared version" : "Base version",
      leafDepth,
      onSelect: (id, clicked) => clicked && zoomBoth(tree.byId.get(id).key),
    }));
  // A click drills both pictures down to the same node (by its stable key).
  const zoomBoth = (key) => [left, right].forEach((tree, i) => {
    const node = tree.byKey.get(key);
    if (node && node.children.length) zoomTo(charts[i], node.id);
  });
  const named = (c) => path(right.byKey.get(c.key) || left.byKey.get(c.key));
  main.append(table({
    caption: `Changed nodes (${changes.length}${diff.versionDiff.truncated ? ", cut" : ""})`,
    rows: changes,
    sortable: true,
    rowAttributes: (c) => ({ dataset: { key: c.key, kind: c.kind } }),
    columns: [
      { label: "Node", value: named, cell: named },
      { label: "Change", value: (c) => c.kind, cell: (c) => [c.kind, ...c.aspects].join(" ").toLowerCase() },
      { label: "Old target", numeric: true, value: (c) => sortNumber(c.oldTarget), cell: (c) => amount(c.oldTarget) },
      { label: "New target", numeric: true, value: (c) => sortNumber(c.newTarget), cell: (c) => amount(c.newTarget) },
      { label: "Delta", numeric: true, value: (c) => sortNumber(c.delta), cell: (c) => amount(c.delta) },
    ],
  }));
  document.body.dataset.drawn = "diff";
  say("");
}

function legend() {
  const items = Object.entries({ ...MARK, "CHANGES INSIDE": INSIDE, UNCHANGED: PLAIN }).map(([kind, color]) =>
    el("li", {}, el("span", { class: "swatch", style: `background:${color}` }), kind.toLowerCase()));
  return el("ul", { class: "legend", "aria-label": "Colours" }, items);
}
