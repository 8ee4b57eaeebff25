"""planCreate and the plan queries, through HTTP against PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from service.auth import Role
from tests.conftest import GraphQLClient

PLAN_CREATE = """
mutation($input: PlanCreateInput!) {
  planCreate(input: $input) {
    plan { id name currency fiscalYear minorDigits versions { number state } }
    version { id number state revision }
    root { id target depth parent { id } children { id } slice { member { code } } }
    userErrors { code field message }
  }
}
"""


def plan_input(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "FY2027 revenue",
        "currency": "EUR",
        "fiscalYear": 2027,
        "target": "120000000.00",
        **overrides,
    }


async def test_plan_create_makes_plan_draft_and_root(gql: GraphQLClient) -> None:
    data = await gql(PLAN_CREATE, {"input": plan_input()})
    payload = data["planCreate"]
    assert payload["userErrors"] == []
    assert payload["plan"]["name"] == "FY2027 revenue"
    assert payload["plan"]["currency"] == "EUR"
    assert payload["plan"]["minorDigits"] == 2
    assert payload["plan"]["versions"] == [{"number": 1, "state": "DRAFT"}]
    assert payload["version"]["state"] == "DRAFT"
    assert payload["version"]["revision"] == 1
    root = payload["root"]
    assert root["target"] == "120000000.00"
    assert root["depth"] == 0
    assert root["parent"] is None
    assert root["children"] == []
    assert root["slice"] == []

    read = await gql(
        "query($id: ID!) { node(id: $id) { ... on TargetNode { target version { number } } } }",
        {"id": root["id"]},
        role=Role.VIEWER,
    )
    assert read["node"] == {"target": "120000000.00", "version": {"number": 1}}


async def test_currency_digits_follow_iso_4217(gql: GraphQLClient) -> None:
    yen = await gql(PLAN_CREATE, {"input": plan_input(currency="JPY", target="500000000")})
    assert yen["planCreate"]["root"]["target"] == "500000000"
    dinar = await gql(PLAN_CREATE, {"input": plan_input(currency="kwd", target="1.125")})
    assert dinar["planCreate"]["plan"]["currency"] == "KWD"
    assert dinar["planCreate"]["root"]["target"] == "1.125"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"name": ""}, "REQUIRED", "name"),
        ({"name": "   "}, "REQUIRED", "name"),
        ({"name": "x" * 10_000}, "TOO_LONG", "name"),
        ({"name": "bad\x00name"}, "INVALID_VALUE", "name"),
        ({"currency": "ABC"}, "UNKNOWN_CURRENCY", "currency"),
        ({"currency": "EURO"}, "UNKNOWN_CURRENCY", "currency"),
        ({"currency": "XAU"}, "UNKNOWN_CURRENCY", "currency"),
        ({"currency": ""}, "UNKNOWN_CURRENCY", "currency"),
        ({"target": "-1.00"}, "NEGATIVE_AMOUNT", "target"),
        ({"target": "abc"}, "INVALID_AMOUNT", "target"),
        ({"target": "NaN"}, "INVALID_AMOUNT", "target"),
        ({"target": "Infinity"}, "INVALID_AMOUNT", "target"),
        ({"target": ""}, "INVALID_AMOUNT", "target"),
        ({"target": "1e400"}, "AMOUNT_TOO_LARGE", "target"),
        ({"target": "92233720368547758.08"}, "AMOUNT_TOO_LARGE", "target"),
        ({"target": "1.005"}, "TOO_MANY_DECIMALS", "target"),
        ({"target": "1.5", "currency": "JPY"}, "TOO_MANY_DECIMALS", "target"),
        ({"target": "1" * 100}, "INVALID_AMOUNT", "target"),
        ({"fiscalYear": 12}, "OUT_OF_RANGE", "fiscalYear"),
    ],
)
async def test_bad_plan_input_gets_a_user_error_and_writes_nothing(
    gql: GraphQLClient, db: Any, overrides: dict[str, Any], code: str, field: str
) -> None:
    data = await gql(PLAN_CREATE, {"input": plan_input(**overrides)})
    payload = data["planCreate"]
    assert payload["plan"] is None and payload["root"] is None
    [error] = payload["userErrors"]
    assert error["code"] == code, error
    assert error["field"] == ["input", field]
    assert error["message"]
    async with db.session() as session:
        count = await session.scalar(text("SELECT count(*) FROM plan"))
    assert count == 0


async def test_largest_target_is_exact(gql: GraphQLClient) -> None:
    data = await gql(PLAN_CREATE, {"input": plan_input(target="92233720368547758.07")})
    assert data["planCreate"]["root"]["target"] == "92233720368547758.07"


async def test_plans_connection_pages_with_cursors(gql: GraphQLClient) -> None:
    for year in (2025, 2026, 2027):
        await gql(PLAN_CREATE, {"input": plan_input(fiscalYear=year, name=f"FY{year}")})
    query = """query($after: String) { plans(first: 2, after: $after) {
        totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }"""
    first = (await gql(query, {"after": None}, role=Role.VIEWER))["plans"]
    assert first["totalCount"] == 3
    assert [e["node"]["name"] for e in first["edges"]] == ["FY2025", "FY2026"]
    assert first["pageInfo"]["hasNextPage"] is True
    second = await gql(query, {"after": first["pageInfo"]["endCursor"]}, role=Role.VIEWER)
    assert [e["node"]["name"] for e in second["plans"]["edges"]] == ["FY2027"]
    assert second["plans"]["pageInfo"]["hasNextPage"] is False


async def test_bad_cursor_and_page_size_are_clear_errors(gql: GraphQLClient) -> None:
    response = await gql.post('{ plans(after: "nonsense") { totalCount } }')
    assert "not a cursor" in response.json()["errors"][0]["message"]
    response = await gql.post("{ plans(first: 100000) { totalCount } }")
    assert "between 1 and 500" in response.json()["errors"][0]["message"]


async def test_plan_and_version_lookup(gql: GraphQLClient) -> None:
    created = (await gql(PLAN_CREATE, {"input": plan_input()}))["planCreate"]
    data = await gql(
        """query($p: ID!, $v: ID!) {
            plan(id: $p) { name versions { id } }
            planVersion(id: $v) { number plan { name } root { target } }
        }""",
        {"p": created["plan"]["id"], "v": created["version"]["id"]},
        role=Role.VIEWER,
    )
    assert data["plan"]["versions"] == [{"id": created["version"]["id"]}]
    assert data["planVersion"] == {
        "number": 1,
        "plan": {"name": "FY2027 revenue"},
        "root": {"target": "120000000.00"},
    }
