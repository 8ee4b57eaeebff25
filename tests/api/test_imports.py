"""actualsImport, opportunitiesImport, marketSizesImport and factBatches through GraphQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from service.db.engine import ConnectionBoundDatabase
from service.domain.facts import MAX_BATCH_ROWS
from tests.api.helpers import create_dimension, create_member, create_plan
from tests.conftest import GraphQLClient

PAYLOAD = """batch { id key rowCount storedCount kind source } replayed stored skipped
    userErrors { code field message } rowErrors { row column code message } rowErrorCount"""
ACTUALS = f"""mutation($input: ActualsImportInput!) {{ actualsImport(input: $input) {{
    {PAYLOAD} }} }}"""
OPPORTUNITIES = f"""mutation($input: OpportunitiesImportInput!) {{
    opportunitiesImport(input: $input) {{ {PAYLOAD} }} }}"""
MARKETS = f"""mutation($input: MarketSizesImportInput!) {{
    marketSizesImport(input: $input) {{ {PAYLOAD} }} }}"""


async def _setup(gql: GraphQLClient, currency: str = "EUR") -> dict[str, Any]:
    plan = await create_plan(gql, currency=currency)
    region = await create_dimension(gql, "Region")
    await create_member(gql, region, "EAST")
    await create_member(gql, region, "WEST")
    channel = await create_dimension(gql, "Channel", "CHANNEL")
    await create_member(gql, channel, "DIRECT")
    owner = await gql(
        """mutation { ownerCreate(input: {name: "Ana", subject: "ana"}) {
            owner { id } userErrors { message } } }"""
    )
    team = await gql(
        """mutation { teamCreate(input: {name: "East team"}) {
            owner { id } userErrors { message } } }"""
    )
    return {
        "plan": plan["plan"]["id"],
        "ana": owner["ownerCreate"]["owner"]["id"],
        "team": team["teamCreate"]["owner"]["id"],
    }


def sale(external_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "externalId": external_id,
        "date": "2027-02-15",
        "amount": "100.50",
        "members": [{"dimension": "Region", "code": "EAST"}],
    }
    row.update(values)
    return row


async def _import(
    gql: GraphQLClient, setup: dict[str, Any], rows: list[dict[str, Any]], key: str = "b1"
) -> dict[str, Any]:
    data = await gql(ACTUALS, {"input": {"planId": setup["plan"], "batchKey": key, "rows": rows}})
    return data["actualsImport"]  # type: ignore[no-any-return]


async def _count(db: ConnectionBoundDatabase, table: str = "sales_fact") -> int:
    async with db.session() as session:
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def test_import_stores_sales_and_replays(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    setup = await _setup(gql)
    rows = [
        sale("S1", quantity="2", orderRef="O1", customerRef="C1"),
        sale(
            "S2",
            amount="-20",
            members=[
                {"dimension": "Region", "code": "WEST"},
                {"dimension": "Channel", "code": "DIRECT"},
            ],
            credits=[
                {"ownerId": setup["ana"], "share": "0.6"},
                {"ownerId": setup["team"], "share": "0.4"},
            ],
        ),
    ]
    first = await _import(gql, setup, rows)
    assert first["userErrors"] == [] and first["rowErrors"] == [], first
    assert first["replayed"] is False
    assert (first["stored"], first["skipped"]) == (2, 0)
    assert first["batch"]["rowCount"] == 2 and first["batch"]["storedCount"] == 2
    async with db.session() as session:
        stored = (
            await session.execute(
                text(
                    "SELECT external_id, amount, currency, members, credits, quantity "
                    "FROM sales_fact ORDER BY external_id"
                )
            )
        ).all()
    assert stored[0].amount == 10050 and stored[0].currency == "EUR"
    assert stored[1].amount == -2000 and len(stored[1].members) == 2
    assert sorted(stored[1].credits.values()) == ["0.4", "0.6"]

    again = await _import(gql, setup, rows)
    assert again["replayed"] is True and again["batch"]["id"] == first["batch"]["id"]
    assert (again["stored"], again["skipped"]) == (2, 0)
    assert await _count(db) == 2

    # The same rows under another key: skipped, not stored twice.
    other = await _import(gql, setup, rows, key="b2")
    assert other["userErrors"] == []
    assert (other["stored"], other["skipped"]) == (0, 2)
    assert await _count(db) == 2

    batches = await gql(
        """query($p: ID!) { factBatches(planId: $p, kind: SALES) { totalCount
            nodes { key rowCount storedCount } } }""",
        {"p": setup["plan"]},
    )
    assert batches["factBatches"]["totalCount"] == 2
    assert [b["storedCount"] for b in batches["factBatches"]["nodes"]] == [2, 0]


async def test_same_key_other_content_is_refused(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    setup = await _setup(gql)
    await _import(gql, setup, [sale("S1")])
    refused = await _import(gql, setup, [sale("S1"), sale("S2")])
    assert refused["batch"] is None
    assert refused["userErrors"][0]["code"] == "DUPLICATE"
    assert refused["userErrors"][0]["field"] == ["input", "batchKey"]
    assert await _count(db) == 1


async def test_every_bad_row_is_reported_and_nothing_written(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    setup = await _setup(gql)
    await _import(gql, setup, [sale("STORED", amount="5")], key="first")
    rows = [
        sale("OK"),
        sale("BADDATE", date="2027-02-30"),
        sale("BADAMOUNT", amount="12,5"),
        sale("DECIMALS", amount="1.005"),
        sale("USD", currency="USD"),
        sale("UNKNOWN", members=[{"dimension": "Region", "code": "NORTH"}]),
        sale("WRONGDIM", members=[{"dimension": "Region", "code": "DIRECT"}]),
        sale("NODIM", members=[{"dimension": "Planet", "code": "MARS"}]),
        sale("TWICE"),
        sale("TWICE"),
        sale("STORED", amount="6"),
        sale("CREDITS", credits=[{"ownerId": setup["ana"], "share": "0.5"}]),
        sale("", amount=""),
    ]
    payload = await _import(gql, setup, rows)
    assert payload["batch"] is None
    found = {(e["row"], e["column"], e["code"]) for e in payload["rowErrors"]}
    assert found == {
        (1, "date", "INVALID_VALUE"),
        (2, "amount", "INVALID_AMOUNT"),
        (3, "amount", "TOO_MANY_DECIMALS"),
        (4, "currency", "CURRENCY_MISMATCH"),
        (5, "Region", "NOT_FOUND"),
        (6, "Region", "WRONG_DIMENSION"),
        (7, "members.Planet", "NOT_FOUND"),
        (9, "externalId", "DUPLICATE"),
        (10, "externalId", "DUPLICATE"),
        (11, "credits", "CREDITS_NOT_100"),
        (12, "externalId", "REQUIRED"),
        (12, "amount", "REQUIRED"),
    }, payload["rowErrors"]
    assert payload["rowErrorCount"] == len(found)
    fields = {tuple(e["field"]) for e in payload["userErrors"]}
    assert ("input", "rows", "4", "currency") in fields
    assert ("input", "rows", "5", "members") in fields
    assert await _count(db) == 1  # only the first batch's row
    assert "also on row 8" in next(e for e in payload["rowErrors"] if e["row"] == 9)["message"]
    assert "stored already" in next(e for e in payload["rowErrors"] if e["row"] == 10)["message"]


async def test_batch_size_limit(gql: GraphQLClient) -> None:
    setup = await _setup(gql)
    rows = [sale(f"S{i}") for i in range(MAX_BATCH_ROWS + 1)]
    payload = await _import(gql, setup, rows)
    assert payload["batch"] is None
    (error,) = payload["userErrors"]
    assert error["code"] == "TOO_MANY" and error["field"] == ["input", "rows"]
    assert str(MAX_BATCH_ROWS) in error["message"]


async def test_partitions_per_fiscal_year(gql: GraphQLClient, db: ConnectionBoundDatabase) -> None:
    setup = await _setup(gql)
    rows = [sale(f"S{year}", date=f"{year}-06-30") for year in (2024, 2025, 2026)]
    payload = await _import(gql, setup, rows)
    assert payload["userErrors"] == []
    async with db.session() as session:
        names = (
            await session.execute(
                text(
                    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'sales_fact'::regclass ORDER BY 1"
                )
            )
        ).all()
    assert [n for n, _ in names] == ["sales_fact_fy2024", "sales_fact_fy2025", "sales_fact_fy2026"]
    assert "FROM ('2025-01-01') TO ('2026-01-01')" in names[1][1]


async def test_opportunities_and_market_sizes(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    setup = await _setup(gql)
    won = {
        "externalId": "OP1",
        "date": "2027-03-01",
        "outcome": "won",
        "amount": "1000",
        "members": [{"dimension": "Region", "code": "EAST"}],
    }
    lost = {**won, "externalId": "OP2", "outcome": "MAYBE"}
    data = await gql(
        OPPORTUNITIES,
        {"input": {"planId": setup["plan"], "batchKey": "o1", "rows": [won, lost]}},
    )
    payload = data["opportunitiesImport"]
    assert [(e["row"], e["column"]) for e in payload["rowErrors"]] == [(1, "outcome")]
    data = await gql(
        OPPORTUNITIES, {"input": {"planId": setup["plan"], "batchKey": "o1", "rows": [won]}}
    )
    assert data["opportunitiesImport"]["stored"] == 1
    assert await _count(db, "opportunity_fact") == 1

    market = {"dimension": "Region", "member": "EAST", "period": "FY2027-Q1", "amount": "5000"}
    ranged = {
        "dimension": "Region",
        "member": "WEST",
        "startsOn": "2027-01-01",
        "endsOn": "2027-12-31",
        "amount": "9000",
    }
    data = await gql(
        MARKETS, {"input": {"planId": setup["plan"], "batchKey": "m1", "rows": [market, ranged]}}
    )
    assert data["marketSizesImport"]["userErrors"] == [], data
    async with db.session() as session:
        ranges = (
            await session.execute(
                text("SELECT starts_on, ends_on, amount FROM market_size ORDER BY 1, 2")
            )
        ).all()
    assert [(str(a), str(b), c) for a, b, c in ranges] == [
        ("2027-01-01", "2027-04-01", 500000),
        ("2027-01-01", "2028-01-01", 900000),
    ]
    bad = {**market, "period": "FY2027-Q9"}
    data = await gql(
        MARKETS, {"input": {"planId": setup["plan"], "batchKey": "m2", "rows": [bad, market]}}
    )
    codes = [(e["row"], e["code"]) for e in data["marketSizesImport"]["rowErrors"]]
    assert codes == [(0, "NOT_FOUND")]  # row 1 is stored already, identical: not an error


async def test_a_credit_to_something_not_an_owner_names_its_row(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    """Found by fuzzing: the error named `input.credits.ownerId`, a path the input lacks."""
    setup = await _setup(gql)
    rows = [
        sale("S1"),
        sale(
            "S2",
            credits=[
                {"ownerId": setup["ana"], "share": "0.5"},
                {"ownerId": setup["plan"], "share": "0.5"},
            ],
        ),
    ]
    payload = await _import(gql, setup, rows)
    assert payload["batch"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "INVALID_ID"
    assert error["field"] == ["input", "rows", "1", "credits", "1", "ownerId"]
    assert await _count(db) == 0
