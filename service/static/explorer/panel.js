// The node panel: its numbers, owner, strategy and why this number (the allocation's
// explanation), then its diagnostics with their suggestions, then its KPIs.
import { gql } from "./api.js";
import { amount, percent, ratio, statusOf } from "./format.js";
import { el } from "./dom.js";

const NODE = `query Node($id: ID!, $asOf: Date) {
  node(id: $id) {
    ... on TargetNode {
      id target strategy explanation
      owner { id name }
      kpis { newCustomers winRate repeatPurchaseRate marketShare averageOrderValue }
      attainment(asOf: $asOf) {
        asOf actual targetToDate attainmentPercent pace forecast seasonalForecast gap status
      }
    }
  }
}`;
const DIAGNOSTICS = `query NodeDiagnostics($id: ID!, $asOf: Date) {
  node(id: $id) { ... on TargetNode { diagnostics(asOf: $asOf, subtree: false) { code severity message suggestion } } }
}`;
const KPI_ACTUALS = `query NodeKpis($id: ID!, $asOf: Date) {
  node(id: $id) {
    ... on TargetNode {
      kpis { actual(asOf: $asOf) { newCustomers winRate repeatPurchaseRate marketShare averageOrderValue } }
    }
  }
}`;
const KPI_NAMES = ["newCustomers", "winRate", "repeatPurchaseRate", "marketShare", "averageOrderValue"];

let latest = 0;

// The numbers first, then the diagnostics, then the KPIs' actuals (only for a node
// with KPI targets): one read after another,
// each section drawn when its read is in (on a big version each is a whole-version
// computation on the server).
export async function showPanel(panel, node, state, say) {
  const asked = ++latest;
  panel.dataset.asked = "yes";
  delete panel.dataset.node;
  panel.replaceChildren(el("h2", {}, node.name), el("p", {}, "Reading…"));
  const variables = { id: node.id, asOf: state.asOf || null };
  const read = async (query) => {
    try {
      const data = (await gql(query, variables)).node;
      return asked === latest ? data : null; // null: another node was chosen meanwhile
    } catch (error) {
      say(`The node could not be read: ${error.message}`);
      return null;
    }
  };
  const data = await read(NODE);
  if (!data) return;
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
  const findings = el("section", { class: "findings" }, el("h3", {}, "Diagnostics"), el("p", {}, "Reading…"));
  const kpiBox = el("section", {}, el("p", { class: "muted" }, "Reading the KPIs…"));
  panel.replaceChildren(
    el("h2", {}, node.name),
    el("p", { class: "muted" }, `As of ${a.asOf}`),
    el("dl", { class: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("h3", {}, "Why this number"),
    el("p", { class: "explanation" }, data.explanation?.text || "The plan's overall target."),
    findings,
    kpiBox,
  );
  panel.dataset.node = node.id;
  const found = await read(DIAGNOSTICS);
  if (!found) return;
  findings.replaceChildren(
    el("h3", {}, `Diagnostics (${found.diagnostics.length})`),
    found.diagnostics.length
      ? el("ul", {}, found.diagnostics.map((f) =>
          el("li", { dataset: { severity: f.severity } }, el("strong", {}, `${f.severity} ${f.code}: `),
            f.message, el("br"), el("em", {}, f.suggestion))))
      : el("p", {}, "None."),
  );
  if (KPI_NAMES.some((name) => data.kpis[name] !== null)) {
    const measured = await read(KPI_ACTUALS);
    if (!measured) return;
    kpiBox.replaceChildren(kpis(data.kpis, measured.kpis.actual));
  } else kpiBox.replaceChildren(el("p", { class: "muted" }, "No KPI targets."));
  panel.dataset.complete = node.id;
}

function kpis(k, actual) {
  const rows = [
    ["New customers", k.newCustomers, actual.newCustomers, String],
    ["Win rate", k.winRate, actual.winRate, ratio],
    ["Repeat-purchase rate", k.repeatPurchaseRate, actual.repeatPurchaseRate, ratio],
    ["Market share", k.marketShare, actual.marketShare, ratio],
    ["Average order value", k.averageOrderValue, actual.averageOrderValue, amount],
  ].filter(([, target]) => target !== null);
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
