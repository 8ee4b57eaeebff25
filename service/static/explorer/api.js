// The one way the page talks to the service: POST a GraphQL document to /graphql.
const config = JSON.parse(document.getElementById("config").textContent);
const STORE = "quotatree-explorer-token";
let token = config.token || sessionStorage.getItem(STORE);

export function hasToken() {
  return Boolean(token);
}

export function setToken(value) {
  token = value;
  sessionStorage.setItem(STORE, value);
}

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function gql(query, variables = {}) {
  const response = await fetch(config.graphql, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => null);
  if (body && body.errors && body.errors.length) {
    throw new ApiError(body.errors.map((e) => e.message).join("; "), response.status);
  }
  if (!response.ok || !body) throw new ApiError(`HTTP ${response.status}`, response.status);
  return body.data;
}
