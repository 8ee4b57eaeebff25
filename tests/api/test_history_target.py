"""planCreate with its target from history: last year's actuals x (1 + growth), or the
linear trend of several years; the root's explanation says how."""

from __future__ import annotations

from datetime import date
from typing import Any

from service.db.engine import Database
from tests.api.helpers import create_plan
from tests.api.sales import insert_sales, local_id
from tests.conftest import GraphQLClient

CREATE = """mutation($input: PlanCreateInput!) { planCreate(input: $input) {
    plan { id } root { target explanation }
    version { auditTrail { nodes { after } } }
    userErrors { code field message } } }"""


async def _create(gql: GraphQLClient, **extra: Any) -> dict[str, Any]:
    data = await gql(
        CREATE,
        {"input": {"name": "From history", "currency": "EUR", "fiscalYear": 2027, **extra}},
    )
    return data["planCreate"]  # type: ignore[no-any-return]


async def _facts(gql: GraphQLClient, db: Database) -> None:
    seed = await create_plan(gql)
    await insert_sales(
        db,
        local_id(seed["plan"]["id"]),
        [
            (date(2024, 6, 1), 70000, []),
            (date(2025, 3, 1), 50000, []),
            (date(2025, 9, 1), 30000, []),
            (date(2026, 5, 1), 100000, []),
            (date(2026, 5, 2), 7777, []),
        ],
    )
    await insert_sales(
        db, local_id(seed["plan"]["id"]), [(date(2026, 5, 3), 5555, [])], "USD", "usd"
    )


async def test_target_from_last_year_and_growth(gql: GraphQLClient, db: Database) -> None:
    await _facts(gql, db)
    done = await _create(gql, fromHistory={"fiscalYears": [2026], "growth": "0.1"})
    assert done["userErrors"] == []
    # FY2026: 1077.77 EUR (the USD sale is not counted) x 1.1 = 1185.547 -> 1185.55
    assert done["root"]["target"] == "1185.55"
    why = done["root"]["explanation"]
    assert why["method"] == "HISTORY_GROWTH"
    assert why["text"] == "FY2026 actuals 1077.77 EUR x (1 + 0.1) = 1185.55 EUR for FY2027"
    assert why["final"] == "1185.55"
    (entry,) = done["version"]["auditTrail"]["nodes"]
    assert entry["after"]["targetFromHistory"] == why["text"]


async def test_target_from_a_trend(gql: GraphQLClient, db: Database) -> None:
    await _facts(gql, db)
    done = await _create(gql, fromHistory={"fiscalYears": [2024, 2025, 2026], "trend": True})
    assert done["userErrors"] == []
    # 700.00, 800.00, 1077.77: slope 188.885 a year; mean 859.2566.. + 2 x 188.885
    assert done["root"]["target"] == "1237.03"
    why = done["root"]["explanation"]
    assert why["method"] == "HISTORY_TREND"
    assert why["text"].startswith(
        "linear trend of the actuals FY2024 700.00 EUR, FY2025 800.00 EUR, FY2026 1077.77 EUR"
    )
    assert [y["actual"] for y in why["fiscalYears"]] == ["700.00", "800.00", "1077.77"]


async def test_target_from_history_errors(gql: GraphQLClient, db: Database) -> None:
    async def error(**extra: Any) -> tuple[str, list[str] | None]:
        done = await _create(gql, **extra)
        (e,) = done["userErrors"]
        assert done["plan"] is None
        return e["code"], e["field"]

    assert await error(fromHistory={"fiscalYears": [2026]}) == (
        "NO_HISTORY",
        ["input", "fromHistory"],
    )
    await _facts(gql, db)
    assert await error(target="10.00", fromHistory={"fiscalYears": [2026]}) == (
        "INVALID_VALUE",
        ["input", "target"],
    )
    assert await error() == ("INVALID_VALUE", ["input", "target"])
    assert await error(fromHistory={"fiscalYears": [2027]}) == (
        "OUT_OF_RANGE",
        ["input", "fromHistory", "fiscalYears"],
    )
    assert await error(fromHistory={"fiscalYears": [2026], "trend": True}) == (
        "INVALID_VALUE",
        ["input", "fromHistory", "fiscalYears"],
    )
