"""The tree view on the demo company: the picture and its table show the API's numbers,
clicking zooms and opens the node's panel, the keyboard does the same."""

from __future__ import annotations

from typing import Any

from service.api import ids
from tests.demo.company import Demo
from tests.explorer.browsing import AS_OF, chart_items, euros, percent, table_rows, view_root
from tests.explorer.conftest import Page

CHILDREN = """query($id: ID!, $asOf: Date) { node(id: $id) { ... on TargetNode {
  id target attainment(asOf: $asOf) { actual attainmentPercent status }
  children { id target coordinate { member { name } }
             attainment(asOf: $asOf) { actual attainmentPercent status } } } } }"""
SHOWN = """query($v: ID!) { planVersion(id: $v) { subtree(maxDepth: 3) { columns } } }"""
STATUS_COLOURS = {
    "ON_TRACK": "#2e7d32",
    "AT_RISK": "#e0a100",
    "BEHIND": "#c62828",
    "NOT_STARTED": "#8d96a0",
}


async def open_tree(page: Page, url: str, version: str, node: str | None = None) -> None:
    address = f"{url}/explorer#tree?version={version}&asOf={AS_OF}"
    if node:
        address += f"&node={node}"
    await page.page.goto(address)
    await page.page.wait_for_selector(f"body[data-colored='{AS_OF}']", timeout=30_000)
    await page.page.wait_for_selector("#panel[data-complete]")


async def api_node(demo: Demo, node_id: str) -> dict[str, Any]:
    node: dict[str, Any] = (await demo.gql(CHILDREN, {"id": node_id, "asOf": AS_OF}))["node"]
    return node


async def test_the_tree_shows_the_demo_numbers(demo: Demo, explorer_url: str, page: Page) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    root_id = ids.encode("TargetNode", demo.loaded.version_id, demo.loaded.root_key)
    await open_tree(page, explorer_url, version)
    await page.screenshot("tree")
    root = await api_node(demo, root_id)

    # The table view: the root and its children, the API's numbers in en-US euros.
    rows = await table_rows(page, ".table-view table")
    expected = [("Demo Co FY2027 revenue", root)] + [
        (c["coordinate"]["member"]["name"], c) for c in root["children"]
    ]
    assert [r["id"] for r in rows] == [node["id"] for _, node in expected]
    for row, (name, node) in zip(rows, expected, strict=True):
        a = node["attainment"]
        assert row["cells"][:4] == [
            name,
            euros(node["target"]),
            euros(a["actual"]),
            percent(a["attainmentPercent"]),
        ]
        assert row["status"] == a["status"]

    # The picture: the root and three levels below it (the bulk read's rows to that
    # depth), coloured by the same statuses.
    items = {item["id"]: item for item in await chart_items(page, ".tree-layout .chart")}
    shown = await demo.gql(SHOWN, {"v": version})
    assert list(items) == shown["planVersion"]["subtree"]["columns"]["id"]
    for _, node in expected:
        assert items[node["id"]]["color"] == STATUS_COLOURS[node["attainment"]["status"]]

    # The panel of the root: its target and actual as the API has them.
    panel = await page.page.inner_text("#panel")
    assert euros(root["target"]) in panel and euros(root["attainment"]["actual"]) in panel


async def test_clicking_a_region_zooms_in_and_opens_its_panel(
    demo: Demo, explorer_url: str, page: Page
) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    root_id = ids.encode("TargetNode", demo.loaded.version_id, demo.loaded.root_key)
    await open_tree(page, explorer_url, version)
    west = next(
        c
        for c in (await api_node(demo, root_id))["children"]
        if c["coordinate"]["member"]["name"] == "West"
    )
    # A click on West's rectangle in the canvas (ECharts lays each node out in its parent).
    box = await page.page.evaluate(
        """id => {
            const dom = document.querySelector('.tree-layout .chart');
            const chart = echarts.getInstanceByDom(dom);
            let found = null;
            chart.getModel().getSeriesByIndex(0).getData().tree.root
                .eachNode(n => { if (n.getId() === id) found = n; });
            let x = 0, y = 0;
            for (let n = found; n; n = n.parentNode) {
                const l = n.getLayout();
                if (l) { x += l.x; y += l.y; }
            }
            const r = dom.getBoundingClientRect();
            const l = found.getLayout();
            // West's own header strip (its children cover the rest of its rectangle)
            return {x: r.left + x + l.width / 2, y: r.top + y + l.upperHeight / 2};
        }""",
        west["id"],
    )
    await page.page.mouse.click(box["x"], box["y"])
    await page.page.wait_for_selector(f"#panel[data-complete='{west['id']}']")
    assert await view_root(page, ".tree-layout .chart") == west["id"]
    panel = await page.page.inner_text("#panel")
    assert panel.startswith("West")
    for label in ("Target", "Actual", "Attainment", "Pace", "Forecast", "Owner", "Strategy"):
        assert label in panel
    assert "Why this number" in panel and "Diagnostics" in panel
    assert euros(west["target"]) in panel
    rows = await table_rows(page, ".table-view table")
    assert rows[0]["id"] == west["id"]
    await page.screenshot("tree-zoomed")


async def test_the_keyboard_walks_the_tree(demo: Demo, explorer_url: str, page: Page) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    root_id = ids.encode("TargetNode", demo.loaded.version_id, demo.loaded.root_key)
    await open_tree(page, explorer_url, version)
    children = (await api_node(demo, root_id))["children"]
    await page.page.focus(".table-view button.link")
    await page.page.keyboard.press("ArrowDown")
    await page.page.keyboard.press("Enter")
    second = children[1]["id"]
    await page.page.wait_for_selector(f"#panel[data-node='{second}']")
    assert await view_root(page, ".tree-layout .chart") == second
    assert await page.page.evaluate("document.activeElement.closest('.table-view') !== null")
    await page.page.keyboard.press("Escape")
    await page.page.wait_for_selector(f"#panel[data-node='{root_id}']")
    assert await view_root(page, ".tree-layout .chart") == root_id


async def test_amounts_follow_the_readers_locale(demo: Demo, explorer_url: str, page: Page) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    root_id = ids.encode("TargetNode", demo.loaded.version_id, demo.loaded.root_key)
    root = await api_node(demo, root_id)
    await page.page.goto(
        f"{explorer_url}/explorer?locale=de-DE#tree?version={version}&asOf={AS_OF}"
    )
    await page.page.wait_for_selector(f"body[data-colored='{AS_OF}']", timeout=30_000)
    rows = await table_rows(page, ".table-view table")
    whole, cents = root["target"].split(".")
    german = f"{int(whole):,}".replace(",", ".") + f",{cents}\N{NO-BREAK SPACE}€"
    assert rows[0]["cells"][1] == german
    assert (
        rows[0]["cells"][3]
        == root["attainment"]["attainmentPercent"].replace(".", ",") + "\N{NO-BREAK SPACE}%"
    )
