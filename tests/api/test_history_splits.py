"""nodeSplit with history from the stored actuals: HISTORY, BLEND and SEASONAL (also a
monthly profile driving a quarterly split), the explanation naming what was read."""

from __future__ import annotations

from datetime import date
from typing import Any

from service.db.engine import Database
from tests.api.helpers import SPLIT, create_dimension, create_member, create_plan, split
from tests.api.sales import insert_sales, local_id
from tests.api.test_replan import _calendar
from tests.conftest import GraphQLClient


async def _split(gql: GraphQLClient, input: dict[str, Any]) -> dict[str, Any]:
    data = await gql(SPLIT, {"input": input})
    return data["nodeSplit"]  # type: ignore[no-any-return]


async def _regions(gql: GraphQLClient) -> tuple[str, str, str]:
    region = await create_dimension(gql, "Region")
    return (
        region,
        await create_member(gql, region, "NORTH"),
        await create_member(gql, region, "SOUTH"),
    )


async def test_history_and_blend_from_actuals(gql: GraphQLClient, db: Database) -> None:
    plan = await create_plan(gql, target="1000.00")
    region, north, south = await _regions(gql)
    n, s = local_id(north), local_id(south)
    await insert_sales(
        db,
        local_id(plan["plan"]["id"]),
        [
            (date(2025, 3, 1), 20000, [n]),
            (date(2025, 9, 1), 10000, [n]),
            (date(2025, 6, 1), 10000, [s]),
            (date(2026, 2, 1), 20000, [n]),
            (date(2026, 11, 1), 20000, [s]),
            (date(2027, 1, 5), 999999, [s]),  # the plan's own year: not history
        ],
    )
    base = {
        "nodeId": plan["root"]["id"],
        "revision": 1,
        "dimensionId": region,
        "memberIds": [north, south],
    }
    done = await _split(
        gql,
        {**base, "method": "HISTORY", "options": {"historyFrom": {"fiscalYears": [2026, 2025]}}},
    )
    assert done["userErrors"] == []
    # shares 0.75 and 0.5 for NORTH: average 0.625
    assert [c["target"] for c in done["children"]] == ["625.00", "375.00"]
    why = done["children"][0]["explanation"]
    assert why["inputs"]["history"] == ["300.00", "200.00"]
    assert why["history_from"]["text"] == (
        "history from the stored actuals: FY2025 300.00, FY2026 200.00"
    )
    assert [p["period"] for p in why["history_from"]["periods"]] == ["FY2025", "FY2026"]
    assert why["history_from"]["periods"][0]["from"] == "2025-01-01"
    await gql(
        """mutation($input: NodeInput!) { nodeUnsplit(input: $input) { userErrors { code } } }""",
        {"input": {"nodeId": plan["root"]["id"], "revision": 2}},
    )
    done = await _split(
        gql,
        {
            **base,
            "revision": 3,
            "method": "BLEND",
            "options": {
                "blend": [
                    {"method": "HISTORY", "weight": "0.5"},
                    {"method": "EQUAL", "weight": "0.5"},
                ],
                "historyFrom": {"fiscalYears": [2025, 2026]},
            },
        },
    )
    assert done["userErrors"] == []
    assert [c["target"] for c in done["children"]] == ["562.50", "437.50"]


async def test_split_of_a_quarter_reads_the_same_quarter_of_past_years(
    gql: GraphQLClient, db: Database
) -> None:
    plan = await create_plan(gql, target="1000.00")
    time, codes = await _calendar(gql, plan["plan"]["id"])
    quarters = await split(
        gql, plan["root"]["id"], 1, time, [codes[f"FY2027-Q{i}"] for i in range(1, 5)]
    )
    q1 = quarters["children"][0]["id"]
    region, north, south = await _regions(gql)
    n, s = local_id(north), local_id(south)
    await insert_sales(
        db,
        local_id(plan["plan"]["id"]),
        [
            (date(2026, 2, 1), 9000, [n]),
            (date(2026, 3, 31), 1000, [s]),
            (date(2026, 4, 1), 50000, [s]),  # Q2: not read
        ],
    )
    done = await _split(
        gql,
        {
            "nodeId": q1,
            "revision": quarters["version"]["revision"],
            "dimensionId": region,
            "memberIds": [north, south],
            "method": "HISTORY",
            "options": {"historyFrom": {"fiscalYears": [2026]}},
        },
    )
    assert done["userErrors"] == []
    assert [c["target"] for c in done["children"]] == ["225.00", "25.00"]
    periods = done["children"][0]["explanation"]["history_from"]["periods"]
    assert periods == [
        {
            "period": "FY2026-Q1",
            "from": "2026-01-01",
            "to": "2026-04-01",
            "total": "90.00",
            "facts": 1,
        }
    ]


