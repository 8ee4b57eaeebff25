// The node panel: one read of the node's numbers, owner, strategy, KPIs, why this
// number (the allocation's explanation) and its diagnostics with their suggestions.
import { gql } from "./api.js";
import { amount, percent, ratio, statusOf } from "./format.js";
import { el } from "./dom.js";

const NODE = `query Node($id: ID!, $asOf: Date) {
  node(id: $id) {
    ... on TargetNode {
      id target strategy locked
      owner { id name }
      attainment(asOf: $asOf) {
        asOf actual targetToDate attainmentPercent pace forecast seasonalForecast gap status
      }
      kpis {
        newCustomers winRate repeatPurchaseRate marketShare averageOrderValue
        actual(asOf: $asOf) { newCustomers winRate repeatPurchaseRate marketShare averageOrderValue }
      }
      explanation
      diagnostics(asOf: $asOf, subtree: false) { code severity message suggestion }
    }
  }
}`;

let latest = 0;

export async function showPanel(panel, node, state, say) {
  const asked = ++latest;
  panel.replaceChildren(el("h2", {}, node.name), el("p", {}, "Reading…"));
  let data;
  try {
    data = (await gql(NODE, { id: node.id, asOf: state.asOf || null })).node;
  } catch (error) {
    say(`The node could not be read: ${error.message}`);
    return;
  }
  if (asked !== latest) return; // another node was chosen meanwhile
  const a = data.attainment;
  const facts = [
    ["Target", amount(data.target)],
    ["Actual", amount(a.actual)],
    ["Target to date", amount(a.targetToDate)],
    ["Attainment", percent(a.attainmentPercent)],
    ["Pace", ratio(a.pace)],
    ["Forecast", amount(a.forecast)],
    ["Seasonal forecast", amount(a.seasonalForecast)],
    ["Status", statusOf(a.status).label],
    ["Owner", data.owner ? el("a", { href: ownerLink(state, data.owner.id) }, data.owner.name) : "–"],
    ["Strategy", data.strategy || "–"],
  ];
  panel.replaceChildren(
    el("h2", {}, node.name),
    el("p", { class: "muted" }, `As of ${a.asOf}`),
    el("dl", { class: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    kpis(data.kpis),
    el("h3", {}, "Why this number"),
    el("p", { class: "explanation" }, data.explanation?.text || "The plan's overall target."),
    el("h3", {}, `Diagnostics (${data.diagnostics.length})`),
    data.diagnostics.length
      ? el("ul", { class: "findings" }, data.diagnostics.map((f) =>
          el("li", { dataset: { severity: f.severity } }, el("strong", {}, `${f.severity} ${f.code}: `),
            f.message, el("br"), el("em", {}, f.suggestion))))
      : el("p", {}, "None."),
  );
  panel.dataset.node = node.id;
}

function kpis(k) {
  const rows = [
    ["New customers", k.newCustomers, k.actual.newCustomers, String],
    ["Win rate", k.winRate, k.actual.winRate, ratio],
    ["Repeat-purchase rate", k.repeatPurchaseRate, k.actual.repeatPurchaseRate, ratio],
    ["Market share", k.marketShare, k.actual.marketShare, ratio],
    ["Average order value", k.averageOrderValue, k.actual.averageOrderValue, amount],
  ].filter(([, target]) => target !== null);
  if (!rows.length) return el("p", { class: "muted" }, "No KPI targets.");
  return el(
    "table",
    {},
    el("caption", {}, "KPIs"),
    el("thead", {}, el("tr", {}, el("th", {}, "KPI"), el("th", {}, "Target"), el("th", {}, "Actual"))),
    el("tbody", {}, rows.map(([name, target, actual, show]) =>
      el("tr", {}, el("td", {}, name), el("td", { class: "num" }, show(target)),
        el("td", { class: "num" }, actual === null ? "–" : show(actual))))),
  );
}

function ownerLink(state, ownerId) {
  const params = new URLSearchParams({ version: state.version, owner: ownerId });
  if (state.asOf) params.set("asOf", state.asOf);
  return `#owner?${params}`;
}
