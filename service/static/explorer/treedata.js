// The tree from the bulk columnar read (PlanVersion.subtree) and the colours from
// PlanVersion.attainmentTable: two reads, whatever the tree's size.
import { gql } from "./api.js";

const SUBTREE = `query Subtree($version: ID!) {
  planVersion(id: $version) { subtree { count truncated columns } }
}`;
const ATTAINMENT = `query Attainment($version: ID!, $asOf: Date) {
  planVersion(id: $version) { attainmentTable(asOf: $asOf) { asOf columns } }
}`;

// Reads started early (main.js starts them from the address, beside the plans read).
const started = new Map();

function once(key, read) {
  const found = started.get(key);
  started.delete(key);
  return found || read();
}

export function prefetch(version) {
  started.set(`tree ${version}`, gql(SUBTREE, { version }));
}

export async function readTree(version, rootName) {
  const data = await once(`tree ${version}`, () => gql(SUBTREE, { version }));
  const table = data.planVersion.subtree;
  return { ...buildTree(table.columns, rootName), truncated: table.truncated };
}

// The numbers of every node; apply them to the tree with applyAttainment.
export async function readAttainment(version, asOf) {
  const key = `numbers ${version} ${asOf}`;
  const data = await once(key, () => gql(ATTAINMENT, { version, asOf: asOf || null }));
  return data.planVersion.attainmentTable;
}

export function buildTree(c, rootName) {
  const byId = new Map();
  const byKey = new Map();
  let root = null;
  for (let i = 0; i < c.id.length; i++) {
    const node = {
      id: c.id[i],
      key: c.key[i],
      depth: c.depth[i],
      target: c.target[i],
      name: c.memberName[i] ?? rootName,
      parent: c.parentId[i] === null ? null : byId.get(c.parentId[i]),
      children: [],
      numbers: null,
    };
    byId.set(node.id, node);
    byKey.set(node.key, node);
    if (node.parent) node.parent.children.push(node);
    else root = node;
  }
  return { root, byId, byKey };
}

export function applyAttainment(tree, table) {
  const c = table.columns;
  for (let i = 0; i < c.id.length; i++) {
    const node = tree.byId.get(c.id[i]);
    if (!node) continue;
    node.numbers = {
      status: c.status[i],
      actual: c.actual[i],
      targetToDate: c.targetToDate[i],
      forecast: c.forecast[i],
      attainmentPercent: c.attainmentPercent[i],
      pace: c.pace[i],
    };
  }
  return table.asOf;
}

export function path(node) {
  const names = [];
  for (let n = node; n && n.parent; n = n.parent) names.unshift(n.name);
  return names.join(" › ") || node.name;
}
