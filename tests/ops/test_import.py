"""quotatree import members: CSV and XLSX, all or nothing, idempotent; 10,000 rows."""

from __future__ import annotations

import csv
import re
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from service import files
from service.app import create_app
from service.db.engine import Database, make_engine
from service.domain.hierarchy import MAX_BULK_ROWS
from service.files import MAX_COLUMNS, MAX_FILE_BYTES, MAX_LINE_CHARS, MAX_SCANNED_ROWS
from tests.api.test_members import read_members
from tests.conftest import (
    GraphQLClient,
    ServerInfo,
    create_database,
    drop_database,
    make_settings,
    migrate,
)
from tests.files import count, write_csv
from tests.ops.test_cli import assert_one_line_error, run


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
                    "('CUSTOMER', 'Customers'), ('PRODUCT', 'Products'), "
                    "('CHANNEL', 'Channels'), ('CUSTOM', 'Custom')"
                )
            )
        yield url
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)


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
    assert "row 2, code" in result.stderr and "row 4, tier" in result.stderr
    assert "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    # Every bad row is reported at once; without row 5 the others still are.
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


# -- issue: every value through the file doors is stored in a form reads serve ------


@asynccontextmanager
async def graphql_on(url: str) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client on the database the command line wrote to."""
    engine = make_engine(url, pool_size=2, max_overflow=0)
    app = create_app(make_settings(), database=Database(engine))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield GraphQLClient(http)
    finally:
        await engine.dispose()


async def read_dimension(url: str, name: str) -> dict[str, dict[str, Any]]:
    """Every member's set attributes, read back through GraphQL (no error of any kind)."""
    async with graphql_on(url) as gql:
        data = await gql("{ dimensions(first: 50) { edges { node { id name } } } }")
        [dim] = [e["node"]["id"] for e in data["dimensions"]["edges"] if e["node"]["name"] == name]
        return await read_members(gql, dim)


def xlsx(path: Path, rows: list[list[Any]], formats: dict[str, str] | None = None) -> Path:
    """A real workbook with openpyxl's native cell types; ``formats``: cell -> number format."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for ref, number_format in (formats or {}).items():
        sheet[ref].number_format = number_format
    workbook.save(path)
    return path


def cache_formula_value(path: Path, ref: str, value: str) -> None:
    """Give a formula cell the text value Excel would have saved with it."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    cell = re.search(rf'<c r="{ref}"( [^>]*)?><f>(.*?)</f><v */?>(</v>)?</c>', sheet)
    assert cell is not None, sheet
    sheet = sheet.replace(
        cell.group(0), f'<c r="{ref}" t="str"><f>{cell.group(2)}</f><v>{value}</v></c>'
    )
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


async def audit_entries(url: str) -> int:
    return await count(url, "SELECT count(*) FROM audit_entry")


