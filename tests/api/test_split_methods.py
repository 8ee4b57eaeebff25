"""nodeSplit by every method of the engine, through GraphQL, with stored explanations."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import create_dimension, create_plan
from tests.conftest import GraphQLClient

SPLIT = """mutation($input: NodeSplitInput!) { nodeSplit(input: $input) {
    node { splitSpec }
    children { target locked explanation coordinate { member { code } } }
    userErrors { code field message } } }"""

BULK = """mutation($input: MembersCreateInput!) { membersCreate(input: $input) {
    members { id code } userErrors { code field message } } }"""


@pytest.fixture
async def setup(gql: GraphQLClient) -> dict[str, Any]:
    plan = await create_plan(gql, target="1000.00")
    regions = await create_dimension(gql, "Regions")
    data = await gql(
        BULK,
        {
            "input": {
                "dimensionId": regions,
                "members": [
                    {"code": "EAST", "name": "East", "attributes": {"marketPotential": "300"}},
                    {"code": "WEST", "name": "West", "attributes": {"marketPotential": "100"}},
                ],
            }
        },
    )
    members = {m["code"]: m["id"] for m in data["membersCreate"]["members"]}
    return {"root": plan["root"]["id"], "regions": regions, **members}


async def run_split(gql: GraphQLClient, setup: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = await gql(
        SPLIT,
        {
            "input": {
                "nodeId": setup["root"],
                "revision": 1,
                "dimensionId": setup["regions"],
                "memberIds": [setup["EAST"], setup["WEST"]],
                **extra,
            }
        },
    )
    return data["nodeSplit"]  # type: ignore[no-any-return]


def targets(result: dict[str, Any]) -> dict[str, str]:
    return {c["coordinate"]["member"]["code"]: c["target"] for c in result["children"]}


async def test_weights_as_percentages(gql: GraphQLClient, setup: dict[str, Any]) -> None:
    result = await run_split(
        gql,
        setup,
        method="WEIGHTS",
        options={"percentages": True},
        children=[
            {"memberId": setup["EAST"], "weight": "60"},
            {"memberId": setup["WEST"], "weight": "40"},
        ],
    )
    assert result["userErrors"] == []
    assert targets(result) == {"EAST": "600.00", "WEST": "400.00"}
    assert result["node"]["splitSpec"]["spec"]["method"] == "WEIGHTS"
    assert result["children"][0]["explanation"]["method"] == "WEIGHTS"


async def test_percentages_not_100_is_a_user_error(
    gql: GraphQLClient, setup: dict[str, Any]
) -> None:
    result = await run_split(
        gql,
        setup,
        method="WEIGHTS",
        options={"percentages": True},
        children=[
            {"memberId": setup["EAST"], "weight": "60"},
            {"memberId": setup["WEST"], "weight": "30"},
        ],
    )
    [error] = result["userErrors"]
    assert error["code"] == "PERCENTAGES_NOT_100"
    assert "90" in error["message"]


async def test_potential_reads_the_member_attribute(
    gql: GraphQLClient, setup: dict[str, Any]
) -> None:
    result = await run_split(gql, setup, method="POTENTIAL")
    assert result["userErrors"] == []
    assert targets(result) == {"EAST": "750.00", "WEST": "250.00"}


async def test_blend_of_history_and_potential(gql: GraphQLClient, setup: dict[str, Any]) -> None:
    result = await run_split(
        gql,
        setup,
        method="BLEND",
        options={
            "blend": [
                {"method": "HISTORY", "weight": "0.6"},
                {"method": "POTENTIAL", "weight": "0.4"},
            ]
        },
        children=[
            {"memberId": setup["EAST"], "history": ["400", "500"]},
            {"memberId": setup["WEST"], "history": ["600", "500"]},
        ],
    )
    assert result["userErrors"] == []
    # history share of EAST: (0.4 + 0.5) / 2 = 0.45; potential share 0.75
    # blend: 0.6 * 0.45 + 0.4 * 0.75 = 0.57
    assert targets(result) == {"EAST": "570.00", "WEST": "430.00"}
    components = result["children"][0]["explanation"]["components"]
    assert {c["method"] for c in components} == {"HISTORY", "POTENTIAL"}


async def test_manual_amounts_lock_floor_and_buffer(
    gql: GraphQLClient, setup: dict[str, Any]
) -> None:
    result = await run_split(
        gql,
        setup,
        method="MANUAL",
        children=[
            {"memberId": setup["EAST"], "amount": "700.00"},
            {"memberId": setup["WEST"], "amount": "300.00"},
        ],
    )
    assert targets(result) == {"EAST": "700.00", "WEST": "300.00"}

    mismatch = await run_split(
        gql,
        {**setup, "root": (await create_plan(gql, target="1000.00"))["root"]["id"]},
        method="MANUAL",
        children=[
            {"memberId": setup["EAST"], "amount": "700.00"},
            {"memberId": setup["WEST"], "amount": "200.00"},
        ],
    )
    assert mismatch["userErrors"][0]["code"] == "MANUAL_MISMATCH"

    buffered = await run_split(
        gql,
        {**setup, "root": (await create_plan(gql, target="1000.00"))["root"]["id"]},
        options={"overAssignment": "10"},
        children=[{"memberId": setup["EAST"], "lockedAmount": "100.00"}],
    )
    assert buffered["userErrors"] == []
    assert targets(buffered) == {"EAST": "100.00", "WEST": "1000.00"}
    assert [c["locked"] for c in buffered["children"]] == [True, False]


async def test_history_without_values_is_refused_unless_a_rule_is_chosen(
    gql: GraphQLClient, setup: dict[str, Any]
) -> None:
    children = [{"memberId": setup["EAST"], "history": ["100"]}]
    refused = await run_split(gql, setup, method="HISTORY", children=children)
    assert refused["userErrors"][0]["code"] == "MISSING_HISTORY"
    assert "WEST" in refused["userErrors"][0]["message"]
    zero = await run_split(
        gql, setup, method="HISTORY", children=children, options={"noHistory": "ZERO"}
    )
    assert targets(zero) == {"EAST": "1000.00", "WEST": "0.00"}


async def test_a_weight_that_is_not_a_decimal_is_refused_before_anything_runs(
    gql: GraphQLClient, setup: dict[str, Any]
) -> None:
    response = await gql.post(
        "mutation($input: NodeSplitInput!) { nodeSplit(input: $input) { children { id } } }",
        {
            "input": {
                "nodeId": setup["root"],
                "revision": 1,
                "dimensionId": setup["regions"],
                "memberIds": [setup["EAST"]],
                "method": "WEIGHTS",
                "children": [{"memberId": setup["EAST"], "weight": "NaN"}],
            }
        },
    )
    [error] = response.json()["errors"]
    assert "$input" in error["message"] and ".children[0].weight" in error["message"]


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        (
            {"method": "WEIGHTS", "children": [{"memberId": "TWVtYmVyOjk5OTk5", "weight": "1"}]},
            "INVALID_VALUE",
            ["input", "children", "0", "memberId"],
        ),
        (
            {"method": "MANUAL", "children": [{"memberId": "@@", "amount": "1"}]},
            "INVALID_ID",
            ["input", "children", "0", "memberId"],
        ),
        (
            {"method": "MANUAL", "children": [{"memberId": "M", "amount": "1.001"}]},
            "TOO_MANY_DECIMALS",
            ["input", "children", "0", "amount"],
        ),
        ({"options": {"step": "0"}}, "OUT_OF_RANGE", ["input", "options", "step"]),
        (
            {"method": "WEIGHTS", "children": [{"memberId": "M", "weight": "-1"}]},
            "INVALID_WEIGHTS",
            ["input", "children"],
        ),
    ],
)
async def test_bad_method_inputs(
    gql: GraphQLClient, setup: dict[str, Any], extra: dict[str, Any], code: str, field: list[str]
) -> None:
    for child in extra.get("children", []):
        if child["memberId"] == "M":
            child["memberId"] = setup["EAST"]
    result = await run_split(gql, setup, **extra)
    assert result["children"] is None
    [error] = result["userErrors"]
    assert (error["code"], error["field"]) == (code, field), error
