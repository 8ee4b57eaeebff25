"""GraphiQL served by the service itself: offline, with a token and examples.

strawberry's page loads React and GraphiQL from a public CDN (a blank page
offline) and starts with empty headers. This page loads the copies vendored in
``service/static/graphiql/`` (GraphiQL 3.8.3, React 18.2.0, from npm, MIT; see
``LICENSES.txt`` there), served under ``/graphiql/``. When the server signs
with its one-off development secret (never in production, never with a
configured key) the page opens with a fresh admin token in its headers; it
opens with the example operations of ``EXAMPLES`` in tabs.
"""

from __future__ import annotations

import html
from pathlib import Path

import orjson

ASSETS = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql"

EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "Plans",
        """# The plans and their versions. Run with the ▶ button (Ctrl-Enter).
{
  plans(first: 10) {
    nodes {
      id
      name
      fiscalYear
      currency
      versions(first: 5) { nodes { id number name state revision } }
    }
  }
}
""",
    ),
    (
        "A version's top levels",
        """# Paste a version id from the Plans tab.
query Tree($version: ID!) {
  planVersion(id: $version) {
    name
    state
    root {
      target
      children {
        id
        target
        slice { dimension { name } member { code name } }
        owner { name }
        children { target slice { member { name } } }
      }
    }
  }
}
""",
    ),
    (
        "Alerts",
        """# Nodes whose pace is below the plan's alert threshold, worst first.
query Alerts($version: ID!) {
  planVersion(id: $version) {
    alerts(asOf: "2027-06-30", first: 10) {
      node { id slice { member { name } } owner { name } }
      attainment { target actual attainmentPercent pace status }
    }
  }
}
""",
    ),
)


def page(token: str | None, graphql_path: str = "/graphql") -> str:
    """The GraphiQL page; ``token`` (when given) goes into its Authorization header."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    header_text = orjson.dumps(headers, option=orjson.OPT_INDENT_2).decode()
    tabs = [{"query": query, "headers": header_text} for _, query in EXAMPLES]
    config = orjson.dumps({"url": graphql_path, "headers": header_text, "tabs": tabs}).decode()
    # "</" never appears inside the script element
    config = config.replace("</", "<\\/")
    title = html.escape("quotatree GraphiQL")
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>{title}</title>
    <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
    <link rel="stylesheet" href="{ASSETS_PATH}/graphiql.min.css" />
    <script src="{ASSETS_PATH}/react.production.min.js"></script>
    <script src="{ASSETS_PATH}/react-dom.production.min.js"></script>
    <script src="{ASSETS_PATH}/graphiql.min.js"></script>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    <script>
      const config = {config};
      const fetcher = GraphiQL.createFetcher({{ url: config.url }});
      const root = ReactDOM.createRoot(document.getElementById("graphiql"));
      root.render(
        React.createElement(GraphiQL, {{
          fetcher,
          defaultHeaders: config.headers,
          defaultTabs: config.tabs,
          defaultEditorToolsVisibility: true,
          shouldPersistHeaders: false,
        }})
      );
    </script>
  </body>
</html>
"""
