"""The domain's one gate for values from every door: text, numbers, dates, attributes."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain.errors import DomainError, InvalidInputError
from service.domain.hierarchy import BulkLoadError, MemberRow, StoredMember, plan_load
from service.domain.kpis import check_kpis, clean_strategy
from service.domain.members import (
    ATTRIBUTE_KINDS,
    MAX_DEPTH,
    MemberAttributes,
    check_attributes,
    check_move,
    check_sort_order,
)
from service.domain.tree import DimensionKind, VersionState, clean_code, clean_name
from service.domain.values import (
    JSON_SAFE_INTEGER,
    PG_INTEGER_MAX,
    PG_INTEGER_MIN,
    calendar_date,
    check_storable,
    clean_reason,
    decimal_number,
    json_scalar,
    text_of,
    whole_number,
)
from service.domain.versions import Transition, plan_transition

ROOT = Path(__file__).resolve().parents[2]


def refused(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The user error ``call`` raises (any other exception fails the test)."""
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value


# -- text: every cleaner refuses NUL and names the field --------------------------


@pytest.mark.parametrize(
    ("clean", "field"),
    [
        (lambda v: clean_name(v, "name"), "name"),
        (lambda v: clean_code(v, "code"), "code"),
        (lambda v: clean_name(v, "email", 320), "email"),
        (lambda v: clean_code(v, "subject"), "subject"),
        (clean_reason, "reason"),
        (clean_strategy, "strategy"),
        (lambda v: check_kpis({"averageOrderValue": v}, 2), "kpis.averageOrderValue"),
        (lambda v: check_kpis({"winRate": v}, 2), "kpis.winRate"),
        (lambda v: check_kpis({v: 1}, 2), None),
        (
            lambda v: plan_transition(
                Transition.REJECT, VersionState.SUBMITTED, is_admin=True, reason=v
            ),
            "reason",
        ),
        (
            lambda v: check_attributes(DimensionKind.CUSTOMER, {"industry": v}),
            "attributes.industry",
        ),
        (lambda v: check_attributes(DimensionKind.PRODUCT, {"category": v}), "attributes.category"),
        (lambda v: check_attributes(DimensionKind.CUSTOMER, {"tier": v}), "attributes.tier"),
        (
            lambda v: check_attributes(DimensionKind.REGION, {"marketPotential": v}),
            "attributes.marketPotential",
        ),
        (
            lambda v: check_attributes(DimensionKind.PRODUCT, {"launchDate": v}),
            "attributes.launchDate",
        ),
        (
            lambda v: check_attributes(DimensionKind.CHANNEL, {"channelType": v}),
            "attributes.channelType",
        ),
        (
            lambda v: check_attributes(DimensionKind.CHANNEL, {"extra": {"note": v}}),
            "attributes.extra.note",
        ),
        (lambda v: check_attributes(DimensionKind.CHANNEL, {"extra": {v: 1}}), "attributes.extra"),
    ],
)
def test_every_text_cleaner_refuses_nul(clean: Any, field: str | None) -> None:
    error = refused(clean, "A\x00B")
    assert error.code in ("INVALID_VALUE", "INVALID_AMOUNT")  # an amount is refused as such
    if field is not None:
        assert error.details["field"] == field
    # never a crash of another kind, and the same for an unpaired surrogate
    assert refused(clean, "A\ud800B").code in ("INVALID_VALUE", "INVALID_AMOUNT")


def test_nul_message_names_the_field_and_position() -> None:
    error = refused(clean_name, "ab\x00", "name")
    assert error.message == (
        "name contains the NUL character (U+0000) at position 3, which cannot be stored; remove it"
    )
    assert error.details["position"] == 3


@pytest.mark.parametrize("text", ["a\tb", "a\nb", "a\r\nb"])
def test_multiline_texts_keep_tabs_and_line_breaks(text: str) -> None:
    assert clean_reason(f"  {text}  ") == text
    assert clean_strategy(text) == text
    assert json_scalar(text, "x", max_length=10) == text


