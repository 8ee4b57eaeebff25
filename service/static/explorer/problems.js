// Alerts and diagnostics of a version: sortable lists whose rows jump to the node.
import { gql } from "./api.js";
import { amount, percent, ratio, statusOf } from "./format.js";
import { el, sortNumber, table } from "./dom.js";
import { href } from "./links.js";

const PROBLEMS = `query Problems($version: ID!, $asOf: Date) {
  planVersion(id: $version) {
    alerts(asOf: $asOf, first: 500) {
      node { id slice { member { name } } owner { name } }
      attainment { target actual attainmentPercent pace status }
    }
    diagnostics(asOf: $asOf, first: 1000) {
      code severity dimension message suggestion
      node { id slice { member { name } } }
    }
  }
}`;
const SEVERITY = { CRITICAL: 0, ERROR: 0, WARNING: 1, INFO: 2 };

export async function problemsView(main, state, say) {
  say("Reading alerts and diagnostics…");
  const v = (await gql(PROBLEMS, { version: state.version, asOf: state.asOf || null })).planVersion;
  const go = (row) => el("a", { href: href(state, "tree", { node: row.node.id }) }, names(row.node));
  main.replaceChildren(
    el("h2", {}, "Alerts and diagnostics"),
    table({
      caption: `Alerts: nodes behind pace (${v.alerts.length})`,
      rows: v.alerts,
      sortable: true,
      rowAttributes: (a) => ({ dataset: { id: a.node.id } }),
      columns: [
        { label: "Node", value: (a) => names(a.node), cell: go },
        { label: "Owner", value: (a) => a.node.owner?.name || "", cell: (a) => a.node.owner?.name || "–" },
        { label: "Target", numeric: true, value: (a) => sortNumber(a.attainment.target), cell: (a) => amount(a.attainment.target) },
        { label: "Actual", numeric: true, value: (a) => sortNumber(a.attainment.actual), cell: (a) => amount(a.attainment.actual) },
        { label: "Attainment", numeric: true, value: (a) => sortNumber(a.attainment.attainmentPercent), cell: (a) => percent(a.attainment.attainmentPercent) },
        { label: "Pace", numeric: true, value: (a) => sortNumber(a.attainment.pace), cell: (a) => ratio(a.attainment.pace) },
        { label: "Status", value: (a) => a.attainment.status, cell: (a) => statusOf(a.attainment.status).label },
      ],
    }),
    table({
      caption: `Diagnostics (${v.diagnostics.length})`,
      rows: v.diagnostics,
      sortable: true,
      rowAttributes: (f) => ({ dataset: { id: f.node.id, severity: f.severity } }),
      columns: [
        { label: "Severity", value: (f) => SEVERITY[f.severity] ?? 9, cell: (f) => f.severity },
        { label: "Rule", value: (f) => f.code, cell: (f) => f.code },
        { label: "Dimension", value: (f) => f.dimension, cell: (f) => f.dimension },
        { label: "Node", value: (f) => names(f.node), cell: go },
        { label: "What is wrong", cell: (f) => f.message },
        { label: "Suggestion", cell: (f) => f.suggestion },
      ],
    }),
  );
  document.body.dataset.drawn = "problems";
  say("");
}

function names(node) {
  return node.slice.map((c) => c.member.name).join(" › ") || "Total";
}
