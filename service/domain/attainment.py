"""Attainment: how far a node (or an owner) has come towards its target, as of a date.

Pure rules, no IO. The numbers, for a node with target ``T`` over its period
``[start, end)`` as of ``asOf`` (the day included):

period
    The node's deepest time coordinate (a quarter, a month), else the plan's
    fiscal year (the root and every node above the time split).
actual ``A``
    Every sale inside the node's slice: on every non-time coordinate the sale's
    member is the node's member or one of its descendants, and its date lies in
    the period and on or before ``asOf``. Split credit does not matter here: the
    tree counts a sale once.
elapsed
    Days of the period up to and including ``asOf``, between 0 and the period's days.
target-to-date ``TTD``
    When the node is split by time: the sum over its time children of each
    child's target times the elapsed fraction of that child's period (closed
    children count whole, the current one pro rata by days, future ones zero).
    Otherwise ``T`` times elapsed days over the period's days. Rounded to the
    minor unit, half to even.
attainment
    ``A / T`` (null when ``T`` is 0), shown as a percentage.
pace
    ``A / TTD`` (null when ``TTD`` is 0).
forecast (linear)
    The run rate carried to the period's end: ``A * days / elapsed`` (null
    before the period starts).
forecast (seasonal)
    The same slice in the earlier fiscal years (up to :data:`HISTORY_YEARS`, the
    same dates one, two, three years back): the share ``s`` of those years'
    period totals that had been sold by the same day, pooled over the years that
    have sales in the period; forecast ``A / s``. Null without such history or
    when ``s`` is 0.
gap
    ``T - A``: what is still missing to the whole target (negative when
    exceeded); ``gapToDate`` is ``TTD - A``.
status
    ``NOT_STARTED`` before the period's first day. Otherwise from the pace:
    ``ON_TRACK`` when pace >= ``onTrackPace``, ``AT_RISK`` when pace >=
    ``atRiskPace``, ``BEHIND`` below; a node with nothing expected yet (``TTD``
    of 0, e.g. a zero target) is ``ON_TRACK``. Boundaries belong to the better
    status. The thresholds are per plan (``plan.settings["attainment"]``),
    defaults :data:`DEFAULT_THRESHOLDS`.

Owners (split credit). An owner's target is the sum of the targets of the
topmost nodes they own in the version (a node inside another of their nodes is
not counted twice), as ``OwnerQuota.total``. Their actual counts every sale
inside those nodes' slices and periods (to ``asOf``): a sale without credits
counts whole; a sale with credits counts the owner's share when the credits name
the owner (by owner id) and nothing otherwise (it is credited to others). Their
target-to-date and forecasts are the sums over those nodes (a node whose period
has not started adds its target to the forecasts: nothing is known yet); pace, attainment,
gap and status follow from the sums as for a node. A sale credited 60/40 to two
owners of the same node thus counts 0.6 and 0.4 of it to them and once to the
node. Shared amounts are summed exactly and rounded to the minor unit at the
end, half to even.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from service.domain.tree import InvalidInputError

HISTORY_YEARS = 3
"""Earlier fiscal years the seasonal forecast reads."""

SETTINGS_KEY = "attainment"
"""Where a plan's thresholds live in ``plan.settings``."""

MAX_PACE_THRESHOLD = Decimal(10)