async def test_seasonal_profile_from_actuals_and_monthly_profile_for_quarters(
    gql: GraphQLClient, db: Database
) -> None:
    plan = await create_plan(gql, target="1000.00")
    time, codes = await _calendar(gql, plan["plan"]["id"])
    await insert_sales(
        db,
        local_id(plan["plan"]["id"]),
        [
            (date(2026, 1, 15), 10000, []),
            (date(2026, 4, 15), 5000, []),
            (date(2026, 5, 15), 15000, []),
            (date(2026, 7, 15), 30000, []),
            (date(2026, 12, 15), 40000, []),
        ],
    )
    base = {
        "nodeId": plan["root"]["id"],
        "revision": 1,
        "dimensionId": time,
        "memberIds": [codes[f"FY2027-Q{i}"] for i in range(1, 5)],
        "method": "SEASONAL",
    }
    done = await _split(
        gql,
        {**base, "options": {"historyFrom": {"fiscalYears": [2026], "profileLevel": "MONTH"}}},
    )
    assert done["userErrors"] == []
    assert [c["target"] for c in done["children"]] == ["100.00", "200.00", "300.00", "400.00"]
    q2 = done["children"][1]["explanation"]["history_from"]
    assert [p["period"] for p in q2["periods"]] == ["FY2026-M04", "FY2026-M05", "FY2026-M06"]
    assert [p["total"] for p in q2["periods"]] == ["50.00", "150.00", "0.00"]
    assert q2["text"].endswith("(sum of its months)")
    await gql(
        """mutation($input: NodeInput!) { nodeUnsplit(input: $input) { userErrors { code } } }""",
        {"input": {"nodeId": plan["root"]["id"], "revision": 2}},
    )
    done = await _split(
        gql, {**base, "revision": 3, "options": {"historyFrom": {"fiscalYears": [2026]}}}
    )
    assert done["userErrors"] == []
    assert [c["target"] for c in done["children"]] == ["100.00", "200.00", "300.00", "400.00"]


async def test_history_from_errors(gql: GraphQLClient, db: Database) -> None:
    plan = await create_plan(gql, target="1000.00")
    region, north, south = await _regions(gql)
    base = {
        "nodeId": plan["root"]["id"],
        "revision": 1,
        "dimensionId": region,
        "memberIds": [north, south],
        "method": "HISTORY",
    }

    async def error(input: dict[str, Any]) -> tuple[str, list[str] | None]:
        done = await _split(gql, {**base, **input})
        (e,) = done["userErrors"]
        return e["code"], e["field"]

    history = {"historyFrom": {"fiscalYears": [2026]}}
    assert await error({"options": history}) == (
        "NO_HISTORY",
        ["input", "options", "historyFrom"],
    )
    assert await error(
        {"options": history, "children": [{"memberId": north, "history": ["1"]}]}
    ) == ("INVALID_VALUE", ["input", "options", "historyFrom"])
    assert await error({"method": "EQUAL", "options": history}) == (
        "INVALID_VALUE",
        ["input", "options", "historyFrom"],
    )
    assert await error({"options": {"historyFrom": {"fiscalYears": [2027]}}}) == (
        "OUT_OF_RANGE",
        ["input", "options", "historyFrom", "fiscalYears"],
    )
    await insert_sales(
        db, local_id(plan["plan"]["id"]), [(date(2026, 5, 1), 100, [local_id(north)])]
    )
    # SOUTH sold nothing: no history, and the default rule is ERROR
    assert (await error({"options": history}))[0] == "MISSING_HISTORY"
