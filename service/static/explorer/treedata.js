// The tree from the bulk columnar read (PlanVersion.subtree) and the colours from
// PlanVersion.attainmentTable: two reads, whatever the tree's size.
import { gql } from "./api.js";

const SUBTREE = `query Subtree($version: ID!) {
  planVersion(id: $version) { subtree { count truncated columns } }
}`;
const ATTAINMENT = `query Attainment($version: ID!, $asOf: Date) {
  planVersion(id: $version) { attainmentTable(asOf: $asOf) { asOf columns } }
}`;

export async function readTree(version, rootName) {
  const data = await gql(SUBTREE, { version });
  const table = data.planVersion.subtree;
  return { ...buildTree(table.columns, rootName), truncated: table.truncated };
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

export async function readAttainment(version, asOf, tree) {
  const data = await gql(ATTAINMENT, { version, asOf: asOf || null });
  const c = data.planVersion.attainmentTable.columns;
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
  return data.planVersion.attainmentTable.asOf;
}

export function path(node) {
  const names = [];
  for (let n = node; n && n.parent; n = n.parent) names.unshift(n.name);
  return names.join(" › ") || node.name;
}
