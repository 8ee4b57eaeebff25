"""nodeSplitMatrix: region x product with both margins exact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.api.helpers import create_dimension, create_member, create_plan
from tests.conftest import GraphQLClient

MATRIX = """mutation($input: NodeSplitMatrixInput!) { nodeSplitMatrix(input: $input) {
    node { splitDimension { name } }
    rows { target coordinate { member { code } } children { target coordinate { member { code } } explanation } }
    cells { target }
    iterations maxResidual version { revision }
    userErrors { code field message } } }"""


async def setup(gql: GraphQLClient) -> dict[str, Any]:
    plan = await create_plan(gql, target="1000.00")
    regions = await create_dimension(gql, "Regions")
    products = await create_dimension(gql, "Products", "PRODUCT")
    return {
        "root": plan["root"]["id"],
        "regions": regions,
        "products": products,
        "r": [await create_member(gql, regions, c) for c in ("EAST", "WEST")],
        "p": [await create_member(gql, products, c) for c in ("NOVA", "CORE", "SERVICE")],
    }


async def test_matrix_split_keeps_both_margins(gql: GraphQLClient, db: Any) -> None:
    s = await setup(gql)
    data = await gql(
        MATRIX,
        {
            "input": {
                "nodeId": s["root"],
                "revision": 1,
                "rows": {
                    "dimensionId": s["regions"],
                    "memberIds": s["r"],
                    "method": "WEIGHTS",
                    "children": [
                        {"memberId": s["r"][0], "weight": "7"},
                        {"memberId": s["r"][1], "weight": "3"},
                    ],
                },
                "columns": {
                    "dimensionId": s["products"],
                    "memberIds": s["p"],
                    "method": "MANUAL",
                    "children": [
                        {"memberId": s["p"][0], "amount": "100.00"},
                        {"memberId": s["p"][1], "amount": "600.00"},
                        {"memberId": s["p"][2], "amount": "300.00"},
                    ],
                },
                "seed": [["10", "50", "40"], ["5", "40", "5"]],
                "structuralZeros": [{"rowMemberId": s["r"][1], "columnMemberId": s["p"][0]}],
            }
        },
    )
    result = data["nodeSplitMatrix"]
    assert result["userErrors"] == []
    rows = {r["coordinate"]["member"]["code"]: r for r in result["rows"]}
    assert rows["EAST"]["target"] == "700.00" and rows["WEST"]["target"] == "300.00"
    cents = {
        (row, c["coordinate"]["member"]["code"]): int(c["target"].replace(".", ""))
        for row, r in rows.items()
        for c in r["children"]
    }
    assert cents[("WEST", "NOVA")] == 0
    for code, total in (("NOVA", 10000), ("CORE", 60000), ("SERVICE", 30000)):
        assert cents[("EAST", code)] + cents[("WEST", code)] == total
    for code, total in (("EAST", 70000), ("WEST", 30000)):
        assert sum(v for (r, _), v in cents.items() if r == code) == total
    assert result["iterations"] >= 1
    assert rows["EAST"]["children"][0]["explanation"]["method"] == "MATRIX"
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM target_node")) == 1 + 2 + 6


async def test_matrix_split_refuses_bad_input(gql: GraphQLClient) -> None:
    s = await setup(gql)
    base = {
        "nodeId": s["root"],
        "revision": 1,
        "rows": {"dimensionId": s["regions"], "memberIds": s["r"]},
        "columns": {"dimensionId": s["products"], "memberIds": s["p"]},
    }
    same = await gql(MATRIX, {"input": {**base, "columns": base["rows"]}})
    assert same["nodeSplitMatrix"]["userErrors"][0]["field"] == ["input", "columns"]
    bad_seed = await gql(MATRIX, {"input": {**base, "seed": [["1", "2"]]}})
    assert bad_seed["nodeSplitMatrix"]["userErrors"][0]["field"] == ["input", "seed"]
    wrong_member = await gql(
        MATRIX,
        {"input": {**base, "columns": {"dimensionId": s["products"], "memberIds": [s["r"][0]]}}},
    )
    error = wrong_member["nodeSplitMatrix"]["userErrors"][0]
    assert (error["code"], error["field"]) == (
        "WRONG_DIMENSION",
        ["input", "columns", "memberIds", "0"],
    )
