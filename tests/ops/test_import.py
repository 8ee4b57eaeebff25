"""quotatree import members: CSV and XLSX, all or nothing, idempotent; 10,000 rows."""

from __future__ import annotations

import csv
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from service.db.engine import make_engine
from tests.conftest import ServerInfo, create_database, drop_database, migrate
from tests.ops.test_cli import run


@pytest.fixture
async def loaded_db(pg_server: ServerInfo) -> AsyncIterator[str]:
    name = await create_database(pg_server, "quotatree_import")
    url = pg_server.url_for(name)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO dimension (kind, name) VALUES ('REGION', 'Regions'), "
                    "('CUSTOMER', 'Customers')"
                )
            )
        yield url
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)


async def count(url: str, sql: str) -> int:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text(sql)) or 0)
    finally:
        await engine.dispose()


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


async def test_csv_import_is_idempotent_and_updates(loaded_db: str, tmp_path: Path) -> None:
    env = {"QUOTATREE_DATABASE_URL": loaded_db}
    file = write_csv(
        tmp_path / "regions.csv",
        [
            ["Code", "Name", "Parent code", "Market potential", "extra.manager"],
            ["SHANGHAI", "Shanghai", "EAST", "5000000", "Li"],
            ["EAST", "East", "", "12000000.50", ""],
            ["WEST", "West", "", "", ""],
        ],
    )
    first = run("import", "members", "--dimension", "Regions", str(file), env=env)
    assert first.returncode == 0, first.stderr
    assert "3 created, 0 updated, 0 unchanged" in first.stdout
    again = run("import", "members", "--dimension", "Regions", str(file), env=env)
    assert "0 created, 0 updated, 3 unchanged" in again.stdout
    write_csv(
        file,
        [
            ["code", "name", "parent_code", "market_potential"],
            ["EAST", "East China", "", "12000000.50"],
        ],
    )
    changed = run("import", "members", "--dimension", "Regions", str(file), env=env)
    assert "0 created, 1 updated, 0 unchanged" in changed.stdout
    assert await count(loaded_db, "SELECT count(*) FROM member WHERE name = 'East China'") == 1
    assert (
        await count(
            loaded_db,
            "SELECT count(*) FROM member WHERE attributes->'extra'->>'manager' = 'Li' "
            "AND attributes->>'marketPotential' = '5000000' AND depth = 1",
        )
        == 1
    )


async def test_bad_rows_are_all_reported_and_nothing_written(
    loaded_db: str, tmp_path: Path
) -> None:
    env = {"QUOTATREE_DATABASE_URL": loaded_db}
    file = write_csv(
        tmp_path / "customers.csv",
        [
            ["code", "name", "parent code", "tier", "sort order"],
            ["ACME", "Acme", "", "A", "1"],
            ["ACME", "Acme twice", "", "A", ""],
            ["BETA", "Beta", "GHOST", "B", ""],
            ["GAMMA", "Gamma", "", "Q", ""],
            ["DELTA", "Delta", "", "", "first"],
        ],
    )
    result = run("import", "members", "--dimension", "Customers", str(file), env=env)
    assert result.returncode == 1
    assert "row 5, sort order" in result.stderr
    assert "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    # File-level problems are reported before the database is touched; row 5 is one.
    file = write_csv(
        tmp_path / "customers.csv",
        [r for r in csv.reader((tmp_path / "customers.csv").open()) if r[0] != "DELTA"],
    )
    result = run("import", "members", "--dimension", "Customers", str(file), env=env)
    assert result.returncode == 1
    assert "row 2, code" in result.stderr and "DUPLICATE" in result.stderr
    assert "row 3, parent" in result.stderr and "GHOST" in result.stderr
    assert "row 4, tier" in result.stderr
    assert await count(loaded_db, "SELECT count(*) FROM member") == 0


async def test_unknown_column_and_dimension(loaded_db: str, tmp_path: Path) -> None:
    env = {"QUOTATREE_DATABASE_URL": loaded_db}
    file = write_csv(tmp_path / "x.csv", [["code", "name", "potenial"], ["A", "A", "1"]])
    result = run("import", "members", "--dimension", "Regions", str(file), env=env)
    assert result.returncode == 1 and "unknown column(s) 'potenial'" in result.stderr
    file = write_csv(tmp_path / "y.csv", [["code", "name"], ["A", "A"]])
    result = run("import", "members", "--dimension", "Nope", str(file), env=env)
    assert result.returncode == 1 and "no dimension named 'Nope'" in result.stderr


async def test_xlsx_import(loaded_db: str, tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["code", "name", "parent code", "tier", "size"])
    sheet.append(["ACME", "Acme", None, "a", "large"])
    sheet.append(["ACME-EU", "Acme Europe", "ACME", "B", None])
    path = tmp_path / "customers.xlsx"
    workbook.save(path)
    result = run(
        "import",
        "members",
        "--dimension",
        "Customers",
        str(path),
        env={"QUOTATREE_DATABASE_URL": loaded_db},
    )
    assert result.returncode == 0, result.stderr
    assert "2 created" in result.stdout
    assert (
        await count(loaded_db, "SELECT count(*) FROM member WHERE attributes->>'size' = 'LARGE'")
        == 1
    )


async def test_ten_thousand_member_import(loaded_db: str, tmp_path: Path) -> None:
    rows = [["code", "name", "parent code", "market potential"]]
    for region in range(10):
        rows.append([f"R{region}", f"Region {region}", "", "1000000"])
        for city in range(999):
            rows.append([f"R{region}-C{city}", f"City {city}", f"R{region}", str(city * 100)])
    assert len(rows) - 1 == 10_000
    file = write_csv(tmp_path / "big.csv", rows)
    env = {"QUOTATREE_DATABASE_URL": loaded_db}
    started = time.perf_counter()
    result = run("import", "members", "--dimension", "Regions", str(file), env=env, timeout=300)
    first = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert "10000 created" in result.stdout
    started = time.perf_counter()
    again = run("import", "members", "--dimension", "Regions", str(file), env=env, timeout=300)
    second = time.perf_counter() - started
    assert "10000 unchanged" in again.stdout
    assert await count(loaded_db, "SELECT count(*) FROM member WHERE depth = 1") == 9990
    print(
        f"import 10,000 members: {first:.2f} s first load, {second:.2f} s re-import (whole command)"
    )
