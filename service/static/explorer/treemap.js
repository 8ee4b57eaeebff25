// The treemap (ECharts, canvas): area by target, colour by a function of the node,
// labels with the member name and the formatted target; clicking zooms in.
import { amount } from "./format.js";

const LEVELS = [
  { itemStyle: { borderColor: "#fff", borderWidth: 2, gapWidth: 2 } },
  { itemStyle: { borderColor: "#fff", borderWidth: 1, gapWidth: 1 } },
  { itemStyle: { borderColor: "#fff", borderWidth: 1, gapWidth: 1 } },
];

function item(node, style) {
  const data = {
    id: node.id,
    name: node.name,
    value: Number(node.target), // the area only; every label shows node.target formatted
    key: node.key,
    ...style(node),
  };
  if (node.children.length) data.children = node.children.map((child) => item(child, style));
  return data;
}

export function drawTreemap(container, tree, style, options = {}) {
  const { onSelect, onDrawn, title, leafDepth = 3 } = options;
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
  const target = (p) => amount(tree.byId.get(p.data.id)?.target);
  const label = (p) => `${p.name}\n${target(p)}`;
  const upper = (p) => `${p.name}: ${target(p)}`;
  chart.setOption(
    {
      aria: { enabled: true, label: { description: title || "Treemap of the target tree" } },
      tooltip: {
        formatter: (p) => (p.data && tree.byId.has(p.data.id) ? upper(p) : ""),
      },
      series: [
        {
          type: "treemap",
          data: [item(tree.root, style)],
          leafDepth, // null: every level at once
          roam: false,
          nodeClick: false, // clicks are ours: select, and drill down into a parent
          animation: false,
          width: "100%",
          height: "88%",
          top: 0,
          label: {
            show: true,
            formatter: label,
            position: "insideTopLeft",
            lineHeight: 16,
            overflow: "truncate",
          },
          upperLabel: { show: true, height: 20, formatter: upper, overflow: "truncate" },
          breadcrumb: { show: true, bottom: 4 },
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

export function recolor(chart, tree, style) {
  chart.setOption({ series: [{ data: [item(tree.root, style)] }] });
}