@pytest.mark.parametrize("ch", ["\x01", "\x07", "\x1b", "\x7f", "\x85"])
def test_other_control_characters_are_refused_everywhere(ch: str) -> None:
    for call in (
        lambda: clean_reason(f"a{ch}b"),
        lambda: clean_strategy(f"a{ch}b"),
        lambda: clean_name(f"a{ch}b", "name"),
        lambda: check_storable(f"a{ch}b", "industry", "line"),
    ):
        assert refused(call).code == "INVALID_VALUE"


def test_single_line_texts_refuse_line_breaks_but_keep_other_characters() -> None:
    for ch in ("\n", "\t", "\u2028", "\u2029"):
        assert refused(check_storable, f"a{ch}b", "industry", "line").field == "industry"
    # a no-break space or a zero-width non-joiner is text, not a control character
    assert check_storable("Retail\u00a0Banking", "industry", "line")
    assert check_storable("می\u200cخواهم", "industry", "line")


# -- numbers, dates: Excel's cell types and GraphQL's -----------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(90, 90), (90.0, 90), ("90", 90), (" 90.0 ", 90), ("1e3", 1000), (Decimal("7"), 7)],
)
def test_whole_numbers_from_every_door(raw: Any, expected: int) -> None:
    assert whole_number(raw, "n", minimum=0, maximum=3650) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (True, "INVALID_VALUE"),
        (90.5, "INVALID_VALUE"),
        ("ninety", "INVALID_VALUE"),
        (float("nan"), "INVALID_VALUE"),
        (float("inf"), "INVALID_VALUE"),
        ("Infinity", "INVALID_VALUE"),
        (datetime(2024, 3, 1), "INVALID_VALUE"),
        (time(9, 30), "INVALID_VALUE"),
        (timedelta(days=3), "INVALID_VALUE"),
        ("9" * 101, "INVALID_VALUE"),
        (-1, "OUT_OF_RANGE"),
        (3651, "OUT_OF_RANGE"),
        ("1e999999999", "OUT_OF_RANGE"),
        pytest.param(10**5000, "OUT_OF_RANGE", id="10**5000"),
    ],
)
def test_whole_numbers_refused(raw: Any, code: str) -> None:
    error = refused(whole_number, raw, "salesCycleDays", minimum=0, maximum=3650)
    assert (error.code, error.field) == (code, "salesCycleDays")
    assert len(error.message) < 200


def test_sort_order_fits_a_postgres_integer() -> None:
    assert check_sort_order(PG_INTEGER_MAX) == PG_INTEGER_MAX
    assert check_sort_order(str(PG_INTEGER_MIN)) == PG_INTEGER_MIN
    for raw in (PG_INTEGER_MAX + 1, PG_INTEGER_MIN - 1, 2**63, "99999999999"):
        error = refused(check_sort_order, raw)
        assert (error.code, error.field) == ("OUT_OF_RANGE", "sortOrder")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12000000.50", "12000000.50"),
        (5000000, "5000000"),
        (5000000.0, "5000000"),
        (0.1 + 0.2, "0.3"),  # a float as Excel shows it, 15 significant digits
        ("1e3", "1000"),
        ("-0", "0"),
        ("1.50000000000000", "1.5000000000"),  # zeros past 10 decimals dropped
    ],
)
def test_decimals_from_every_door(raw: Any, expected: str) -> None:
    value = decimal_number(raw, "p", minimum=Decimal(0))
    assert format(value, "f") == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (True, "INVALID_VALUE"),
        (date(2024, 3, 1), "INVALID_VALUE"),
        ("NaN", "INVALID_VALUE"),
        ("-5", "OUT_OF_RANGE"),
        ("1e31", "OUT_OF_RANGE"),
        ("1e-999999999", "TOO_MANY_DECIMALS"),
        ("0.00000000001", "TOO_MANY_DECIMALS"),
    ],
)
def test_decimals_refused(raw: Any, code: str) -> None:
    assert refused(decimal_number, raw, "p", minimum=Decimal(0)).code == code


