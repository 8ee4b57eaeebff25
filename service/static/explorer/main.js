// The explorer: pick a plan, a version and a day; the address (#view?…) holds them.
import { ApiError, gql, hasToken, setToken } from "./api.js";
import { usePlan } from "./format.js";
import { link, parse } from "./links.js";
import { treeView } from "./tree.js";
import { ownerView } from "./owner.js";
import { problemsView } from "./problems.js";
import { diffView } from "./diff.js";
import { prefetch } from "./treedata.js";

const VIEWS = { tree: treeView, owner: ownerView, problems: problemsView, diff: diffView };
const PLANS = `query Plans {
  plans(first: 100) {
    nodes {
      id name currency unit decimals fiscalYear
      versions(first: 100) { nodes { id number name state replanAsOf } }
    }
  }
}`;

const $ = (id) => document.getElementById(id);
const say = (text) => ($("status").textContent = text);
let plans = null;

async function show() {
  if (!hasToken()) return signIn();
  const { view, state } = parse();
  try {
    plans = plans || (await gql(PLANS)).plans.nodes;
  } catch (error) {
    return failed(error);
  }
  if (!plans.length) return say("No plans yet: create one (or run `quotatree demo`).");
  const plan = plans.find((p) => p.versions.nodes.some((v) => v.id === state.version)) || plans[0];
  const versions = plan.versions.nodes;
  const version = versions.find((v) => v.id === state.version) || latest(versions);
  Object.assign(state, { plan, versions, version: version.id });
  state.asOf = state.asOf || version.replanAsOf || null;
  usePlan(plan);
  pickers(state, view);
  for (const a of document.querySelectorAll("nav a")) {
    a.setAttribute("aria-current", a.dataset.view === view ? "page" : "false");
  }
  delete document.body.dataset.drawn;
  try {
    await (VIEWS[view] || treeView)($("view"), state, say);
  } catch (error) {
    failed(error);
  }
}

function latest(versions) {
  return versions.find((v) => v.state === "PUBLISHED") || versions[versions.length - 1];
}

function pickers(state, view) {
  const plan = $("plan");
  plan.replaceChildren(...plans.map((p) => new Option(`${p.name} (${p.fiscalYear})`, p.id, false, p === state.plan)));
  plan.onchange = () => link({ version: latest(plans.find((p) => p.id === plan.value).versions.nodes).id }, view);
  const version = $("version");
  version.replaceChildren(
    ...state.versions.map((v) => new Option(`${v.number}: ${v.name} (${v.state})`, v.id, false, v.id === state.version)),
  );
  version.onchange = () => link({ ...state, version: version.value, node: null, owner: null }, view);
  const asOf = $("asof");
  asOf.value = state.asOf || "";
  asOf.onchange = () => link({ ...state, asOf: asOf.value }, view);
  for (const a of document.querySelectorAll("nav a")) {
    const params = new URLSearchParams({ version: state.version });
    if (state.asOf) params.set("asOf", state.asOf);
    a.href = `#${a.dataset.view}?${params}`;
  }
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) return signIn("The token was refused.");
  say(`Could not read: ${error.message}`);
}

function signIn(reason = "") {
  const form = $("signin");
  form.hidden = false;
  say(reason || "Sign in with a token.");
  form.onsubmit = (event) => {
    event.preventDefault();
    setToken($("token").value.trim());
    form.hidden = true;
    show();
  };
}

window.addEventListener("hashchange", show);
const opened = parse();
if (hasToken() && opened.view === "tree" && opened.state.version) {
  prefetch(opened.state.version); // beside the plans read
}
show();
