// The treemap (ECharts, canvas): area by target, colour by a function of the node,
// labels with the member name and the formatted target; clicking zooms in.
import { amount } from "./format.js";

const LEVELS = [
  { itemStyle: { borderColor: "#fff", borderWidth: 2, gapWidth: 2 } },
  { itemStyle: { borderColor: "#fff", borderWidth: 1, gapWidth: 1 } },
  { itemStyle: { borderColor: "#fff", borderWidth: 1, gapWidth: 1 } },
];

// ECharts' data for a node and its descendants, `levels` deep (all when null).
function item(node, style, levels) {
  const data = {
    id: node.id,
    name: node.name,
    value: Number(node.target), // the area only; every label shows node.target formatted
    key: node.key,
    ...style(node),
  };
  if (node.children.length && levels !== 0) {
    data.children = node.children.map((child) => item(child, style, levels === null ? null : levels - 1));
  }
  return data;
}

export function drawTreemap(container, tree, style, options = {}) {
  // root and levels: the part of the tree drawn (a 10,000-node tree is not handed to
  // ECharts whole); leafDepth: ECharts' own drill-down within what it has.
  const { onSelect, onDrawn, title, leafDepth = 3, root = tree.root, levels = null } = options;
  const chart = echarts.getInstanceByDom(container) || echarts.init(container, null, {
    renderer: "canvas",
  });
  if (onDrawn) {
    // before setOption: ECharts may draw (and finish) within it
    chart.on("finished", function drawn() {
      chart.off("finished", drawn);
      onDrawn(chart);
    });
  }
  // ECharts' own root above the data has no node: no label
  const node = (p) => (p.data ? tree.byId.get(p.data.id) : undefined);
  const label = (p) => (node(p) ? `${p.name}\n${amount(node(p).target)}` : "");
  const upper = (p) => (node(p) ? `${p.name}: ${amount(node(p).target)}` : "");
  chart.setOption(
    {
      aria: { enabled: true, label: { description: title || "Treemap of the target tree" } },
      tooltip: {
        formatter: upper,
      },
      series: [
        {
          type: "treemap",
          data: [item(root, style, levels)],
          leafDepth, // null: every level at once
          roam: false,
          nodeClick: false, // clicks are ours: select, and drill down into a parent
          animation: false,
          width: "100%",
          height: leafDepth !== null ? "88%" : "100%",
          top: 0,
          label: {
            show: true,
            formatter: label,
            position: "insideTopLeft",
            lineHeight: 16,
            overflow: "truncate",
          },
          upperLabel: { show: true, height: 20, formatter: upper, overflow: "truncate" },
          breadcrumb: { show: leafDepth !== null, bottom: 4 },
          levels: LEVELS,
        },
      ],
    },
    true,
  );
  chart.off("click");
  chart.off("treemapRootToNode");
  if (onSelect) {
    chart.on("click", (p) => p.data && tree.byId.has(p.data.id) && onSelect(p.data.id, true));
    // the breadcrumb drills up: follow it
    chart.on("treemapRootToNode", (p) => {
      const id = p.targetNodeId || (p.targetNode && p.targetNode.getId());
      onSelect(tree.byId.has(id) ? id : tree.root.id, false);
    });
  }
  return chart;
}

// Drill down to a node (the picture shows it and leafDepth levels below).
export function zoomTo(chart, id) {
  chart.dispatchAction({ type: "treemapRootToNode", targetNodeId: id });
}