@pytest.mark.parametrize(
    "raw",
    [
        date(2024, 3, 1),
        datetime(2024, 3, 1),  # an Excel date cell
        "2024-03-01",
        " 2024-03-01 ",
        "2024-03-01T00:00:00",  # what the bug stored, and what some tools export
        "2024-03-01 00:00:00",
        "20240301",
    ],
)
def test_dates_from_every_door(raw: Any) -> None:
    assert calendar_date(raw, "launchDate") == date(2024, 3, 1)


@pytest.mark.parametrize(
    "raw",
    [datetime(2024, 3, 1, 9, 30), "2024-03-01T09:30", time(9, 30), 45352, 45352.0, True, "soon"],
)
def test_dates_refused(raw: Any) -> None:
    error = refused(calendar_date, raw, "launchDate")
    assert (error.code, error.field) == ("INVALID_VALUE", "launchDate")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ACME", "ACME"),
        (123, "123"),
        (1.0, "1"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (Decimal("2.50"), "2.50"),
    ],
)
def test_text_of_numeric_cells(raw: Any, expected: str) -> None:
    assert text_of(raw, "code") == expected


@pytest.mark.parametrize(
    "raw", [True, datetime(2024, 3, 1), date(2024, 3, 1), time(1), float("nan"), [1], {}]
)
def test_text_of_refuses_other_cells(raw: Any) -> None:
    assert refused(text_of, raw, "code").field == "code"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        (True, True),
        (12, 12),
        (1.5, 1.5),
        ("  Li ", "Li"),
        (datetime(2024, 3, 1), "2024-03-01"),
        (datetime(2024, 3, 1, 9, 30), "2024-03-01T09:30:00"),
        (date(2024, 3, 1), "2024-03-01"),
        (time(9, 30), "09:30:00"),
    ],
)
def test_extra_scalars(raw: Any, expected: Any) -> None:
    assert json_scalar(raw, "x", max_length=100) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (JSON_SAFE_INTEGER + 1, "OUT_OF_RANGE"),
        (-(2**64), "OUT_OF_RANGE"),
        (1e19, "OUT_OF_RANGE"),
        (float("nan"), "INVALID_VALUE"),
        (timedelta(hours=5), "INVALID_VALUE"),
        (Decimal(1), "INVALID_VALUE"),
        ({"a": 1}, "INVALID_VALUE"),
        ("x" * 101, "TOO_LONG"),
    ],
)
def test_extra_scalars_refused(raw: Any, code: str) -> None:
    assert refused(json_scalar, raw, "x", max_length=100).code == code


def test_kpi_ranges() -> None:
    assert check_kpis({"newCustomers": "12", "winRate": 0.35}, 2) == {
        "newCustomers": 12,
        "winRate": "0.35",
    }
    for kpis, field in (
        ({"newCustomers": 10**9 + 1}, "kpis.newCustomers"),
        ({"newCustomers": -1}, "kpis.newCustomers"),
        ({"newCustomers": 2**64}, "kpis.newCustomers"),
        ({"winRate": "1.01"}, "kpis.winRate"),
        ({"marketShare": "-0.1"}, "kpis.marketShare"),
    ):
        error = refused(check_kpis, kpis, 2)
        assert (error.code, error.field) == ("OUT_OF_RANGE", field)
    assert refused(check_kpis, {"newCustomers": 1.5}, 2).code == "INVALID_VALUE"
    assert refused(check_kpis, {"newCustomers": True}, 2).code == "INVALID_VALUE"


# -- attributes: whatever the write path stores, the read path serves -------------

KINDS = [k for k in DimensionKind if k is not DimensionKind.TIME]

door_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "HIGH",
            "low",
            "large",
            "NEW",
            "existing",
            "flagship",
            "direct",
            " Partner ",
            "A",
            "b",
            "1250000.50",
            "90",
            "90.0",
            "2024-03-01",
            "2024-03-01T00:00:00",
            "2024-03-01 09:30:00",
            "1e3",
            "-0",
            "a\x00b",
            "x\ud800",
        ]
    ),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(),
    st.lists(st.integers(), max_size=2),
)
extra_values = st.dictionaries(
    st.text(max_size=8),
    st.one_of(door_values, st.dictionaries(st.text(), st.integers())),
    max_size=4,
)


