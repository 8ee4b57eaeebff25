// The tree view: the treemap, its table (the same numbers), the node panel.
import { amount, percent, ratio, statusOf } from "./format.js";
import { el, table } from "./dom.js";
import { applyAttainment, path, readAttainment, readTree } from "./treedata.js";
import { drawTreemap } from "./treemap.js";
import { showPanel } from "./panel.js";

// Levels drawn below the node in view: up to three, as long as the picture holds at
// most RECTANGLES (labelled rectangles are what drawing costs), whatever the tree's size.
const LEVELS = 3;
const RECTANGLES = 300;

function levelsBelow(node) {
  let levels = 0;
  let count = 1;
  let frontier = [node];
  while (levels < LEVELS) {
    const next = frontier.flatMap((n) => n.children);
    if (!next.length || (levels > 0 && count + next.length > RECTANGLES)) break;
    count += next.length;
    frontier = next;
    levels += 1;
  }
  return levels;
}

export async function treeView(main, state, say) {
  const chartBox = el("div", {
    class: "chart",
    role: "img",
    "aria-label": "Treemap of the target tree; the table below holds the same numbers",
  });
  const tableBox = el("section", { class: "table-view", "aria-label": "Table view" });
  const crumbBox = el("nav", { class: "crumbs", "aria-label": "Where in the tree" });
  const panel = el("aside", { id: "panel", "aria-live": "polite" });
  main.replaceChildren(el("div", { class: "tree-layout" }, el("div", {}, crumbBox, chartBox, tableBox), panel));

  say("Reading the tree…");
  // The picture as soon as the tree is in; the colours after. The numbers are read
  // once the tree is in: their computation would hold up the tree's read on the server.
  const tree = await readTree(state.version, state.plan.name);
  performance.mark("explorer:tree-read");
  let focus = tree.byId.get(state.node) || tree.root;
  const style = (node) => ({ itemStyle: { color: statusOf(node.numbers?.status).color } });
  let drawn = false;
  const inView = () => (focus.children.length ? focus : focus.parent || focus); // a leaf: in its parent
  const draw = () =>
    drawTreemap(chartBox, tree, style, {
      root: inView(),
      levels: levelsBelow(inView()),
      leafDepth: null,
      title: `Treemap of ${state.plan.name}: area by target, colour by attainment status`,
      onSelect: (id) => select(id, { zoom: true, keyboard: false }),
      onDrawn: drawn
        ? null
        : () => {
            drawn = true;
            performance.mark("explorer:first-picture");
            document.body.dataset.drawn = "tree";
          },
    });
  // Clicking (or Enter on) a node with children draws the tree from it down.
  const select = (id, { zoom = false, keyboard = zoom } = {}) => {
    const chosen = tree.byId.get(id) || tree.root;
    if (chosen === focus && !keyboard) return;
    focus = chosen;
    if (zoom) draw();
    crumbs(crumbBox, focus, select);
    fillTable(tableBox, focus, select);
    if (keyboard) tableBox.querySelector("button")?.focus();
    showPanel(panel, focus, state, say);
    document.body.dataset.node = focus.id;
  };
  draw();
  crumbs(crumbBox, focus, select);
  fillTable(tableBox, focus, select);
  document.body.dataset.node = focus.id;
  say(tree.truncated ? "The tree has more nodes than one read returns: cut." : "");

  // The picture is drawn; the colours follow.
  const numbers = readAttainment(state.version, state.asOf);
  // The panel's read once the colours are in: both compute the version's attainment,
  // and side by side they would hold each other up on the server.
  let asOf;
  try {
    asOf = applyAttainment(tree, await numbers);
  } finally {
    if (!panel.dataset.asked) showPanel(panel, focus, state, say);
  }
  draw();
  fillTable(tableBox, focus, select);
  performance.mark("explorer:colored");
  document.body.dataset.colored = asOf;
  say(`Attainment as of ${asOf}.`);
  legend(chartBox);
}

function legend(chartBox) {
  const items = ["ON_TRACK", "AT_RISK", "BEHIND", "NOT_STARTED"].map((code) =>
    el("li", {}, el("span", { class: "swatch", style: `background:${statusOf(code).color}` }), statusOf(code).label),
  );
  chartBox.after(el("ul", { class: "legend", "aria-label": "Colours" }, items));
}

function crumbs(box, focus, select) {
  const path = [];
  for (let n = focus; n; n = n.parent) path.unshift(n);
  box.replaceChildren(
    ...path.flatMap((n, i) => [
      i ? " › " : "",
      n === focus
        ? el("span", { "aria-current": "location" }, n.name)
        : el("button", { type: "button", class: "link", onclick: () => select(n.id, { zoom: true }) }, n.name),
    ]),
  );
}

function fillTable(box, focus, select) {
  const rows = [focus, ...focus.children];
  const up = focus.parent
    ? el("button", { type: "button", onclick: () => select(focus.parent.id, { zoom: true }) }, `Up to ${focus.parent.name}`)
    : null;
  const grid = table({
    caption: `${path(focus)}: the node and its ${focus.children.length} children`,
    rows,
    rowAttributes: (n) => ({ dataset: { id: n.id, key: n.key, status: n.numbers?.status || "" } }),
    columns: [
      {
        label: "Member",
        cell: (n) =>
          n === focus
            ? el("strong", {}, n.name)
            : el("button", { type: "button", class: "link", onclick: () => select(n.id, { zoom: true }) }, n.name),
      },
      { label: "Target", numeric: true, cell: (n) => el("span", { dataset: { value: n.target } }, amount(n.target)) },
      { label: "Actual", numeric: true, cell: (n) => amount(n.numbers?.actual) },
      { label: "Attainment", numeric: true, cell: (n) => percent(n.numbers?.attainmentPercent) },
      { label: "Pace", numeric: true, cell: (n) => ratio(n.numbers?.pace) },
      { label: "Status", cell: (n) => statusOf(n.numbers?.status).label },
    ],
  });
  box.onkeydown = (event) => keys(event, box, focus, select);
  box.replaceChildren(...[up, grid].filter(Boolean));
}

// Arrow keys move between the members; Escape or Backspace goes up a level.
function keys(event, box, focus, select) {
  const buttons = [...box.querySelectorAll("button")];
  const at = buttons.indexOf(document.activeElement);
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const next = at + (event.key === "ArrowDown" ? 1 : -1);
    if (buttons[next]) buttons[next].focus();
    event.preventDefault();
  } else if ((event.key === "Escape" || event.key === "Backspace") && focus.parent) {
    select(focus.parent.id, { zoom: true });
    event.preventDefault();
  }
}
