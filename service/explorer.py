"""The quota-tree explorer: a read-only page served by the service at ``/explorer``.

Plain HTML, CSS and JavaScript modules in ``service/static/explorer/`` (no build step,
no CDN) plus one vendored charting library, Apache ECharts 6.1.0 (``echarts.min.js``,
Apache-2.0; see ``LICENSES.txt`` there), served under ``/explorer/assets/``. The page
reads everything through the public GraphQL API at ``/graphql``, like any client.

Outside production it is on, and when the server signs with its one-off development
secret the page opens with a fresh viewer token; in production it is off unless
``QUOTATREE_EXPLORER_ENABLED`` is set, and then asks for a token.
"""

from __future__ import annotations

import html
from pathlib import Path

import orjson

ASSETS = Path(__file__).parent / "static" / "explorer"
ASSETS_PATH = "/explorer/assets"
PATH = "/explorer"
MODULES = sorted(p.name for p in ASSETS.glob("*.js") if p.name != "echarts.min.js")
"""The page's own ES modules (``echarts.min.js`` is a classic script)."""


def page(token: str | None, graphql_path: str = "/graphql") -> str:
    """The explorer's page; ``token`` (when given) is sent with every request."""
    config = orjson.dumps({"graphql": graphql_path, "token": token}).decode()
    config = config.replace("</", "<\\/")  # never ends the script element
    title = html.escape("quotatree explorer")
    # every module fetched at once, not import by import
    preload = "\n".join(
        f'    <link rel="modulepreload" href="{ASSETS_PATH}/{name}" />' for name in MODULES
    )
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>{title}</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="{ASSETS_PATH}/explorer.css" />
    <script src="{ASSETS_PATH}/echarts.min.js"></script>
    <script type="application/json" id="config">{config}</script>
{preload}
    <script type="module" src="{ASSETS_PATH}/main.js"></script>
  </head>
  <body>
    <header>
      <h1>quotatree explorer</h1>
      <form id="choose" aria-label="Plan, version and date">
        <label>Plan <select id="plan"></select></label>
        <label>Version <select id="version"></select></label>
        <label>As of <input id="asof" type="date" /></label>
      </form>
      <nav aria-label="Views">
        <a href="#tree" data-view="tree">Tree</a>
        <a href="#owner" data-view="owner">Owners</a>
        <a href="#problems" data-view="problems">Alerts and diagnostics</a>
        <a href="#diff" data-view="diff">Compare versions</a>
      </nav>
    </header>
    <form id="signin" hidden>
      <label>Token <input id="token" type="password" autocomplete="off" /></label>
      <button type="submit">Sign in</button>
      <p>This server asks for a token (a viewer's is enough): <code>quotatree token</code>.</p>
    </form>
    <p id="status" role="status" aria-live="polite"></p>
    <main id="view"></main>
  </body>
</html>
"""