def _cased(values: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(values).flatmap(
        lambda v: st.sampled_from([v, v.lower(), f" {v.title()} "])
    )


midnights = st.dates().map(lambda d: datetime(d.year, d.month, d.day))
# Values a door plausibly hands in for each attribute, Excel's cell types included.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "marketPotential": st.one_of(
        st.integers(0, 10**31),
        st.floats(0, 1e31),
        st.decimals(0, 10**12, places=4).map(str),
    ),
    "competitionLevel": _cased(["LOW", "MEDIUM", "HIGH"]),
    "tier": _cased(["A", "B", "C"]),
    "size": _cased(["SMALL", "MEDIUM", "LARGE", "ENTERPRISE"]),
    "industry": st.one_of(st.text(max_size=40), st.integers(), st.floats()),
    "customerLifecycle": _cased(["NEW", "EXISTING"]),
    "category": st.one_of(st.text(max_size=40), st.integers(), st.floats()),
    "productLifecycle": _cased(["FLAGSHIP", "ESTABLISHED", "NEW", "SERVICE"]),
    "launchDate": st.one_of(
        st.dates(),
        midnights,
        st.dates().map(date.isoformat),
        midnights.map(datetime.isoformat),
        st.datetimes(),
    ),
    "salesCycleDays": st.one_of(
        st.integers(-10, 4000), st.integers(0, 3650).map(float), st.integers(0, 3650).map(str)
    ),
    "channelType": _cased(["DIRECT", "PARTNER", "ONLINE"]),
    "extra": st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**60), 2**60),
            st.floats(),
            st.text(max_size=40),
            st.dates(),
            st.datetimes(),
            st.times(),
        ),
        max_size=6,
    ),
}


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_whatever_is_stored_reads_back_and_passes_again(
    data: st.DataObject, kind: DimensionKind
) -> None:
    """Accepted or refused with a user error, never a crash; what is accepted round-trips.

    The stored form goes through orjson as the database driver does; reading
    it gives the same attributes, and checking it again (a member update
    re-checks the attributes it keeps) gives the same stored form.
    """
    names = [n for n, kinds in ATTRIBUTE_KINDS.items() if kind in kinds] + ["extra"]
    foreign = data.draw(st.sampled_from([*ATTRIBUTE_KINDS, "nope"]) | st.none())
    raw: dict[str, Any] = {}
    for name in data.draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True)):
        raw[name] = data.draw(
            st.one_of(PLAUSIBLE[name], door_values, extra_values)
            if data.draw(st.booleans())
            else PLAUSIBLE[name]
        )
    if foreign is not None and data.draw(st.integers(0, 9)) == 0:
        raw[foreign] = data.draw(door_values)
    try:
        attributes = check_attributes(kind, raw)
    except InvalidInputError as exc:
        assert exc.field and exc.field.startswith("attributes")
        return
    stored = orjson.loads(orjson.dumps(attributes.to_json()))
    assert MemberAttributes.from_json(stored) == attributes
    assert check_attributes(kind, stored).to_json() == stored


def test_every_attribute_type_normalises_excel_cells() -> None:
    raw = {
        "productLifecycle": " new ",
        "launchDate": datetime(2024, 3, 1),
        "salesCycleDays": 90.0,
        "category": 1234,
        "extra": {"pilot": True, "since": datetime(2023, 1, 5), "code": 7, "ratio": 0.25},
    }
    assert check_attributes(DimensionKind.PRODUCT, raw).to_json() == {
        "productLifecycle": "NEW",
        "launchDate": "2024-03-01",
        "salesCycleDays": 90,
        "category": "1234",
        "extra": {"pilot": True, "since": "2023-01-05", "code": 7, "ratio": 0.25},
    }
    assert check_attributes(DimensionKind.CUSTOMER, {"tier": 1.0}, tiers=("1", "2")).tier == "1"


# -- bulk loads: rows from any door ----------------------------------------------


