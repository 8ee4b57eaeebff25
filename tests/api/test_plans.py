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
    plan { id name measure currency unit decimals fiscalYear
           versions { totalCount nodes { number state } } }
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
    assert payload["plan"]["measure"] == "AMOUNT" and payload["plan"]["unit"] is None
    assert payload["plan"]["decimals"] == 2
    assert payload["plan"]["versions"] == {
        "totalCount": 1,
        "nodes": [{"number": 1, "state": "DRAFT"}],
    }
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
    dinar = await gql(PLAN_CREATE, {"input": plan_input(currency="KWD", target="1.125")})
    assert dinar["planCreate"]["plan"]["currency"] == "KWD"
    assert dinar["planCreate"]["plan"]["decimals"] == 3
    assert dinar["planCreate"]["root"]["target"] == "1.125"


async def test_quantity_plans_count_units(gql: GraphQLClient) -> None:
    data = await gql(
        PLAN_CREATE,
        {
            "input": plan_input(
                currency=None, measure="QUANTITY", unit="licences", decimals=1, target="2500.5"
            )
        },
    )
    payload = data["planCreate"]
    assert payload["userErrors"] == []
    assert payload["plan"]["measure"] == "QUANTITY"
    assert payload["plan"]["currency"] is None and payload["plan"]["unit"] == "licences"
    assert payload["plan"]["decimals"] == 1
    assert payload["root"]["target"] == "2500.5"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"measure": "QUANTITY"}, "INVALID_VALUE", "currency"),
        ({"measure": "QUANTITY", "currency": None}, "REQUIRED", "unit"),
        ({"currency": None}, "REQUIRED", "currency"),
        ({"unit": "licences"}, "INVALID_VALUE", "unit"),
        (
            {"measure": "QUANTITY", "currency": None, "unit": "u", "decimals": 5},
            "OUT_OF_RANGE",
            "decimals",
        ),
        ({"decimals": 3}, "INVALID_VALUE", "decimals"),
        (
            {"measure": "QUANTITY", "currency": None, "unit": "u", "target": "1.5"},
            "TOO_MANY_DECIMALS",
            "target",
        ),
    ],
)
async def test_bad_measures_are_user_errors(
    gql: GraphQLClient, overrides: dict[str, Any], code: str, field: str
) -> None:
    payload = (await gql(PLAN_CREATE, {"input": plan_input(**overrides)}))["planCreate"]
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == (code, ["input", field]), error


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"name": ""}, "REQUIRED", "name"),
        ({"name": "   "}, "REQUIRED", "name"),
        ({"name": "x" * 10_000}, "TOO_LONG", "name"),
        ({"name": "bad\x01name"}, "INVALID_VALUE", "name"),
        ({"name": "bad\x00name"}, "INVALID_VALUE", "name"),
        ({"target": "-1.00"}, "NEGATIVE_AMOUNT", "target"),
        ({"target": "1e400"}, "AMOUNT_TOO_LARGE", "target"),
        ({"target": "92233720368547758.08"}, "AMOUNT_TOO_LARGE", "target"),
        ({"target": "1.005"}, "TOO_MANY_DECIMALS", "target"),
        ({"target": "1.5", "currency": "JPY"}, "TOO_MANY_DECIMALS", "target"),
        ({"target": "1" * 60}, "AMOUNT_TOO_LARGE", "target"),
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


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"currency": "ABC"}, "input.currency"),
        ({"currency": "EURO"}, "input.currency"),
        ({"currency": "XAU"}, "input.currency"),  # gold: no minor unit, so no enum value
        ({"currency": "eur"}, "input.currency"),
        ({"currency": ""}, "input.currency"),
        ({"target": "abc"}, "input.target"),
        ({"target": "NaN"}, "input.target"),
        ({"target": "Infinity"}, "input.target"),
        ({"target": ""}, "input.target"),
        ({"target": 0.1}, "input.target"),  # a JSON float is not an exact decimal
        ({"target": "1" * 100}, "input.target"),
        ({"fiscalYear": 2**40}, "input.fiscalYear"),
    ],
)
async def test_malformed_plan_input_is_a_validation_error_naming_the_field(
    gql: GraphQLClient, db: Any, overrides: dict[str, Any], where: str
) -> None:
    """Values of the wrong type for the schema (an enum, a Decimal, an Int) never reach a
    use case: the variables are refused before execution, naming the field."""
    response = await gql.post(PLAN_CREATE, {"input": plan_input(**overrides)})
    body = response.json()
    assert body.get("data") is None
    [error] = body["errors"]
    variable, _, path = where.partition(".")
    message = error["message"]
    named = f"${variable}" in message and (f"at .{path}" in message or f"at {path!r}" in message)
    assert named or error.get("extensions", {}).get("field") == where, error
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
            plan(id: $p) { name versions { nodes { id } } }
            planVersion(id: $v) { number plan { name } root { target } }
        }""",
        {"p": created["plan"]["id"], "v": created["version"]["id"]},
        role=Role.VIEWER,
    )
    assert data["plan"]["versions"] == {"nodes": [{"id": created["version"]["id"]}]}
    assert data["planVersion"] == {
        "number": 1,
        "plan": {"name": "FY2027 revenue"},
        "root": {"target": "120000000.00"},
    }