class Status(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    ON_TRACK = "ON_TRACK"
    AT_RISK = "AT_RISK"
    BEHIND = "BEHIND"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Pace thresholds of a plan: fractions, ``at_risk <= on_track``."""

    on_track: Decimal = Decimal("0.95")
    """Pace at or above: ON_TRACK."""
    at_risk: Decimal = Decimal("0.80")
    """Pace at or above (and below ``on_track``): AT_RISK; below: BEHIND."""
    alert: Decimal = Decimal("0.80")
    """Alerts list the nodes whose pace is below this."""

    def to_json(self) -> dict[str, str]:
        return {
            "onTrackPace": str(self.on_track),
            "atRiskPace": str(self.at_risk),
            "alertPace": str(self.alert),
        }


DEFAULT_THRESHOLDS = Thresholds()

_FIELDS = {"onTrackPace": "on_track", "atRiskPace": "at_risk", "alertPace": "alert"}


def _threshold(raw: Any, field: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise InvalidInputError("INVALID_VALUE", f"{field} must be a decimal string", field)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise InvalidInputError(
            "INVALID_VALUE", f"{field} must be a decimal string", field
        ) from None
    if not value.is_finite() or not 0 < value <= MAX_PACE_THRESHOLD:
        raise InvalidInputError(
            "OUT_OF_RANGE", f"{field} must be above 0 and at most {MAX_PACE_THRESHOLD}", field
        )
    return value


def thresholds_from(settings: Mapping[str, Any]) -> Thresholds:
    """The thresholds stored in a plan's settings (defaults for what is not set)."""
    stored = settings.get(SETTINGS_KEY) or {}
    values: dict[str, Decimal] = {}
    for name, attr in _FIELDS.items():
        if stored.get(name) is not None:
            values[attr] = Decimal(str(stored[name]))
    return Thresholds(**{**_as_dict(DEFAULT_THRESHOLDS), **values})


def _as_dict(t: Thresholds) -> dict[str, Decimal]:
    return {"on_track": t.on_track, "at_risk": t.at_risk, "alert": t.alert}


def update_thresholds(current: Thresholds, changes: Mapping[str, Any]) -> Thresholds:
    """``current`` with ``changes`` (``onTrackPace`` ...; None resets to the default),
    checked: each above 0 and at most 10, ``atRiskPace <= onTrackPace``."""
    values = _as_dict(current)
    for name, raw in changes.items():
        if name not in _FIELDS:
            raise InvalidInputError("INVALID_VALUE", f"unknown threshold {name!r}", name)
        attr = _FIELDS[name]
        values[attr] = getattr(DEFAULT_THRESHOLDS, attr) if raw is None else _threshold(raw, name)
    if values["at_risk"] > values["on_track"]:
        raise InvalidInputError(
            "OUT_OF_RANGE", "atRiskPace must not be above onTrackPace", "atRiskPace"
        )
    return Thresholds(**values)


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open date range ``[start, end)``."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def elapsed(self, as_of: date) -> int:
        """Days of the period up to and including ``as_of``."""
        return max(0, min(self.days, (as_of - self.start).days + 1))

    def shifted(self, years: int) -> Period:
        return Period(years_back(self.start, years), years_back(self.end, years))


def years_back(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def day_after(day: date) -> date:
    return day + timedelta(days=1)


def round_half_even(value: Fraction) -> int:
    return round(value)  # Fraction.__round__ rounds half to even


def ratio(value: Fraction | None, places: int = 4) -> Decimal | None:
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def target_to_date(
    target: int,
    period: Period,
    as_of: date,
    time_children: Sequence[tuple[int, Period]] | None = None,
) -> Fraction:
    """Exact target-to-date, see the module docstring."""
    if time_children:
        return sum((Fraction(t * p.elapsed(as_of), p.days) for t, p in time_children), Fraction(0))
    return Fraction(target * period.elapsed(as_of), period.days)


@dataclass(frozen=True, slots=True)
class History:
    """One earlier year of the same slice: sold by the same day, and in the whole period."""

    to_date: int
    total: int


def seasonal_share(history: Iterable[History]) -> Fraction | None:
    """The pooled share of the period sold by the same day in earlier years."""
    years = [h for h in history if h.total != 0]
    total = sum(h.total for h in years)
    if not years or total <= 0:
        return None
    return Fraction(sum(h.to_date for h in years), total)


@dataclass(frozen=True, slots=True)
class Attainment:
    """A node's or owner's numbers as of a date; amounts in minor units."""

    as_of: date
    period: Period | None
    """None for an owner (their nodes' periods may differ)."""
    target: int
    actual: int
    target_to_date: int
    attainment: Fraction | None
    pace: Fraction | None
    forecast: int | None
    seasonal_forecast: int | None
    status: Status

    @property
    def gap(self) -> int:
        return self.target - self.actual

    @property
    def gap_to_date(self) -> int:
        return self.target_to_date - self.actual

    @property
    def attainment_percent(self) -> Decimal | None:
        return ratio(self.attainment * 100 if self.attainment is not None else None, 2)


def status_of(pace: Fraction | None, started: bool, thresholds: Thresholds) -> Status:
    if not started:
        return Status.NOT_STARTED
    if pace is None:
        return Status.ON_TRACK
    if pace >= _fraction(thresholds.on_track):
        return Status.ON_TRACK
    if pace >= _fraction(thresholds.at_risk):
        return Status.AT_RISK
    return Status.BEHIND


_FRACTIONS: dict[Decimal, Fraction] = {}


def _fraction(value: Decimal) -> Fraction:
    found = _FRACTIONS.get(value)
    if found is None:
        found = _FRACTIONS[value] = Fraction(value)
    return found


def _div(a: Fraction | int, b: Fraction | int) -> Fraction | None:
    return None if b == 0 else Fraction(a) / Fraction(b)


def round_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half to even (``denominator > 0``)."""
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q


def node_attainment(
    *,
    target: int,
    actual: int,
    period: Period,
    as_of: date,
    thresholds: Thresholds,
    time_children: Sequence[tuple[int, Period]] | None = None,
    history: Iterable[History] = (),
) -> Attainment:
    """A node's numbers (integer arithmetic; exact ratios as fractions)."""
    to_date = total = 0
    for h in history:
        if h.total != 0:
            to_date += h.to_date
            total += h.total
    return node_numbers(
        target=target,
        actual=actual,
        period=period,
        as_of=as_of,
        thresholds=thresholds,
        time_children=time_children,
        history_to_date=to_date,
        history_total=total,
    )


def node_numbers(
    *,
    target: int,
    actual: int,
    period: Period,
    as_of: date,
    thresholds: Thresholds,
    time_children: Sequence[tuple[int, Period]] | None = None,
    history_to_date: int = 0,
    history_total: int = 0,
) -> Attainment:
    """:func:`node_attainment` from the history already pooled: the sums of ``to_date``
    and of ``total`` over the earlier years whose total is not 0. Integers throughout
    (target-to-date as numerator / denominator, the status by cross-multiplying), the
    two ratios made fractions once at the end: the hot path of a version's 10,000 nodes.
    """
    days = period.days
    elapsed = period.elapsed(as_of)
    if time_children:
        exact = target_to_date(target, period, as_of, time_children)
        num, den = exact.numerator, exact.denominator
    else:
        num, den = target * elapsed, days
    seasonal = None
    if elapsed and history_total > 0 and history_to_date > 0:
        seasonal = round_div(actual * history_total, history_to_date)
    started = as_of >= period.start
    return Attainment(
        as_of=as_of,
        period=period,
        target=target,
        actual=actual,
        target_to_date=round_div(num, den),
        attainment=None if target == 0 else Fraction(actual, target),
        pace=None if num == 0 else Fraction(actual * den, num),
        forecast=None if elapsed == 0 else round_div(actual * days, elapsed),
        seasonal_forecast=seasonal,
        status=_status(actual * den, num, started, thresholds),
    )


def _status(numerator: int, denominator: int, started: bool, thresholds: Thresholds) -> Status:
    """:func:`status_of` for the pace ``numerator / denominator`` (None when the
    denominator is 0), compared by cross-multiplying."""
    if not started:
        return Status.NOT_STARTED
    if denominator == 0:
        return Status.ON_TRACK
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    on_track = _fraction(thresholds.on_track)
    if numerator * on_track.denominator >= on_track.numerator * denominator:
        return Status.ON_TRACK
    at_risk = _fraction(thresholds.at_risk)
    if numerator * at_risk.denominator >= at_risk.numerator * denominator:
        return Status.AT_RISK
    return Status.BEHIND


@dataclass(frozen=True, slots=True)
class OwnerPart:
    """One topmost node an owner holds: its exact numbers for the owner's credited actual."""

    target: int
    actual: Fraction
    target_to_date: Fraction
    forecast: Fraction | None
    seasonal_forecast: Fraction | None
    started: bool


def owner_attainment(parts: Sequence[OwnerPart], as_of: date, thresholds: Thresholds) -> Attainment:
    """The sums over an owner's topmost nodes (see the module docstring)."""
    target = sum(p.target for p in parts)
    actual = sum((p.actual for p in parts), Fraction(0))
    ttd = sum((p.target_to_date for p in parts), Fraction(0))
    started = any(p.started for p in parts) or not parts

    def forecast(each: list[Fraction | None]) -> Fraction | None:
        if not parts or not any(p.started for p in parts):
            return None
        total = Fraction(0)
        for part, value in zip(parts, each, strict=True):
            if not part.started:
                total += part.target  # nothing known yet: the plan stands
            elif value is None:
                return None
            else:
                total += value
        return total

    linear = forecast([p.forecast for p in parts])
    seasonal = forecast([p.seasonal_forecast for p in parts])
    pace = _div(actual, ttd)
    return Attainment(
        as_of=as_of,
        period=None,
        target=target,
        actual=round_half_even(actual),
        target_to_date=round_half_even(ttd),
        attainment=_div(actual, target),
        pace=pace,
        forecast=None if linear is None else round_half_even(linear),
        seasonal_forecast=None if seasonal is None else round_half_even(seasonal),
        status=status_of(pace, started, thresholds),
    )


def part_of(
    *,
    target: int,
    actual: Fraction,
    period: Period,
    as_of: date,
    time_children: Sequence[tuple[int, Period]] | None = None,
    history: Iterable[History] = (),
) -> OwnerPart:
    """One owned node's exact contribution to its owner's numbers."""
    ttd = target_to_date(target, period, as_of, time_children)
    elapsed = period.elapsed(as_of)
    share = seasonal_share(history) if elapsed else None
    return OwnerPart(
        target=target,
        actual=actual,
        target_to_date=ttd,
        forecast=None if elapsed == 0 else actual * period.days / elapsed,
        seasonal_forecast=None if not share else actual / share,
        started=as_of >= period.start,
    )