def test_plan_load_normalises_cells_and_reports_each_bad_one() -> None:
    rows = [
        MemberRow(1, 123, "Numbered", None, 5.0, {}),
        MemberRow(2, "A\x00", "Bad code"),
        MemberRow(3, "B", "Bad\x00name"),
        MemberRow(4, "C", "C", "P\x00"),
        MemberRow(5, "D", "D", None, 2**31),
        MemberRow(6, "E", "E", None, "first"),
        MemberRow(7, "F", datetime(2024, 1, 1)),
        MemberRow(8, "G", "G", None, None, {"launchDate": time(9)}),
    ]
    with pytest.raises(BulkLoadError) as caught:
        plan_load(DimensionKind.PRODUCT, [], rows)
    found = {(e.row, e.column, e.code) for e in caught.value.errors}
    assert found == {
        (2, "code", "INVALID_VALUE"),
        (3, "name", "INVALID_VALUE"),
        (4, "parent", "INVALID_VALUE"),
        (5, "sort order", "OUT_OF_RANGE"),
        (6, "sort order", "INVALID_VALUE"),
        (7, "name", "INVALID_VALUE"),
        (8, "launchDate", "INVALID_VALUE"),
    }
    plan = plan_load(DimensionKind.PRODUCT, [], [rows[0]])
    assert (plan.create[0].code, plan.create[0].sort_order, plan.codes) == ("123", 5, ["123"])


def test_plan_load_of_stored_rows_changes_nothing() -> None:
    stored = [StoredMember(1, "P1", "One", None, 3, {"launchDate": "2024-03-01"})]
    rows = [MemberRow(1, "P1", "One", "", None, {"launchDate": datetime(2024, 3, 1)})]
    plan = plan_load(DimensionKind.PRODUCT, stored, rows)
    assert (plan.create, plan.update, plan.unchanged, plan.changes) == ([], [], 1, False)


def test_move_counts_the_depth_of_the_whole_subtree() -> None:
    path = [(i, f"M{i}") for i in range(1, 16)]  # the new parent is at depth 14
    check_move(100, "X", path, subtree_height=4)  # deepest descendant at 19: allowed
    error = refused(check_move, 100, "X", path, subtree_height=5)
    assert error.code == "TOO_DEEP"
    assert MAX_DEPTH == 20


# -- migration 0006: the rows the bug stored are repaired -------------------------


def _migration() -> Any:
    path = ROOT / "migrations" / "versions" / "0006_normalise_member_attributes.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("kind", "legacy"),
    [
        (DimensionKind.PRODUCT, {"launchDate": "2024-03-01T00:00:00"}),
        (DimensionKind.PRODUCT, {"launchDate": "2024-03-01T09:30:00"}),
        (DimensionKind.PRODUCT, {"launchDate": "2024-03-01T00:00:00.250000", "category": "a\nb"}),
        (DimensionKind.REGION, {"marketPotential": "0.30000000000000004"}),
        (DimensionKind.CUSTOMER, {"industry": "Retail\x01", "tier": "A"}),
        (DimensionKind.CUSTOMER, {"industry": "\x02"}),
        (
            DimensionKind.CHANNEL,
            {"extra": {"big": 2**60, "neg": -(2**63), "note": "a\x01b\n", "k\x01": 1, "k ": 2}},
        ),
    ],
)
def test_migration_0006_repairs_what_the_old_write_path_stored(
    kind: DimensionKind, legacy: dict[str, Any]
) -> None:
    repaired = _migration().repair(legacy)
    assert repaired != legacy
    # the repaired form reads back and passes today's write rules unchanged
    attributes = check_attributes(kind, repaired)
    assert attributes.to_json() == repaired
    assert MemberAttributes.from_json(repaired) == attributes
    assert _migration().repair(repaired) == repaired


def test_migration_0006_leaves_valid_attributes_alone() -> None:
    valid = {"launchDate": "2024-03-01", "marketPotential": "12.50", "extra": {"a": 1.5}}
    assert _migration().repair(valid) == valid


def test_domain_errors_are_domain_errors() -> None:
    assert issubclass(InvalidInputError, DomainError)
