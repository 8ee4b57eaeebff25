"""The other views on the demo company: an owner's page, alerts and diagnostics, two
versions side by side; each read back from the page and compared with the API."""

from __future__ import annotations

from service.api import ids
from tests.demo.company import Demo
from tests.explorer.browsing import AS_OF, chart_items, euros, percent, table_rows
from tests.explorer.conftest import Page

OWNERS = """query($v: ID!) { planVersion(id: $v) { owners { owners(first: 500) {
  edges { nodeCount node { id name } } } } } }"""
QUOTA = """query($o: ID!, $v: ID!, $asOf: Date) { node(id: $o) { ... on Owner {
  quota(version: $v) { total nodes { id } heldNodes { id target attainment(asOf: $asOf) {
    actual attainmentPercent } } } } } }"""
PROBLEMS = """query($v: ID!, $asOf: Date) { planVersion(id: $v) {
  alerts(asOf: $asOf, first: 500) { node { id } }
  diagnostics(asOf: $asOf, first: 1000) { code node { id } } } }"""
DIFF = """query($b: ID!, $o: ID!) { versionDiff(base: $b, other: $o) {
  truncated changes { key kind delta } } }"""


async def test_an_owners_page_lists_exactly_their_nodes(
    demo: Demo, explorer_url: str, page: Page
) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    edges = (await demo.gql(OWNERS, {"v": version}))["planVersion"]["owners"]["owners"]["edges"]
    assert len(edges) > 5
    for edge in edges:  # every owner of the demo's version
        owner = edge["node"]
        quota = (await demo.gql(QUOTA, {"o": owner["id"], "v": version, "asOf": AS_OF}))["node"][
            "quota"
        ]
        await page.page.goto(
            f"{explorer_url}/explorer#owner?version={version}&asOf={AS_OF}&owner={owner['id']}"
        )
        await page.page.wait_for_selector(
            f"main h3:text-is('{owner['name']}: {euros(quota['total'])}')"
        )
        rows = await table_rows(page, "main table:first-of-type")
        # Every node they hold, nested ones included; the total counts the topmost.
        assert [r["id"] for r in rows] == [n["id"] for n in quota["heldNodes"]]
        topmost = {n["id"] for n in quota["nodes"]}
        assert len(topmost) == edge["nodeCount"]
        for row, node in zip(rows, quota["heldNodes"], strict=True):
            assert row["cells"][1:4] == [
                euros(node["target"]),
                euros(node["attainment"]["actual"]),
                percent(node["attainment"]["attainmentPercent"]),
            ]
            assert row["cells"][-1] == (
                "Yes" if node["id"] in topmost else "No: inside a node they hold"
            )
        if edge is edges[-1]:
            await page.screenshot("owner")


async def test_alerts_and_diagnostics_sort_and_jump_to_the_node(
    demo: Demo, explorer_url: str, page: Page
) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    expected = (await demo.gql(PROBLEMS, {"v": version, "asOf": AS_OF}))["planVersion"]
    await page.page.goto(f"{explorer_url}/explorer#problems?version={version}&asOf={AS_OF}")
    await page.page.wait_for_selector("body[data-drawn='problems']")
    await page.screenshot("problems")
    alerts = await table_rows(page, "main table:nth-of-type(1)")
    findings = await table_rows(page, "main table:nth-of-type(2)")
    assert [r["id"] for r in alerts] == [a["node"]["id"] for a in expected["alerts"]]
    assert [r["id"] for r in findings] == [f["node"]["id"] for f in expected["diagnostics"]]
    assert alerts, "the demo's West runs behind: there are alerts"

    # Sorting by pace, ascending then descending, reverses the order of the paces.
    pace = page.page.locator("main table:nth-of-type(1) th button", has_text="Pace")
    await pace.click()
    header = page.page.locator("main table:nth-of-type(1) th", has_text="Pace")
    assert await header.get_attribute("aria-sort") == "ascending"
    up = [r["cells"][5] for r in await table_rows(page, "main table:nth-of-type(1)")]
    await pace.click()
    assert await header.get_attribute("aria-sort") == "descending"
    down = [r["cells"][5] for r in await table_rows(page, "main table:nth-of-type(1)")]
    paces = [float(p) for p in up]
    assert paces == sorted(paces)
    assert [float(p) for p in down] == sorted(paces, reverse=True)

    # A row's link opens the tree at that node.
    first = (await table_rows(page, "main table:nth-of-type(1)"))[0]["id"]
    await page.page.locator(f"main table:nth-of-type(1) tr[data-id='{first}'] a").click()
    await page.page.wait_for_selector(f"#panel[data-node='{first}']", timeout=30_000)
    assert await page.page.evaluate("document.body.dataset.node") == first


async def test_the_diff_highlights_exactly_the_changed_nodes(
    demo: Demo, explorer_url: str, page: Page
) -> None:
    base = ids.encode("PlanVersion", demo.loaded.version_id)
    other = ids.encode("PlanVersion", demo.loaded.replan_version_id)
    diff = (await demo.gql(DIFF, {"b": base, "o": other}))["versionDiff"]
    assert diff["changes"] and not diff["truncated"]
    kinds = {c["key"]: c["kind"] for c in diff["changes"]}
    await page.page.goto(f"{explorer_url}/explorer#diff?version={other}&base={base}&other={other}")
    await page.page.wait_for_selector("body[data-drawn='diff']", timeout=30_000)
    await page.screenshot("diff")

    rows = await table_rows(page, "main table")
    assert {r["key"]: r["kind"] for r in rows} == kinds
    by_key = {c["key"]: c for c in diff["changes"]}
    for row in rows:
        delta = by_key[row["key"]]["delta"]
        assert row["cells"][4] == euros(delta)

    left = await chart_items(page, "#base-chart")
    right = await chart_items(page, "#other-chart")
    marked_left = {i["key"]: i["change"] for i in left if i["change"]}
    marked_right = {i["key"]: i["change"] for i in right if i["change"]}
    assert marked_left == {k: v for k, v in kinds.items() if v in ("CHANGED", "REMOVED")}
    assert marked_right == {k: v for k, v in kinds.items() if v in ("CHANGED", "ADDED")}
    # the colours tell them apart from the unchanged nodes
    unchanged = {i["color"] for i in right if not i["change"]}
    assert unchanged and unchanged.isdisjoint({i["color"] for i in right if i["change"]})


async def test_in_production_the_page_asks_for_a_token(demo: Demo, page: Page) -> None:
    from service.app import create_app
    from service.auth import Role
    from tests.conftest import make_settings, token
    from tests.explorer.conftest import serve

    app = create_app(make_settings(env="production", explorer_enabled=True), database=demo.db)
    server, task, url = await serve(app)
    try:
        version = ids.encode("PlanVersion", demo.loaded.version_id)
        await page.page.goto(f"{url}/explorer#tree?version={version}&asOf={AS_OF}")
        await page.page.wait_for_selector("#signin:not([hidden])")
        await page.screenshot("signin")
        await page.page.fill("#token", token(Role.VIEWER))
        await page.page.click("#signin button")
        await page.page.wait_for_selector(f"body[data-colored='{AS_OF}']", timeout=30_000)
        await page.page.wait_for_selector("#panel[data-complete]")  # before the server stops
        assert await page.page.is_hidden("#signin")
    finally:
        server.should_exit = True
        await task
