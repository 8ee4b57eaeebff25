// An owner's page ("my quota"): every node they hold in the version, with attainment,
// and their total by period.
import { gql } from "./api.js";
import { amount, percent, ratio, statusOf } from "./format.js";
import { el, sortNumber, table } from "./dom.js";
import { href, link } from "./links.js";

const OWNERS = `query Owners($version: ID!) {
  planVersion(id: $version) {
    owners { owners(first: 500) { edges { total nodeCount node { id name kind } } } }
  }
}`;
const QUOTA = `query Quota($owner: ID!, $version: ID!, $asOf: Date) {
  node(id: $owner) {
    ... on Owner {
      id name
      quota(version: $version) {
        total
        attainment(asOf: $asOf) { actual attainmentPercent pace status }
        byPeriod { period { name } amount }
        nodes { id }
        heldNodes {
          id target
          slice { member { name } }
          attainment(asOf: $asOf) { actual attainmentPercent pace status }
        }
      }
    }
  }
}`;

export async function ownerView(main, state, say) {
  say("Reading the owners…");
  const owners = (await gql(OWNERS, { version: state.version })).planVersion.owners.owners.edges;
  const picker = el("select", { id: "owner", "aria-label": "Owner" },
    owners.map((e) => el("option", { value: e.node.id, selected: e.node.id === state.owner }, e.node.name)));
  picker.addEventListener("change", () => link({ ...state, owner: picker.value }, "owner"));
  const body = el("div");
  main.replaceChildren(el("h2", {}, "Owners"), el("label", {}, "Owner ", picker), body);
  const owner = state.owner || owners[0]?.node.id;
  if (!owner) return say("Nobody holds a node of this version.");
  picker.value = owner;
  const data = (await gql(QUOTA, { owner, version: state.version, asOf: state.asOf || null })).node;
  const q = data.quota;
  const topmost = new Set(q.nodes.map((n) => n.id));
  const counted = (n) => (topmost.has(n.id) ? "Yes" : "No: inside a node they hold");
  body.replaceChildren(
    el("h3", {}, `${data.name}: ${amount(q.total)}`),
    el("p", {}, `Actual ${amount(q.attainment.actual)}, attainment ${percent(q.attainment.attainmentPercent)}, `
      + `pace ${ratio(q.attainment.pace)}, ${statusOf(q.attainment.status).label}.`),
    table({
      caption: `Nodes ${data.name} holds (${q.heldNodes.length}; the total counts the `
        + `${q.nodes.length} topmost)`,
      rows: q.heldNodes,
      sortable: true,
      rowAttributes: (n) => ({ dataset: { id: n.id } }),
      columns: [
        { label: "Node", value: (n) => names(n), cell: (n) => el("a", { href: href(state, "tree", { node: n.id }) }, names(n)) },
        { label: "Target", numeric: true, value: (n) => sortNumber(n.target), cell: (n) => amount(n.target) },
        { label: "Actual", numeric: true, value: (n) => sortNumber(n.attainment.actual), cell: (n) => amount(n.attainment.actual) },
        { label: "Attainment", numeric: true, value: (n) => sortNumber(n.attainment.attainmentPercent), cell: (n) => percent(n.attainment.attainmentPercent) },
        { label: "Pace", numeric: true, value: (n) => sortNumber(n.attainment.pace), cell: (n) => ratio(n.attainment.pace) },
        { label: "Status", value: (n) => n.attainment.status, cell: (n) => statusOf(n.attainment.status).label },
        { label: "In the total", value: counted, cell: counted },
      ],
    }),
    table({
      caption: "By period",
      rows: q.byPeriod,
      columns: [
        { label: "Period", cell: (p) => p.period?.name || "Not split by time" },
        { label: "Target", numeric: true, cell: (p) => amount(p.amount) },
      ],
    }),
  );
  document.body.dataset.drawn = "owner";
  say("");
}

function names(node) {
  return node.slice.map((c) => c.member.name).join(" › ") || "Total";
}