def imported(url: str, dimension: str, path: Path) -> str:
    result = run(
        "import",
        "members",
        "--dimension",
        dimension,
        str(path),
        env={"QUOTATREE_DATABASE_URL": url},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


# dimension -> (rows of native cells, number formats, what GraphQL reads back per code)
XLSX_CASES: dict[str, tuple[list[list[Any]], dict[str, str], dict[str, dict[str, Any]]]] = {
    "Regions": (
        [
            ["code", "name", "market potential", "competition level", "sort order"],
            ["EAST", "East", 1234567.89, "high", 2],
            ["WEST", "West", 5000000, " Low ", 1.0],
            ["NORTH", "North", 0.1 + 0.2, None, None],
            ["SOUTH", "South", "12000000.50", "MEDIUM", ""],
        ],
        {},
        {
            "EAST": {"marketPotential": "1234567.89", "competitionLevel": "HIGH"},
            "WEST": {"marketPotential": "5000000", "competitionLevel": "LOW"},
            "NORTH": {"marketPotential": "0.3"},
            "SOUTH": {"marketPotential": "12000000.50", "competitionLevel": "MEDIUM"},
        },
    ),
    "Customers": (
        [
            ["code", "name", "parent code", "tier", "size", "industry", "customer lifecycle"],
            [123, "Acme", None, "a", "enterprise", "Retail", "existing"],
            ["ACME-EU", "Acme Europe", 123, " b", "large", 7.0, "NEW"],
            [1.5, "One and a half", None, "c", None, 3.25, None],
        ],
        {"A2": "00000", "C3": "00000"},  # codes shown with leading zeros: 00123
        {
            "00123": {
                "tier": "A",
                "size": "ENTERPRISE",
                "industry": "Retail",
                "customerLifecycle": "EXISTING",
            },
            "ACME-EU": {
                "tier": "B",
                "size": "LARGE",
                "industry": "7",
                "customerLifecycle": "NEW",
            },
            "1.5": {"tier": "C", "industry": "3.25"},
        },
    ),
    "Products": (
        [
            [
                "code",
                "name",
                "category",
                "product lifecycle",
                "launch date",
                "sales cycle days",
                "extra.since",
                "extra.pilot",
                "extra.weight",
                "extra.units",
                "extra.at",
                "extra.window",
            ],
            [
                "NOVA",
                "Nova",
                "Hardware",
                "new",
                datetime(2024, 3, 1),
                90,
                date(2023, 1, 5),
                True,
                0.25,
                12,
                time_of_day(9, 30),
                datetime(2024, 3, 1, 8, 15),
            ],
            [
                "LUMA",
                "Luma",
                '=UPPER("hard")&"ware"',
                "FLAGSHIP",
                date(2025, 12, 31),
                30.0,
                None,
                False,
                None,
                None,
                None,
                None,
            ],
            [
                "ORBIT",
                "Orbit",
                42,
                "service",
                "2026-01-15",
                "45",
                None,
                None,
                None,
                None,
                None,
                None,
            ],
        ],
        {},
        {
            "NOVA": {
                "category": "Hardware",
                "productLifecycle": "NEW",
                "launchDate": "2024-03-01",
                "salesCycleDays": 90,
                "extra": {
                    "since": "2023-01-05",
                    "pilot": True,
                    "weight": 0.25,
                    "units": 12,
                    "at": "09:30:00",
                    "window": "2024-03-01T08:15:00",
                },
            },
            "LUMA": {
                "category": "HARDWARE",
                "productLifecycle": "FLAGSHIP",
                "launchDate": "2025-12-31",
                "salesCycleDays": 30,
                "extra": {"pilot": False},
            },
            "ORBIT": {
                "category": "42",
                "productLifecycle": "SERVICE",
                "launchDate": "2026-01-15",
                "salesCycleDays": 45,
            },
        },
    ),
    "Channels": (
        [["code", "name", "channel type"], ["WEB", "Web", " online "], ["DIR", "Direct", "DIRECT"]],
        {},
        {"WEB": {"channelType": "ONLINE"}, "DIR": {"channelType": "DIRECT"}},
    ),
    "Custom": (
        [["code", "name", "extra.note", "extra.big"], ["X", "X", "two\nlines", 2**53 - 1]],
        {},
        {"X": {"extra": {"note": "two\nlines", "big": 2**53 - 1}}},
    ),
}


@pytest.mark.parametrize("dimension", list(XLSX_CASES))
async def test_xlsx_native_cells_round_trip_and_reimport_is_a_no_op(
    loaded_db: str, tmp_path: Path, dimension: str
) -> None:
    rows, formats, expected = XLSX_CASES[dimension]
    path = xlsx(tmp_path / f"{dimension}.xlsx", rows, formats)
    if dimension == "Products":
        cache_formula_value(path, "C3", "HARDWARE")
    out = imported(loaded_db, dimension, path)
    assert f"{len(expected)} created" in out
    assert await read_dimension(loaded_db, dimension) == expected
    entries = await audit_entries(loaded_db)
    again = imported(loaded_db, dimension, path)
    assert f"0 created, 0 updated, {len(expected)} unchanged" in again
    assert await audit_entries(loaded_db) == entries


async def test_csv_text_cells_round_trip_and_reimport_is_a_no_op(
    loaded_db: str, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "products.csv",
        [
            [
                "Code",
                "Name",
                "Category",
                "Product lifecycle",
                "Launch date",
                "Sales cycle days",
                "Sort order",
                "extra.pilot",
                "extra.note",
            ],
            ["00123", " Nova ", "Hardware", "new", "2024-03-01", "90", "1", "TRUE", "a\tb"],
            ["LUMA", "Luma", "", "FLAGSHIP", "2025-12-31 00:00:00", "30.0", "", "", ""],
            ["ORBIT", "Orbit", "1.0", "Service", "2026-01-15T00:00:00", " 45 ", "-3", "", ""],
        ],
    )
    out = imported(loaded_db, "Products", path)
    assert "3 created" in out
    assert await read_dimension(loaded_db, "Products") == {
        "00123": {
            "category": "Hardware",
            "productLifecycle": "NEW",
            "launchDate": "2024-03-01",
            "salesCycleDays": 90,
            "extra": {"pilot": "TRUE", "note": "a\tb"},
        },
        "LUMA": {"productLifecycle": "FLAGSHIP", "launchDate": "2025-12-31", "salesCycleDays": 30},
        "ORBIT": {
            "category": "1.0",
            "productLifecycle": "SERVICE",
            "launchDate": "2026-01-15",
            "salesCycleDays": 45,
        },
    }
    assert await count(loaded_db, "SELECT count(*) FROM member WHERE name = 'Nova'") == 1
    entries = await audit_entries(loaded_db)
    assert "0 created, 0 updated, 3 unchanged" in imported(loaded_db, "Products", path)
    assert await audit_entries(loaded_db) == entries


def bad_rows(result: Any, expected: list[tuple[str, str, str]]) -> None:
    """Each (row and column, words of the message, code) is one line of the report."""
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr and "INTERNAL" not in result.stderr
    lines = result.stderr.splitlines()
    for where, what, code in expected:
        [line] = [x for x in lines if f": {where}: " in x]
        assert what in line and f"[{code}]" in line, line
    assert f"{len(expected)} bad row(s); nothing was written" in result.stderr


async def test_bad_xlsx_cells_are_bad_rows_with_row_and_column(
    loaded_db: str, tmp_path: Path
) -> None:
    env = {"QUOTATREE_DATABASE_URL": loaded_db}
    # What Excel itself puts in cells, reported as the file is read (before the database).
    path = xlsx(
        tmp_path / "cells.xlsx",
        [
            ["code", "name", "category"],
            ["OK", "Fine", "Tools"],
            ["I", "No saved value", "=A2&B2"],
            ["J", "Error cell", "#N/A"],
            ["M", "Stray", None, "no header"],
        ],
    )
    result = run("import", "members", "--dimension", "Products", str(path), env=env)
    bad_rows(
        result,
        [
            ("row 2, category", "the formula =A2&B2 has no saved value", "INVALID_VALUE"),
            ("row 3, category", "the Excel error #N/A", "INVALID_VALUE"),
            ("row 4, column 4", "without a header", "INVALID_VALUE"),
        ],
    )
    # Values of native types that the rules refuse, every one at once.
    path = xlsx(
        tmp_path / "values.xlsx",
        [
            ["code", "name", "launch date", "sales cycle days", "sort order", "category"],
            ["OK", "Fine", date(2024, 1, 1), 10, 1, "Tools"],
            ["AC_x0000_ME", "NUL in the code", None, None, None, None],  # Excel's escape of NUL
            ["B", "Bell_x0007_", None, None, None, None],
            ["C", "Time of day", datetime(2024, 3, 1, 9, 30), None, None, None],
            ["D", "A time cell", time_of_day(9, 30), None, None, None],
            ["E", "A duration", None, timedelta(hours=5), None, None],
            ["F", "Fractional days", None, 1.5, None, None],
            ["G", "Too far", None, 5000, None, None],
            ["H", "Huge sort", None, None, 2**31, None],
            ["K", "A boolean category", None, None, None, True],
            ["L", "A date category", None, None, None, datetime(2024, 1, 1)],
            ["N", "Escaped line break", None, None, None, "a_x000A_b"],
            ["O", "Two\nlines", None, None, None, None],
        ],
    )
    result = run("import", "members", "--dimension", "Products", str(path), env=env)
    bad_rows(
        result,
        [
            ("row 2, code", "NUL character (U+0000)", "INVALID_VALUE"),
            ("row 3, name", "U+0007", "INVALID_VALUE"),
            ("row 4, launchDate", "has a time of day", "INVALID_VALUE"),
            ("row 5, launchDate", "the time of day 09:30:00", "INVALID_VALUE"),
            ("row 6, salesCycleDays", "the duration 5:00:00", "INVALID_VALUE"),
            ("row 7, salesCycleDays", "expected a whole number", "INVALID_VALUE"),
            ("row 8, salesCycleDays", "outside 0..3650", "OUT_OF_RANGE"),
            ("row 9, sort order", "outside -2147483648..2147483647", "OUT_OF_RANGE"),
            ("row 10, category", "expected text, got the boolean TRUE", "INVALID_VALUE"),
            ("row 11, category", "expected text, got the date and time", "INVALID_VALUE"),
            ("row 12, category", "U+000A", "INVALID_VALUE"),
            ("row 13, name", "U+000A", "INVALID_VALUE"),
        ],
    )
    assert await count(loaded_db, "SELECT count(*) FROM member") == 0


async def test_bad_csv_cells_are_bad_rows_with_row_and_column(
    loaded_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "code,name,parent code,industry,extra.note,sort order\n"
        "A\x00,NUL in the code,,,,\n"
        "B,NUL in the name\x00,,,,\n"
        "C,C,P\x00,,,\n"
        "D,D,,Bell\x07,,\n"
        "E,E,,,esc\x1b,\n"
        "F,F,,,,99999999999\n"
        "G,G,,,,\n",
        encoding="utf-8",
    )
    result = run(
        "import",
        "members",
        "--dimension",
        "Customers",
        str(path),
        env={"QUOTATREE_DATABASE_URL": loaded_db},
    )
    bad_rows(
        result,
        [
            ("row 1, code", "NUL character (U+0000) at position 2", "INVALID_VALUE"),
            ("row 2, name", "NUL character", "INVALID_VALUE"),
            ("row 3, parent", "NUL character", "INVALID_VALUE"),
            ("row 4, industry", "U+0007", "INVALID_VALUE"),
            ("row 5, extra.note", "U+001B", "INVALID_VALUE"),
            ("row 6, sort order", "outside -2147483648..2147483647", "OUT_OF_RANGE"),
        ],
    )
    assert await count(loaded_db, "SELECT count(*) FROM member") == 0


async def test_absurd_files_are_refused_with_one_clear_error(
    loaded_db: str, tmp_path: Path
) -> None:
    env = {"QUOTATREE_DATABASE_URL": loaded_db}

    def refused(path: Path, *needles: str) -> None:
        result = run("import", "members", "--dimension", "Regions", str(path), env=env)
        assert_one_line_error(result, *needles)

    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    refused(huge, "larger than 50 MiB")
    rows = [["code", "name"]] + [[f"C{i}", "c"] for i in range(MAX_BULK_ROWS + 1)]
    refused(write_csv(tmp_path / "long.csv", rows), f"more than {MAX_BULK_ROWS} member rows")
    blank = tmp_path / "blank.csv"
    blank.write_text("code,name\n" + ",\n" * (MAX_SCANNED_ROWS + 1))
    refused(blank, "blank ones included")
    wide = write_csv(tmp_path / "wide.csv", [["code", "name", *(f"x{i}" for i in range(99))]])
    refused(wide, f"more than {MAX_COLUMNS} columns")
    line = tmp_path / "line.csv"
    line.write_text("code,name\nA," + "a" * (MAX_LINE_CHARS + 1) + "\n")
    refused(line, "line 2 is longer than")
    field = tmp_path / "field.csv"
    field.write_text('code,name\nA,"' + "a" * 200_000 + '"\n')
    refused(field, "not readable CSV", "field larger than field limit")
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("code,name\nA,B\n", encoding="utf-16")
    refused(utf16, "not UTF-8 text")
    fake = tmp_path / "fake.xlsx"
    fake.write_text("code,name\nA,B\n")
    refused(fake, "not an XLSX workbook")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    refused(old, "expected a .csv or .xlsx file")
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("xl/workbook.xml", "<not-a-workbook")
    refused(broken, "not a readable XLSX workbook")
    assert await count(loaded_db, "SELECT count(*) FROM member") == 0


def test_an_xlsx_that_unpacks_too_large_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip bomb is refused from the archive's directory, before any part is unpacked."""
    path = xlsx(tmp_path / "bomb.xlsx", [["code", "name"], ["A", "A"]])
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(i.file_size for i in archive.infolist())
    monkeypatch.setattr(files, "MAX_XLSX_UNPACKED_BYTES", unpacked - 1)
    with pytest.raises(files.MemberFileError, match="unpacks to"):
        files.read_member_file(path)
    monkeypatch.setattr(files, "MAX_XLSX_UNPACKED_BYTES", unpacked)
    assert [r.code for r in files.read_member_file(path)] == ["A"]


# -- rows the bug stored before this fix: migration 0006 repairs them ---------------


async def test_migration_0006_repairs_rows_stored_by_the_bug(
    pg_server: ServerInfo, tmp_path: Path
) -> None:
    name = await create_database(pg_server, "quotatree_repair")
    url = pg_server.url_for(name)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        await migrate(engine, "0003")
        legacy = {
            "NOVA": {"launchDate": "2024-03-01T00:00:00", "productLifecycle": "NEW"},
            "LUMA": {"launchDate": "2025-12-31T09:30:00", "category": "Tools\nand more"},
            "ORBIT": {"launchDate": "2026-01-15", "extra": {"n": 2**60, "note": "a\x01b"}},
        }
        async with engine.begin() as conn:
            dim = await conn.scalar(
                text(
                    "INSERT INTO dimension (kind, name) VALUES ('PRODUCT', 'Products') RETURNING id"
                )
            )
            for code, attributes in legacy.items():
                await conn.execute(
                    text(
                        "INSERT INTO member (dimension_id, code, name, path, depth, attributes) "
                        "VALUES (:dim, :code, :code, '', 0, CAST(:attributes AS jsonb))"
                    ),
                    {"dim": dim, "code": code, "attributes": orjson.dumps(attributes).decode()},
                )
            await conn.execute(text("UPDATE member SET path = id || '.'"))
        await migrate(engine)
        assert await read_dimension(url, "Products") == {
            "NOVA": {"launchDate": "2024-03-01", "productLifecycle": "NEW"},
            "LUMA": {"launchDate": "2025-12-31", "category": "Tools and more"},
            "ORBIT": {"launchDate": "2026-01-15", "extra": {"n": str(2**60), "note": "ab"}},
        }
        # the file that stored the bad date, imported again: now nothing changes
        path = xlsx(
            tmp_path / "products.xlsx",
            [
                ["code", "name", "launch date", "product lifecycle"],
                ["NOVA", "NOVA", datetime(2024, 3, 1), "NEW"],
            ],
        )
        entries = await audit_entries(url)
        assert "0 created, 0 updated, 1 unchanged" in imported(url, "Products", path)
        assert await audit_entries(url) == entries
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)
