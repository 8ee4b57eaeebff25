"""Checking imported facts: sales, opportunity outcomes and market sizes, row by row.

Pure rules, shared by every door (``actualsImport`` and its siblings over
GraphQL, ``quotatree import actuals FILE`` for CSV and XLSX): a door hands in
rows of raw values keyed by *column*, and :class:`RowChecker` turns each into
the values stored, or into :class:`~service.domain.hierarchy.RowError` s naming
the row, the column and the reason. Nothing here stops at the first bad row:
the caller collects the errors of every row (up to :data:`MAX_REPORTED_ERRORS`,
the rest are counted) and writes nothing when there is one.

Columns (a file's header names them; case, spaces and underscores do not
matter, so ``External ID``, ``external_id`` and ``externalId`` are one column):

Sales (``SALES``)
    ``externalId`` (required; unique among all stored sales), ``date`` (or
    ``soldOn``; ``YYYY-MM-DD`` or a workbook date), ``amount`` (required; a
    decimal in the plan's currency with at most its decimals, negative for a
    return or credit note), ``currency`` (optional: blank means the plan's; any
    other currency is a ``CURRENCY_MISMATCH``), ``quantity`` (optional, up to 4
    decimals), ``orderRef``, ``customerRef`` (optional), ``credits`` (optional
    split credit, see below), and one column per organisation dimension, headed
    by the dimension's name (``Region``, ``Channel`` ...) and holding a member
    code of that dimension (blank: the sale names no member of that dimension).
    A plan measured in QUANTITY has no currency: ``amount`` is then the quantity
    in the plan's unit and ``currency`` must stay blank.
Opportunities (``OPPORTUNITY``)
    ``externalId``, ``date`` (or ``closedOn``), ``outcome`` (``WON`` or ``LOST``),
    ``amount`` (zero or more), ``currency``, ``customerRef`` and dimension columns
    as for sales.
Market sizes (``MARKET_SIZE``)
    ``dimension`` (a dimension's name) and ``member`` (a member code of it), the
    range as ``period`` (a code of the plan's calendar such as ``FY2027``,
    ``FY2027-Q1``, ``FY2027-M03``, for any fiscal year) or as ``startsOn`` and
    ``endsOn`` (``endsOn`` is the last day, inclusive), ``amount`` (zero or more)
    and ``currency``. A market size is keyed by its member and range.

Split credit: ``owner:share`` pairs separated by ``;`` (``ana@example.com:0.6;
East team:0.4``), an owner named by its subject (a person) or its name (a
team); shares are decimals above 0 that add up to exactly 1 (percentages are
not taken: write 0.25, not 25 %). Stored as ``{"<owner id>": "<share>"}``.

Every bad value is reported with a code of the API's ``UserErrorCode``:
``REQUIRED`` (a required column is missing from the header, or its cell is
blank), ``UNKNOWN_COLUMN`` (a header names no column and no dimension: a
misspelt column is never dropped silently), ``INVALID_VALUE`` (a date, outcome
or text that cannot be read), ``INVALID_AMOUNT`` and its kin (an amount, from
:func:`service.domain.money.parse_amount`), ``CURRENCY_MISMATCH``,
``NOT_FOUND`` (an unknown member code or owner), ``WRONG_DIMENSION`` (a member
code of another dimension, or a column naming the plan's time dimension),
``DUPLICATE`` (a key twice in the batch, or stored with other content: found by
the database side, ``service.db.imports``), ``CREDITS_NOT_100`` (shares not
adding up to 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

from service.domain.calendar import (
    MAX_FISCAL_YEAR,
    MIN_FISCAL_YEAR,
    CalendarSpec,
    fiscal_year_bounds,
    generate_calendar,
)
from service.domain.errors import DomainError
from service.domain.hierarchy import BulkLoadError, RowError
from service.domain.money import BIGINT_MAX, parse_amount
from service.domain.values import calendar_date, check_storable

MAX_BATCH_ROWS = 5_000
"""Most rows one GraphQL import (``actualsImport`` ...) may carry; files have no limit."""
MAX_REPORTED_ERRORS = 1_000
"""Most row errors reported for one batch; the rest are counted, not listed."""
MAX_REF_LENGTH = 200
"""Longest external id, order or customer reference (the columns' width)."""
MAX_CREDIT_OWNERS = 20
"""Most owners one sale's split credit may name."""
QUANTITY_DIGITS = 4
QUANTITY_MAX = Decimal(10) ** 16
"""Quantities are stored as numeric(20, 4): below 10**16 with up to 4 decimals."""
QUANTITY_INT_DIGITS = 16
"""Digits of the largest whole quantity (below ``QUANTITY_MAX``)."""


class FactKind(StrEnum):
    """What a batch holds (``fact_batch.kind``)."""

    SALES = "SALES"
    OPPORTUNITY = "OPPORTUNITY"
    MARKET_SIZE = "MARKET_SIZE"


class Outcome(StrEnum):
    WON = "WON"
    LOST = "LOST"


class RowsRejected(BulkLoadError):
    """Bad rows: ``errors`` lists up to ``MAX_REPORTED_ERRORS`` of them (in row order),
    ``total`` counts them all. Nothing was written."""

    def __init__(self, errors: Sequence[RowError], total: int | None = None) -> None:
        ordered = sorted(errors, key=lambda e: (e.row, e.column))
        super().__init__(ordered)
        self.total = max(total or 0, len(ordered))
        self.details["total"] = self.total


class ErrorCollector:
    """The row errors of one batch: the first ``cap`` kept, all counted."""

    def __init__(self, cap: int = MAX_REPORTED_ERRORS) -> None:
        self.cap = cap
        self.errors: list[RowError] = []
        self.total = 0
        self.bad_rows = 0

    def add(self, errors: Iterable[RowError]) -> None:
        for error in errors:
            self.total += 1
            if len(self.errors) < self.cap:
                self.errors.append(error)

    def __bool__(self) -> bool:
        return self.total > 0

    def raise_if_any(self) -> None:
        if self.total:
            raise RowsRejected(self.errors, self.total)


# --- columns ---------------------------------------------------------------------------


def norm(header: str) -> str:
    """A header as compared: lower case, letters and digits only."""
    return "".join(ch for ch in header.strip().lower() if ch.isalnum())


_COLUMNS: dict[FactKind, dict[str, str]] = {
    FactKind.SALES: {
        "externalid": "externalId",
        "date": "date",
        "soldon": "date",
        "amount": "amount",
        "currency": "currency",
        "quantity": "quantity",
        "orderref": "orderRef",
        "customerref": "customerRef",
        "credits": "credits",
    },
    FactKind.OPPORTUNITY: {
        "externalid": "externalId",
        "date": "date",
        "closedon": "date",
        "outcome": "outcome",
        "amount": "amount",
        "currency": "currency",
        "customerref": "customerRef",
    },
    FactKind.MARKET_SIZE: {
        "dimension": "dimension",
        "member": "member",
        "period": "period",
        "startson": "startsOn",
        "endson": "endsOn",
        "amount": "amount",
        "currency": "currency",
    },
}
_REQUIRED: dict[FactKind, tuple[str, ...]] = {
    FactKind.SALES: ("externalId", "date", "amount"),
    FactKind.OPPORTUNITY: ("externalId", "date", "outcome", "amount"),
    FactKind.MARKET_SIZE: ("dimension", "member", "amount"),
}
DIMENSION_COLUMNS = frozenset({FactKind.SALES, FactKind.OPPORTUNITY})
"""Kinds whose rows name members in one column per dimension."""


def columns_of(kind: FactKind) -> list[str]:
    """The fixed columns of ``kind``, in documentation order."""
    return list(dict.fromkeys(_COLUMNS[kind].values()))


def required_columns(kind: FactKind) -> tuple[str, ...]:
    return _REQUIRED[kind]


@dataclass(frozen=True, slots=True)
class DimensionCodes:
    """An organisation dimension as the checker sees it: its members by code."""

    id: int
    name: str
    codes: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ImportContext:
    """What rows are checked against: the importing plan and the stored names."""

    currency: str | None
    """The plan's currency; None for a plan measured in QUANTITY."""
    digits: int
    """Decimals of the plan's currency or unit."""
    calendar: CalendarSpec
    """The plan's calendar (its start month and pattern place dates in fiscal years)."""
    dimensions: Sequence[DimensionCodes]
    time_dimension: str | None = None
    """The name of the plan's own time dimension (a column naming it is refused)."""
    owners: Mapping[str, int] = field(default_factory=dict)
    """Owners by reference: a person's subject, a team's name."""
    owner_ids: frozenset[int] = frozenset()

    def dimension(self, header: str) -> DimensionCodes | None:
        wanted = norm(header)
        for dimension in self.dimensions:
            if norm(dimension.name) == wanted:
                return dimension
        return None

    def elsewhere(self, code: str, not_in: int) -> list[str]:
        """Names of the other dimensions that have a member ``code``."""
        return [d.name for d in self.dimensions if d.id != not_in and code in d.codes]


@dataclass(frozen=True, slots=True)
class Header:
    """Where each column is: fixed columns by name, dimension columns by dimension."""

    fixed: Mapping[str, int]
    """Column name (``externalId`` ...) -> position."""
    dimensions: Sequence[tuple[int, DimensionCodes]]
    """(position, dimension) of each dimension column."""


def read_header(kind: FactKind, header: Sequence[object], context: ImportContext) -> Header:
    """The columns of a file's header; every problem of the header at once, as row 0
    errors (``RowsRejected``): unknown, repeated or missing columns."""
    names = _COLUMNS[kind]
    fixed: dict[str, int] = {}
    dimensions: list[tuple[int, DimensionCodes]] = []
    errors: list[RowError] = []
    seen: dict[str, str] = {}
    for index, cell in enumerate(header):
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            continue
        text = str(cell).strip()[:100]
        key = norm(text)
        if key in seen:
            errors.append(RowError(0, text, "DUPLICATE", f"the header names {text!r} twice"))
            continue
        seen[key] = text
        if key in names:
            fixed[names[key]] = index
            continue
        dimension = context.dimension(text) if kind in DIMENSION_COLUMNS else None
        if dimension is not None:
            dimensions.append((index, dimension))
        elif context.time_dimension is not None and key == norm(context.time_dimension):
            errors.append(
                RowError(
                    0,
                    text,
                    "WRONG_DIMENSION",
                    f"{text!r} is the plan's calendar: the date column places a fact in "
                    "time; remove the column",
                )
            )
        else:
            known = ", ".join(columns_of(kind))
            more = (
                ", or a dimension's name (" + ", ".join(d.name for d in context.dimensions) + ")"
                if kind in DIMENSION_COLUMNS and context.dimensions
                else ""
            )
            errors.append(
                RowError(
                    0,
                    text,
                    "UNKNOWN_COLUMN",
                    f"unknown column {text!r}; the columns are {known}{more}",
                )
            )
    for needed in _REQUIRED[kind]:
        if needed not in fixed:
            errors.append(RowError(0, needed, "REQUIRED", f"the header has no {needed!r} column"))
    if kind is FactKind.MARKET_SIZE and "period" not in fixed:
        for needed in ("startsOn", "endsOn"):
            if needed not in fixed:
                errors.append(
                    RowError(
                        0,
                        needed,
                        "REQUIRED",
                        f"the header has neither a 'period' nor a {needed!r} column",
                    )
                )
    if errors:
        raise RowsRejected(errors)
    return Header(fixed=fixed, dimensions=dimensions)


def header_of(kind: FactKind, context: ImportContext) -> tuple[list[str], Header]:
    """The header of rows that name every column (GraphQL rows): fixed columns then
    every dimension; rows are built to it with :func:`row_values`."""
    names = columns_of(kind)
    dims = list(context.dimensions) if kind in DIMENSION_COLUMNS else []
    labels = names + [d.name for d in dims]
    fixed = {name: i for i, name in enumerate(names)}
    return labels, Header(fixed, [(len(names) + i, d) for i, d in enumerate(dims)])


# --- values ----------------------------------------------------------------------------


class SalesRow(NamedTuple):
    """A checked sale (a named tuple: a million of them are made per large import)."""

    row: int
    external_id: str
    sold_on: date
    currency: str | None
    amount: int
    quantity: Decimal | None
    order_ref: str | None
    customer_ref: str | None
    members: tuple[int, ...]
    credits: dict[str, str] | None


_new_tuple = tuple.__new__
"""Makes a named tuple from a tuple of its fields without its Python-level ``__new__``."""


@dataclass(frozen=True, slots=True)
class OpportunityRow:
    row: int
    external_id: str
    closed_on: date
    outcome: Outcome
    currency: str | None
    amount: int
    customer_ref: str | None
    members: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MarketSizeRow:
    row: int
    member_id: int
    starts_on: date
    ends_on: date
    """Exclusive: the day after the last day."""
    currency: str | None
    amount: int


CheckedRow = SalesRow | OpportunityRow | MarketSizeRow


@dataclass(frozen=True, slots=True)
class BadCell:
    """A cell a file reader could not read (an Excel error, a formula without a saved
    value), and why: reported as an ``INVALID_VALUE`` of its row and column."""

    reason: str


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _Bad(Exception):
    """One bad cell (internal: becomes a RowError of its row)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(raw: object, column: str, *, max_length: int = MAX_REF_LENGTH) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)  # a workbook keeps 10042 as 10042.0
        else:
            raise _Bad("INVALID_VALUE", f"expected text, got {type(raw).__name__} {raw!r:.40}")
    text = str(raw).strip()
    if len(text) > max_length:
        raise _Bad("TOO_LONG", f"longer than {max_length} characters")
    if not text.isprintable():
        try:
            check_storable(text, column)
        except DomainError as exc:
            raise _Bad(exc.code, exc.message) from None
    return text


_MIN_DAY = date(MIN_FISCAL_YEAR + 1, 1, 1)
_MAX_DAY = date(MAX_FISCAL_YEAR - 1, 12, 31)


def _date(raw: object, column: str) -> date:
    if isinstance(raw, str):
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            day = None
        if day is None:
            try:
                day = calendar_date(raw, column)
            except DomainError:
                raise _Bad(
                    "INVALID_VALUE", f"{raw.strip()[:40]!r} is not a date (YYYY-MM-DD)"
                ) from None
    else:
        try:
            day = calendar_date(raw, column)
        except DomainError as exc:
            raise _Bad(exc.code, exc.message.removeprefix(f"{column}: ")) from None
    if not _MIN_DAY <= day <= _MAX_DAY:
        raise _Bad("OUT_OF_RANGE", f"{day.isoformat()} is outside {_MIN_DAY} .. {_MAX_DAY}")
    return day


_PLAIN = re.compile(r"(-?)(\d{1,18})(?:\.(\d{0,4}))?")


def _amount(raw: object, digits: int, *, negative: bool) -> int:
    """Minor units of a decimal; the fast path reads plain ``-123.45`` without Decimal."""
    if isinstance(raw, bool):
        raise _Bad("INVALID_AMOUNT", "the amount is a boolean, not a decimal number")
    if isinstance(raw, float):
        # A workbook's number cell: its shortest decimal text is what Excel shows.
        raw = repr(raw)
    elif isinstance(raw, int | Decimal):
        raw = str(raw)
    if not isinstance(raw, str):
        raise _Bad("INVALID_AMOUNT", f"expected a decimal number, got {type(raw).__name__}")
    text = raw.strip()
    match = _PLAIN.fullmatch(text)
    if match is not None:
        sign, whole, frac = match.groups()
        frac = frac or ""
        if len(frac) <= digits:
            minor = int(whole) * 10**digits + (int(frac.ljust(digits, "0")) if digits else 0)
            if sign and minor:
                if not negative:
                    raise _Bad("NEGATIVE_AMOUNT", f"the amount {text} is negative")
                minor = -minor
            if abs(minor) <= BIGINT_MAX:
                return int(minor)
    is_negative = negative and text.startswith("-") and text.lstrip("-0.") != ""
    try:
        minor = parse_amount(text[1:] if is_negative else text, digits)
    except DomainError as exc:
        raise _Bad(exc.code, exc.message) from None
    return -minor if is_negative else minor


def _quantity(raw: object) -> Decimal:
    if isinstance(raw, bool):
        raise _Bad("INVALID_VALUE", "expected a number, got a boolean")
    if isinstance(raw, float):
        raw = repr(raw)
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise _Bad("INVALID_VALUE", f"{str(raw)[:40]!r} is not a decimal number") from None
    if not value.is_finite():
        raise _Bad("INVALID_VALUE", f"{str(raw)[:40]!r} is not a finite number")
    if abs(value) >= QUANTITY_MAX:
        raise _Bad("OUT_OF_RANGE", f"{raw} is not below {QUANTITY_MAX:,.0f}")
    if value != value.quantize(Decimal(1).scaleb(-QUANTITY_DIGITS), rounding="ROUND_DOWN"):
        raise _Bad("TOO_MANY_DECIMALS", f"{raw} has more than {QUANTITY_DIGITS} decimals")
    return value


def _currency(raw: object, context: ImportContext) -> str | None:
    if _blank(raw):
        return context.currency
    text = _text(raw, "currency", max_length=10).upper()
    if context.currency is None:
        raise _Bad(
            "CURRENCY_MISMATCH",
            f"the plan is measured in quantity and has no currency; leave currency blank "
            f"(got {text})",
        )
    if text != context.currency:
        raise _Bad(
            "CURRENCY_MISMATCH",
            f"{text} is not the plan's currency {context.currency}; convert the amount "
            f"to {context.currency} before importing",
        )
    return context.currency


def parse_credits(raw: object, context: ImportContext) -> dict[str, str]:
    """``owner:share;...`` (or ``[(owner, share), ...]``, owner a reference or an id)
    as stored: ``{"<owner id>": "<share>"}``; shares above 0 adding up to exactly 1."""
    pairs: list[tuple[object, object]] = []
    if isinstance(raw, str):
        for part in raw.split(";"):
            if not part.strip():
                continue
            name, sep, text = part.rpartition(":")
            if not sep or not name.strip():
                raise _Bad(
                    "INVALID_VALUE",
                    f"{part.strip()[:60]!r} is not owner:share (e.g. ana@example.com:0.6)",
                )
            pairs.append((name.strip(), text.strip()))
    elif isinstance(raw, Sequence):
        pairs = [(owner, share) for owner, share in raw]
    else:
        raise _Bad("INVALID_VALUE", "expected owner:share pairs separated by ';'")
    if not pairs:
        raise _Bad("REQUIRED", "no owner:share pair")
    if len(pairs) > MAX_CREDIT_OWNERS:
        raise _Bad("TOO_MANY", f"more than {MAX_CREDIT_OWNERS} owners")
    credits: dict[str, str] = {}
    total = Decimal(0)
    for owner, share_raw in pairs:
        if isinstance(owner, int) and not isinstance(owner, bool):
            if owner not in context.owner_ids:
                raise _Bad("NOT_FOUND", f"owner id {owner} is unknown")
            owner_id = owner
        else:
            reference = str(owner)
            found = context.owners.get(reference)
            if found is None:
                raise _Bad(
                    "NOT_FOUND",
                    f"unknown owner {reference[:60]!r} (a person's subject or a team's name)",
                )
            owner_id = found
        share: Decimal = share_raw if isinstance(share_raw, Decimal) else _quantity(share_raw)
        if not share.is_finite() or share <= 0 or share > 1:
            raise _Bad("INVALID_VALUE", f"the share {share_raw} is not above 0 and at most 1")
        key = str(owner_id)
        if key in credits:
            raise _Bad("DUPLICATE", f"owner {owner} is named twice")
        credits[key] = format(share.normalize(), "f")
        total += share
    if total != 1:
        raise _Bad("CREDITS_NOT_100", f"the shares add up to {total}, not 1")
    return credits


_PERIOD = re.compile(r"FY(\d{4})\b.*", re.IGNORECASE)


def period_range(code: str, spec: CalendarSpec) -> tuple[date, date] | None:
    """``[start, end)`` of a calendar code (``FY2027``, ``FY2027-Q1`` ...) of any fiscal
    year of the plan's calendar, or None when no member has that code."""
    match = _PERIOD.fullmatch(code.strip())
    if match is None:
        return None
    year = int(match.group(1))
    if not MIN_FISCAL_YEAR <= year <= MAX_FISCAL_YEAR:
        return None
    wanted = code.strip().upper()
    for member in generate_calendar(_with_year(spec, year, weeks=True)):
        if member.code.upper() == wanted:
            return member.start, member.end
    return None


def _with_year(spec: CalendarSpec, year: int, *, weeks: bool | None = None) -> CalendarSpec:
    return CalendarSpec(
        fiscal_year=year,
        start_month=spec.start_month,
        pattern=spec.pattern,
        weeks=spec.weeks if weeks is None else weeks,
        week_start=spec.week_start,
        year_end=spec.year_end,
    )


def fiscal_year_of(day: date, spec: CalendarSpec) -> tuple[int, date, date]:
    """The fiscal year of ``spec``'s calendar holding ``day``: (year, start, end)."""
    for year in (day.year, day.year + 1, day.year - 1):
        if MIN_FISCAL_YEAR <= year <= MAX_FISCAL_YEAR:
            start, end = fiscal_year_bounds(_with_year(spec, year))
            if start <= day < end:
                return year, start, end
    raise ValueError(f"{day} is outside every fiscal year of the calendar")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class NewPartition:
    """A partition of ``sales_fact`` to create: ``[start, end)`` of ``fiscal_year``
    (clipped to the gap between the partitions already there)."""

    fiscal_year: int
    start: date
    end: date


def partitions_needed(
    days: Iterable[date], existing: Sequence[tuple[date, date]], spec: CalendarSpec
) -> list[NewPartition]:
    """The partitions to create so that every day of ``days`` has one: one per fiscal
    year of the importing plan's calendar, clipped to the gaps between ``existing``
    ranges (made under another plan's calendar, they may not line up)."""
    ranges = sorted(existing)
    made: list[NewPartition] = []

    def covered(day: date) -> bool:
        return any(s <= day < e for s, e in ranges)

    for day in sorted(set(days)):
        if covered(day):
            continue
        year, start, end = fiscal_year_of(day, spec)
        for s, e in ranges:
            if e <= day:
                start = max(start, e)
            elif s > day:
                end = min(end, s)
        made.append(NewPartition(year, start, end))
        ranges = sorted([*ranges, (start, end)])
    return made


# --- rows ------------------------------------------------------------------------------


class RowChecker:
    """Checks rows of one kind against one context; see the module docstring.

    ``check(row_number, values)`` takes a row's cells in header order and returns
    the checked row, or None after adding its errors to ``self.errors``.
    """

    def __init__(
        self,
        kind: FactKind,
        header: Header,
        context: ImportContext,
        errors: ErrorCollector | None = None,
    ) -> None:
        self.kind = kind
        self.header = header
        self.context = context
        self.errors = errors if errors is not None else ErrorCollector()
        self.rows = 0
        # The fast path's positions: a column the header lacks reads the blank cell
        # padded at the end of the row.
        self._width = (
            max([*header.fixed.values(), *(i for i, _ in header.dimensions)], default=-1) + 2
        )
        self._at = {name: header.fixed.get(name, self._width - 1) for name in columns_of(kind)}
        self._names = {i: n for n, i in header.fixed.items()}
        self._names.update({i: d.name for i, d in header.dimensions})
        self._digits = context.digits
        # columns the header lacks are None: the fast path skips them
        self._fast_at = tuple(
            header.fixed.get(name)
            for name in (
                "externalId",
                "date",
                "amount",
                "currency",
                "credits",
                "quantity",
                "orderRef",
                "customerRef",
            )
        )
        # without a required column every row goes to the full check (which says so)
        self._fast_ready = kind is FactKind.SALES and None not in self._fast_at[:3]
        self._fast_width = self._width - 1  # the cells the fast path reads
        self._fast_decimals = min(self._digits, 4)  # _PLAIN reads at most 4 decimals
        self._fast_scale = 10**self._digits
        self._fast_tens = [10 ** (self._digits - n) for n in range(self._fast_decimals + 1)]
        self._fast_currency = context.currency
        self._fast_members = [(index, d.codes) for index, d in header.dimensions]

    def _get(self, values: Sequence[object], column: str) -> object:
        index = self.header.fixed.get(column)
        if index is None or index >= len(values):
            return None
        return values[index]

    def check(self, row: int, values: Sequence[object]) -> CheckedRow | None:
        self.rows += 1
        if self._fast_ready:
            fast = self._fast_sales(row, values)
            if fast is not None:
                return fast
        bad: list[RowError] = []
        result: CheckedRow | None
        if any(isinstance(v, BadCell) for v in values):
            result = None
            for index, value in enumerate(values):
                if isinstance(value, BadCell):
                    bad.append(
                        RowError(
                            row,
                            self._names.get(index, f"column {index + 1}"),
                            "INVALID_VALUE",
                            value.reason,
                        )
                    )
        elif self.kind is FactKind.SALES:
            result = self._sales(row, values, bad)
        elif self.kind is FactKind.OPPORTUNITY:
            result = self._opportunity(row, values, bad)
        else:
            result = self._market_size(row, values, bad)
        if bad:
            self.errors.bad_rows += 1
            self.errors.add(bad)
            return None
        return result

    def _cell(
        self,
        values: Sequence[object],
        column: str,
        bad: list[RowError],
        row: int,
        parse: Any,
        *,
        required: bool = False,
    ) -> Any:
        raw = self._get(values, column)
        if _blank(raw):
            if required:
                bad.append(RowError(row, column, "REQUIRED", f"{column} is blank"))
            return None
        try:
            return parse(raw)
        except _Bad as exc:
            bad.append(RowError(row, column, exc.code, exc.message))
            return None

    def _members(self, row: int, values: Sequence[object], bad: list[RowError]) -> tuple[int, ...]:
        ids: list[int] = []
        for index, dimension in self.header.dimensions:
            raw = values[index] if index < len(values) else None
            if _blank(raw):
                continue
            try:
                code = _text(raw, dimension.name, max_length=100)
            except _Bad as exc:
                bad.append(RowError(row, dimension.name, exc.code, exc.message))
                continue
            member = dimension.codes.get(code)
            if member is not None:
                ids.append(member)
                continue
            others = self.context.elsewhere(code, dimension.id)
            if others:
                bad.append(
                    RowError(
                        row,
                        dimension.name,
                        "WRONG_DIMENSION",
                        f"{code!r} is a member of {', '.join(others)}, not of {dimension.name}",
                    )
                )
            else:
                bad.append(
                    RowError(
                        row, dimension.name, "NOT_FOUND", f"{dimension.name} has no member {code!r}"
                    )
                )
        return tuple(ids)

    def _amount_cell(
        self, row: int, values: Sequence[object], bad: list[RowError], *, negative: bool
    ) -> int | None:
        return self._cell(  # type: ignore[no-any-return]
            values,
            "amount",
            bad,
            row,
            lambda raw: _amount(raw, self._digits, negative=negative),
            required=True,
        )

    def _fast_sales(self, row: int, values: Sequence[object]) -> SalesRow | None:
        """The common row (text cells, plain numbers, known codes, no split credit) in
        one pass; None sends the row to the full check, which names every problem.
        (Run once per row of a large import: columns the header lacks are skipped, not
        read from padding, and the row is built without the named tuple's ``__new__``.)"""
        try:
            cells: Any = values
            if len(cells) < self._fast_width:
                cells = [*cells, *([""] * (self._fast_width - len(cells)))]
            (
                at_external_id,
                at_date,
                at_amount,
                at_currency,
                at_credits,
                at_quantity,
                at_order_ref,
                at_customer_ref,
            ) = self._fast_at
            external_id = cells[at_external_id].strip()
            if not external_id or len(external_id) > MAX_REF_LENGTH:
                return None
            sold_on = date.fromisoformat(cells[at_date].strip())
            if not _MIN_DAY <= sold_on <= _MAX_DAY:
                return None
            # what _PLAIN matches (\d is isdecimal), with no more decimals than the
            # currency has, without the regular expression's cost
            whole, _, frac = cells[at_amount].strip().partition(".")
            sign = whole[:1] == "-"
            if sign:
                whole = whole[1:]
            if not (whole.isdecimal() and len(whole) <= 18):
                return None
            if frac:
                if len(frac) > self._fast_decimals or not frac.isdecimal():
                    return None
                amount = int(whole) * self._fast_scale + int(frac) * self._fast_tens[len(frac)]
            else:
                amount = int(whole) * self._fast_scale
            if amount > BIGINT_MAX:
                return None
            if sign:
                amount = -amount
            if at_currency is not None:
                currency = cells[at_currency].strip()
                if currency and currency.upper() != self._fast_currency:
                    return None
            if at_credits is not None and cells[at_credits].strip():
                return None
            quantity = None
            if at_quantity is not None:
                quantity_text = cells[at_quantity].strip()
                if quantity_text:
                    if quantity_text.isdigit() and len(quantity_text) <= QUANTITY_INT_DIGITS:
                        quantity = Decimal(quantity_text)  # a whole number: no other check
                    else:
                        quantity = Decimal(quantity_text)
                        if not quantity.is_finite() or abs(quantity) >= QUANTITY_MAX:
                            return None
                        if quantity.as_tuple().exponent < -QUANTITY_DIGITS:  # type: ignore[operator]
                            return None
            order_ref = customer_ref = None
            if at_order_ref is not None:
                order_ref = cells[at_order_ref].strip() or None
                if order_ref is not None and (
                    len(order_ref) > MAX_REF_LENGTH or not order_ref.isprintable()
                ):
                    return None
            if at_customer_ref is not None:
                customer_ref = cells[at_customer_ref].strip() or None
                if customer_ref is not None and (
                    len(customer_ref) > MAX_REF_LENGTH or not customer_ref.isprintable()
                ):
                    return None
            if not external_id.isprintable():
                return None
            members = []
            for index, codes in self._fast_members:
                code = cells[index].strip()
                if code:
                    members.append(codes[code])
        except (AttributeError, ValueError, KeyError, IndexError, InvalidOperation):
            return None
        return _new_tuple(
            SalesRow,
            (
                row,
                external_id,
                sold_on,
                self._fast_currency,
                amount,
                quantity,
                order_ref,
                customer_ref,
                tuple(members),
                None,
            ),
        )

    def _sales(self, row: int, values: Sequence[object], bad: list[RowError]) -> SalesRow | None:
        external_id = self._cell(values, "externalId", bad, row, _ref, required=True)
        sold_on = self._cell(values, "date", bad, row, _day, required=True)
        amount = self._amount_cell(row, values, bad, negative=True)
        currency = self._currency(row, values, bad)
        quantity = self._cell(values, "quantity", bad, row, _quantity)
        order_ref = self._cell(values, "orderRef", bad, row, _ref)
        customer_ref = self._cell(values, "customerRef", bad, row, _ref)
        credits = self._cell(
            values, "credits", bad, row, lambda raw: parse_credits(raw, self.context)
        )
        members = self._members(row, values, bad)
        if bad:
            return None
        return SalesRow(
            row=row,
            external_id=external_id,
            sold_on=sold_on,
            currency=currency,
            amount=amount,  # type: ignore[arg-type]
            quantity=quantity,
            order_ref=order_ref,
            customer_ref=customer_ref,
            members=members,
            credits=credits,
        )

    def _currency(self, row: int, values: Sequence[object], bad: list[RowError]) -> str | None:
        raw = self._get(values, "currency")
        try:
            return _currency(raw, self.context)
        except _Bad as exc:
            bad.append(RowError(row, "currency", exc.code, exc.message))
            return None

    def _opportunity(
        self, row: int, values: Sequence[object], bad: list[RowError]
    ) -> OpportunityRow | None:
        external_id = self._cell(values, "externalId", bad, row, _ref, required=True)
        closed_on = self._cell(values, "date", bad, row, _day, required=True)
        outcome = self._cell(values, "outcome", bad, row, _outcome, required=True)
        amount = self._amount_cell(row, values, bad, negative=False)
        currency = self._currency(row, values, bad)
        customer_ref = self._cell(values, "customerRef", bad, row, _ref)
        members = self._members(row, values, bad)
        if bad:
            return None
        return OpportunityRow(
            row=row,
            external_id=external_id,
            closed_on=closed_on,
            outcome=outcome,
            currency=currency,
            amount=amount,  # type: ignore[arg-type]
            customer_ref=customer_ref,
            members=members,
        )

    def _market_size(
        self, row: int, values: Sequence[object], bad: list[RowError]
    ) -> MarketSizeRow | None:
        dimension_name = self._cell(
            values, "dimension", bad, row, lambda raw: _text(raw, "dimension"), required=True
        )
        code = self._cell(
            values,
            "member",
            bad,
            row,
            lambda raw: _text(raw, "member", max_length=100),
            required=True,
        )
        member_id: int | None = None
        if dimension_name is not None:
            dimension = self.context.dimension(dimension_name)
            if dimension is None:
                bad.append(
                    RowError(row, "dimension", "NOT_FOUND", f"no dimension {dimension_name!r}")
                )
            elif code is not None:
                member_id = dimension.codes.get(code)
                if member_id is None:
                    others = self.context.elsewhere(code, dimension.id)
                    bad.append(
                        RowError(
                            row,
                            "member",
                            "WRONG_DIMENSION" if others else "NOT_FOUND",
                            f"{code!r} is a member of {', '.join(others)}, not of {dimension.name}"
                            if others
                            else f"{dimension.name} has no member {code!r}",
                        )
                    )
        starts_on, ends_on = self._range(row, values, bad)
        amount = self._amount_cell(row, values, bad, negative=False)
        currency = self._currency(row, values, bad)
        if bad or member_id is None or starts_on is None or ends_on is None:
            return None
        return MarketSizeRow(
            row=row,
            member_id=member_id,
            starts_on=starts_on,
            ends_on=ends_on,
            currency=currency,
            amount=amount,  # type: ignore[arg-type]
        )

    def _range(
        self, row: int, values: Sequence[object], bad: list[RowError]
    ) -> tuple[date | None, date | None]:
        period = self._get(values, "period")
        starts = self._get(values, "startsOn")
        ends = self._get(values, "endsOn")
        if not _blank(period):
            if not (_blank(starts) and _blank(ends)):
                bad.append(
                    RowError(
                        row, "period", "INVALID_VALUE", "give a period or startsOn/endsOn, not both"
                    )
                )
                return None, None
            try:
                code = _text(period, "period", max_length=40)
            except _Bad as exc:
                bad.append(RowError(row, "period", exc.code, exc.message))
                return None, None
            found = period_range(code, self.context.calendar)
            if found is None:
                bad.append(
                    RowError(
                        row,
                        "period",
                        "NOT_FOUND",
                        f"{code!r} is no period of the plan's calendar (e.g. FY2027, "
                        "FY2027-Q1, FY2027-M03)",
                    )
                )
                return None, None
            return found
        start = self._cell(values, "startsOn", bad, row, _day, required=True)
        last = self._cell(values, "endsOn", bad, row, _day, required=True)
        if start is not None and last is not None and last < start:
            bad.append(
                RowError(
                    row, "endsOn", "INVALID_VALUE", f"endsOn {last} is before startsOn {start}"
                )
            )
            return None, None
        if start is None or last is None:
            return None, None
        return start, last + timedelta(days=1)


def _ref(raw: object) -> str:
    return _text(raw, "reference")


def _day(raw: object) -> date:
    return _date(raw, "date")


def _outcome(raw: object) -> Outcome:
    text = _text(raw, "outcome", max_length=20).upper()
    try:
        return Outcome(text)
    except ValueError:
        raise _Bad("INVALID_VALUE", f"{text[:20]!r} is not WON or LOST") from None


def row_values(header: Header, width: int, values: Mapping[str, object]) -> list[object]:
    """A row in header order from a mapping of column names (and dimension names)."""
    cells: list[object] = [None] * width
    for name, index in header.fixed.items():
        cells[index] = values.get(name)
    for index, dimension in header.dimensions:
        cells[index] = values.get(dimension.name)
    return cells
