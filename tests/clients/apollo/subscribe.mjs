// Apollo Client's subscription link (GraphQLWsLink over graphql-ws) subscribing to
// quotatree: prints one JSON line per event, then exits after the wanted count.
// Usage: node subscribe.mjs <ws url> <bearer token> <version id> <events wanted>
// Run by tests/api/test_subscriptions_apollo.py.
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

// Node 20 has no global WebSocket; Apollo's link refers to it when a socket fails.
globalThis.WebSocket ??= WebSocket;

const [url, token, versionId, wanted] = process.argv.slice(2);
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");

const wsClient = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: { closed: (event) => print({ closed: { code: event.code, reason: event.reason } }) },
});
const client = new ApolloClient({ link: new GraphQLWsLink(wsClient), cache: new InMemoryCache() });

const VERSION_CHANGED = gql`
  subscription VersionChanged($v: ID!) {
    versionChanged(versionId: $v) {
      versionId
      revision
      nodeIds
      initial
      refetch
      version { id revision }
    }
  }
`;

let seen = 0;
const subscription = client.subscribe({ query: VERSION_CHANGED, variables: { v: versionId } }).subscribe({
  next(result) {
    print({ data: result.data ?? null, error: result.error ? String(result.error) : null });
    seen += 1;
    if (result.error || seen >= Number(wanted)) {
      subscription.unsubscribe();
      wsClient.dispose();
    }
  },
  error(error) {
    print({ error: String(error) });
    wsClient.dispose();
  },
});
setTimeout(() => {
  print({ error: "timed out" });
  process.exit(2);
}, 30000).unref();
