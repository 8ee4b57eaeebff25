// The address holds the view and its choices: #view?version=…&asOf=…
export const KEYS = ["version", "asOf", "node", "owner", "base", "other"];

export function link(state, view) {
  const params = new URLSearchParams();
  for (const key of KEYS) if (state[key]) params.set(key, state[key]);
  location.hash = `${view}?${params}`;
}

export function href(state, view, extra = {}) {
  const params = new URLSearchParams();
  for (const key of ["version", "asOf"]) if (state[key]) params.set(key, state[key]);
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return `#${view}?${params}`;
}

export function parse() {
  const [view, query] = location.hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const state = {};
  for (const key of KEYS) state[key] = params.get(key) || null;
  return { view: view || "tree", state };
}
