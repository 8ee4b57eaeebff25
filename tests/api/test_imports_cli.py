"""quotatree import actuals | opportunities | market-sizes: CSV and XLSX, streamed, all or
nothing, idempotent (the same file twice changes nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from service.auth import Principal, Role
from service.db.engine import Database, make_engine
from service.domain.tree import DimensionKind
from service.plans.dimensions import DimensionCreate, MemberCreate, create_dimension, create_member
from service.plans.plans import PlanCreate, create_plan
from service.plans.uow import Change
from tests.conftest import ServerInfo, create_database, drop_database, migrate
from tests.files import count, write_csv
from tests.ops.serving import run

ADMIN = Change(Principal(subject="setup", roles=frozenset({Role.ADMIN})))


@pytest.fixture
async def facts_db(pg_server: ServerInfo) -> AsyncIterator[tuple[str, int]]:
    """A migrated database with a EUR plan (id returned), Region (EAST, WEST) and Channel."""
    name = await create_database(pg_server, "quotatree_facts")
    url = pg_server.url_for(name)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        await migrate(engine)
        db = Database(engine)
        plan = await create_plan(
            db, ADMIN, PlanCreate(name="P", fiscal_year=2027, target=Decimal(1000), currency="EUR")
        )
        region = await create_dimension(db, ADMIN, DimensionCreate("Region", DimensionKind.REGION))
        for code in ("EAST", "WEST"):
            await create_member(db, ADMIN, MemberCreate(region.id, code, code.title()))
        channel = await create_dimension(
            db, ADMIN, DimensionCreate("Channel", DimensionKind.CHANNEL)
        )
        await create_member(db, ADMIN, MemberCreate(channel.id, "DIRECT", "Direct"))
        yield url, plan.plan.id
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)


HEADER = ["External ID", "Date", "Amount", "Currency", "Region", "Channel", "Credits"]


def sales(n: int, start: int = 0) -> list[list[str]]:
    return [
        [f"S{i}", f"{2025 + i % 3}-0{1 + i % 9}-15", f"{i}.25", "EUR", "EAST", "DIRECT", ""]
        for i in range(start, start + n)
    ]


def imp(url: str, what: str, path: Path, plan: int, *more: str) -> object:
    return run(
        "import",
        what,
        str(path),
        "--plan",
        str(plan),
        *more,
        env={"QUOTATREE_DATABASE_URL": url},
    )


async def test_csv_twice_changes_nothing(facts_db: tuple[str, int], tmp_path: Path) -> None:
    url, plan = facts_db
    path = write_csv(tmp_path / "sales.csv", [HEADER, *sales(300)], delimiter=";")
    first = imp(url, "actuals", path, plan)
    assert first.returncode == 0, first.stderr  # type: ignore[attr-defined]
    assert "300 rows stored" in first.stdout  # type: ignore[attr-defined]
    assert await count(url, "SELECT count(*) FROM sales_fact") == 300
    assert await count(url, "SELECT sum(amount) FROM sales_fact") == sum(
        i * 100 + 25 for i in range(300)
    )
    partitions = await count(
        url, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sales_fact'::regclass"
    )
    assert partitions == 3  # 2025, 2026, 2027
    second = imp(url, "actuals", path, plan)
    assert second.returncode == 0, second.stderr  # type: ignore[attr-defined]
    assert "nothing changed" in second.stdout  # type: ignore[attr-defined]
    assert await count(url, "SELECT count(*) FROM sales_fact") == 300
    assert await count(url, "SELECT count(*) FROM fact_batch") == 1

    # The same key with other content is refused.
    other = write_csv(tmp_path / "other.csv", [HEADER, *sales(2)])
    for p in (path, other):
        done = imp(url, "actuals", p, plan, "--batch-key", "jan")
        if p is path:
            assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 1  # type: ignore[attr-defined]
    assert "batch key 'jan' was used" in done.stderr  # type: ignore[attr-defined]


async def test_bad_row_in_the_last_chunk_writes_nothing(
    facts_db: tuple[str, int], tmp_path: Path
) -> None:
    url, plan = facts_db
    rows = sales(50_000)
    rows[-1] = ["LAST", "2027-13-01", "1", "USD", "NORTH", "DIRECT", "nobody:1"]
    path = write_csv(tmp_path / "sales.csv", [HEADER, *rows])
    result = imp(url, "actuals", path, plan)
    assert result.returncode == 1  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "row 50000, date:" in err and "[INVALID_VALUE]" in err
    assert "row 50000, currency:" in err and "[CURRENCY_MISMATCH]" in err
    assert "row 50000, Region:" in err and "[NOT_FOUND]" in err
    assert "row 50000, credits:" in err and "unknown owner 'nobody'" in err
    assert "4 bad value(s); nothing was written" in err
    assert "Traceback" not in err
    assert await count(url, "SELECT count(*) FROM sales_fact") == 0
    assert await count(url, "SELECT count(*) FROM fact_batch") == 0
    assert (
        await count(
            url, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sales_fact'::regclass"
        )
        == 0
    )


async def test_header_problems(facts_db: tuple[str, int], tmp_path: Path) -> None:
    url, plan = facts_db
    path = write_csv(tmp_path / "s.csv", [["External ID", "Amount", "Regoin"], ["S1", "1", "EAST"]])
    result = imp(url, "actuals", path, plan)
    assert result.returncode == 1  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "header, Regoin: unknown column 'Regoin'" in err
    assert "header, date: the header has no 'date' column" in err


async def test_xlsx_actuals_opportunities_and_market_sizes(
    facts_db: tuple[str, int], tmp_path: Path
) -> None:
    from datetime import date, datetime

    from openpyxl import Workbook

    url, plan = facts_db
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["externalId", "date", "amount", "quantity", "region"])
    sheet.append(["X1", datetime(2027, 3, 1), 12.5, 3, "EAST"])
    sheet.append(["X2", date(2027, 3, 2), 7, None, "WEST"])
    path = tmp_path / "sales.xlsx"
    book.save(path)
    result = imp(url, "actuals", path, plan)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert await count(url, "SELECT sum(amount) FROM sales_fact") == 1950
    again = imp(url, "actuals", path, plan)
    assert "nothing changed" in again.stdout  # type: ignore[attr-defined]

    opps = write_csv(
        tmp_path / "opps.csv",
        [
            ["External ID", "Closed On", "Outcome", "Amount", "Region"],
            ["O1", "2027-01-05", "WON", "10", "EAST"],
        ],
    )
    assert imp(url, "opportunities", opps, plan).returncode == 0  # type: ignore[attr-defined]
    assert await count(url, "SELECT count(*) FROM opportunity_fact WHERE outcome = 'WON'") == 1

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Dimension", "Member", "Period", "Amount"])
    sheet.append(["Region", "EAST", "FY2027", 100000])
    sheet.append(["Region", "NOWHERE", "FY2027", 5])
    markets = tmp_path / "markets.xlsx"
    book.save(markets)
    bad = imp(url, "market-sizes", markets, plan)
    assert bad.returncode == 1 and "row 2, member:" in bad.stderr  # type: ignore[attr-defined]
    assert await count(url, "SELECT count(*) FROM market_size") == 0
