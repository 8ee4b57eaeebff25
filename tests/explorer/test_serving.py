"""/explorer as the service serves it: its assets from the service, a development
token only from the one-off secret, off in production unless enabled; and the bulk
attainment read it colours the tree with, checked against the typed one."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jwt
import pytest

from service.api import ids
from service.app import create_app
from service.auth import Role
from tests.conftest import make_settings
from tests.demo.company import Demo
from tests.explorer.conftest import SECRET


async def _get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(path)


def _token(page: str) -> str | None:
    found = re.search(r'"token":(null|"([\w.-]+)")', page)
    assert found is not None, page
    return found.group(2)


async def test_the_page_and_its_assets_come_from_the_service(db: Any) -> None:
    app = create_app(make_settings(env="development", jwt_secret=None), database=db,
                     generated_secret=SECRET)  # fmt: skip
    page = await _get(app, "/explorer")
    assert page.status_code == 200
    assert "https://" not in page.text and "http://" not in page.text
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert "/explorer/assets/echarts.min.js" in assets and "/explorer/assets/main.js" in assets
    for asset in assets:
        served = await _get(app, asset)
        assert served.status_code == 200, asset
    # every module the page imports is served too
    for module in re.findall(
        r'from "\./([\w.]+)"', (await _get(app, "/explorer/assets/main.js")).text
    ):
        assert (await _get(app, f"/explorer/assets/{module}")).status_code == 200, module
    licences = await _get(app, "/explorer/assets/LICENSES.txt")
    assert "Apache License" in licences.text and "ECharts 6.1.0" in licences.text


async def test_a_development_server_gives_the_page_a_viewer_token(db: Any) -> None:
    app = create_app(make_settings(env="development", jwt_secret=None), database=db,
                     generated_secret=SECRET)  # fmt: skip
    token = _token((await _get(app, "/explorer")).text)
    assert token is not None
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["roles"] == [Role.VIEWER.value]


async def test_without_the_one_off_secret_the_page_asks_for_a_token(db: Any) -> None:
    app = create_app(make_settings(env="development"), database=db)
    page = await _get(app, "/explorer")
    assert page.status_code == 200 and _token(page.text) is None


async def test_production_serves_it_only_when_enabled_and_never_with_a_token(db: Any) -> None:
    off = create_app(make_settings(env="production"), database=db)
    assert (await _get(off, "/explorer")).status_code == 404
    assert (await _get(off, "/explorer/assets/main.js")).status_code == 404
    on = create_app(make_settings(env="production", explorer_enabled=True), database=db,
                    generated_secret=SECRET)  # fmt: skip
    page = await _get(on, "/explorer")
    assert page.status_code == 200 and _token(page.text) is None
    dev_off = create_app(make_settings(env="development", explorer_enabled=False), database=db)
    assert (await _get(dev_off, "/explorer")).status_code == 404


SUBTREE = """query($v: ID!) { planVersion(id: $v) { subtree { count columns } } }"""
# Each whole-tree read takes most of the cost budget: one per request.
TABLE = """query($v: ID!, $asOf: Date) { planVersion(id: $v) {
  attainmentTable(asOf: $asOf) { asOf count truncated columns } } }"""
RANKING = """query($v: ID!, $asOf: Date, $after: String) { planVersion(id: $v) {
  attainmentRanking(asOf: $asOf, first: 500, after: $after) {
    edges { node { id attainment(asOf: $asOf) {
      status actual targetToDate forecast attainmentPercent pace } } }
    pageInfo { hasNextPage endCursor } } } }"""


async def test_the_attainment_table_holds_every_nodes_typed_numbers(demo: Demo) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    data = (await demo.gql(SUBTREE, {"v": version}))["planVersion"]
    table = (await demo.gql(TABLE, {"v": version, "asOf": "2027-06-30"}))["planVersion"][
        "attainmentTable"
    ]
    assert table["asOf"] == "2027-06-30" and table["truncated"] is False
    assert table["count"] == data["subtree"]["count"] == demo.loaded.nodes
    columns = table["columns"]
    assert columns["id"] == data["subtree"]["columns"]["id"]  # the same rows, same order
    typed: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        page = (await demo.gql(RANKING, {"v": version, "asOf": "2027-06-30", "after": after}))[
            "planVersion"
        ]["attainmentRanking"]
        typed.update({e["node"]["id"]: e["node"]["attainment"] for e in page["edges"]})
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(typed) == table["count"]
    names = ("status", "actual", "targetToDate", "forecast", "attainmentPercent", "pace")
    for i, node_id in enumerate(columns["id"]):
        assert {n: columns[n][i] for n in names} == typed[node_id], node_id
    assert {"ON_TRACK", "AT_RISK", "BEHIND"} <= set(columns["status"])


@pytest.mark.parametrize("depth", [0, 1])
async def test_the_attainment_table_follows_the_subtree_arguments(demo: Demo, depth: int) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    root = ids.encode("TargetNode", demo.loaded.version_id, demo.loaded.root_key)
    query = """query($v: ID!, $r: ID, $d: Int) { planVersion(id: $v) {
      subtree(rootId: $r, maxDepth: $d) { columns }
      attainmentTable(rootId: $r, maxDepth: $d) { count columns } } }"""
    data = (await demo.gql(query, {"v": version, "r": root, "d": depth}))["planVersion"]
    assert data["attainmentTable"]["columns"]["id"] == data["subtree"]["columns"]["id"]
    assert data["attainmentTable"]["count"] == (1 if depth == 0 else 4)
    other = ids.encode("TargetNode", demo.loaded.replan_version_id, demo.loaded.root_key)
    response = await demo.gql.post(query, {"v": version, "r": other, "d": depth})
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "INVALID_VALUE"
