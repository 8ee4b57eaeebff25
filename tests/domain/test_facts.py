"""Pure checks of imported facts: partitions per fiscal year, split credit, headers."""

from __future__ import annotations

from datetime import date

import pytest

from service.domain.calendar import CalendarSpec
from service.domain.facts import (
    BadCell,
    DimensionCodes,
    FactKind,
    ImportContext,
    NewPartition,
    RowChecker,
    RowsRejected,
    SalesRow,
    partitions_needed,
    read_header,
)

APRIL = CalendarSpec(fiscal_year=2027, start_month=4)
CONTEXT = ImportContext(
    currency="EUR",
    digits=2,
    calendar=CalendarSpec(fiscal_year=2027, start_month=1),
    dimensions=[
        DimensionCodes(1, "Region", {"EAST": 10}),
        DimensionCodes(2, "Channel", {"DIRECT": 20}),
    ],
    time_dimension="FY2027 calendar",
    owners={"ana": 7, "East team": 8},
    owner_ids=frozenset({7, 8}),
)


def test_partitions_follow_the_plans_calendar_and_fill_gaps() -> None:
    days = [date(2026, 3, 31), date(2026, 4, 1), date(2027, 5, 1)]
    assert partitions_needed(days, [], APRIL) == [
        NewPartition(2026, date(2025, 4, 1), date(2026, 4, 1)),
        NewPartition(2027, date(2026, 4, 1), date(2027, 4, 1)),
        NewPartition(2028, date(2027, 4, 1), date(2028, 4, 1)),
    ]
    # A January calendar's year already covers 2026: only the gap after it is new.
    existing = [(date(2026, 1, 1), date(2027, 1, 1))]
    assert partitions_needed([date(2027, 2, 1), date(2026, 6, 1)], existing, APRIL) == [
        NewPartition(2027, date(2027, 1, 1), date(2027, 4, 1))
    ]


def _check(header: list[str], cells: list[object]) -> tuple[object, list[tuple[str, str]]]:
    checker = RowChecker(FactKind.SALES, read_header(FactKind.SALES, header, CONTEXT), CONTEXT)
    row = checker.check(1, cells)
    return row, [(e.column, e.code) for e in checker.errors.errors]


def test_split_credit() -> None:
    header = ["externalId", "date", "amount", "credits"]
    row, errors = _check(header, ["S1", "2027-01-01", "10", "ana:0.6; East team:0.4"])
    assert errors == [] and isinstance(row, SalesRow)
    assert row.credits == {"7": "0.6", "8": "0.4"}
    assert _check(header, ["S1", "2027-01-01", "10", "ana:0.6;East team:0.3"])[1] == [
        ("credits", "CREDITS_NOT_100")
    ]
    assert _check(header, ["S1", "2027-01-01", "10", "bob:1"])[1] == [("credits", "NOT_FOUND")]
    assert _check(header, ["S1", "2027-01-01", "10", "ana"])[1] == [("credits", "INVALID_VALUE")]


def test_fast_and_full_paths_agree_on_a_plain_row() -> None:
    header = ["externalId", "date", "amount", "Region"]
    fast, _ = _check(header, ["S1", "2027-01-01", "-10.5", "EAST"])
    full, _ = _check(header, ["S1", date(2027, 1, 1), "-10.5", "EAST"])  # typed: full path
    assert fast == full
    assert isinstance(fast, SalesRow) and fast.amount == -1050 and fast.members == (10,)


@pytest.mark.parametrize(
    "header",
    [
        ["externalId", "date", "amount", "Region"],
        ["externalId", "date", "amount", "currency", "quantity", "orderRef", "customerRef"],
        ["Region", "amount", "externalId", "Channel", "date", "quantity", "credits"],
    ],
)
@pytest.mark.parametrize(
    "amount",
    [
        "1",
        "12.5",
        "12.50",
        "12.505",
        "-3.1",
        "-",
        "--1",
        "+1",
        "1.",
        ".5",
        "1.2.3",
        "0.00",
        "-0",
        "12",
        "1e3",
        " 7.25 ",
        "999999999999999999",
        "9999999999999999999",
        "92233720368547758.07",
        "92233720368547758.08",
        "\u0661\u0662.\u0663",
        "\u00b2",
    ],
)
def test_fast_and_full_paths_agree(header: list[str], amount: str) -> None:
    """The fast path (text cells) and the full check (here: a typed date sends the row
    there) give the same row or the same errors, whatever columns the header has and
    however the amount is written; short rows read blank cells."""
    for quantity, ref, code in (("2", "SO-1", "EAST"), ("2.5", "", "WEST"), ("1e2", "a\x00", "")):
        values = {
            "externalId": "S1",
            "amount": amount,
            "currency": "eur",
            "quantity": quantity,
            "orderRef": ref,
            "customerRef": ref,
            "Region": code,
            "Channel": "DIRECT",
            "credits": "",
        }
        cells: list[object] = [values.get(name, "2027-01-01") for name in header]
        typed = [
            date(2027, 1, 1) if name == "date" else c for name, c in zip(header, cells, strict=True)
        ]
        for cut in (len(cells), len(cells) - 1):
            assert _check(header, cells[:cut]) == _check(header, typed[:cut])


def test_unreadable_workbook_cell_is_reported_with_its_column() -> None:
    row, errors = _check(["externalId", "date", "amount"], ["S1", BadCell("#N/A"), "1"])
    assert row is None and errors == [("date", "INVALID_VALUE")]


def test_header_problems_are_all_reported() -> None:
    with pytest.raises(RowsRejected) as caught:
        read_header(
            FactKind.SALES,
            ["External ID", "Amount", "Amount", "Regoin", "FY2027 calendar"],
            CONTEXT,
        )
    found = {(e.column, e.code) for e in caught.value.errors}
    assert found == {
        ("Amount", "DUPLICATE"),
        ("Regoin", "UNKNOWN_COLUMN"),
        ("FY2027 calendar", "WRONG_DIMENSION"),
        ("date", "REQUIRED"),
    }
