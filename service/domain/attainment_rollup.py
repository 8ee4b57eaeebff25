"""Roll sales aggregated by (members, date bucket) up to every node of a tree.

SQL aggregates the facts once to *groups*: one per distinct ``members`` array
(a *combination*) and date bucket, the buckets cut at every date a node's period
(and its earlier-year copies, and ``asOf``) starts or ends, so every period is a
whole number of buckets. Here each combination is matched to the nodes whose slice
holds it, top down: the root holds every combination; a child along a non-time
dimension keeps the combinations of its parent whose *ancestry* (every member of
the combination and every ancestor of those, from their paths) holds the child's
member; a child along time keeps its parent's. Siblings never overlap (a split's
members lie at one level), so each combination goes down one branch per split and
the work is about (combinations x depth) plus one vector sum per node. A node's
bucket vector then gives its sales over any range of bucket bounds.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from service.domain.attainment import (
    HISTORY_YEARS,
    Attainment,
    History,
    Period,
    Status,
    Thresholds,
    day_after,
    node_numbers,
    round_div,
    years_back,
)

Ints = npt.NDArray[np.int64]


@dataclass(slots=True)
class RollNode:
    """A node as the roll-up sees it (parents before children). Not frozen, for the cost
    of building one per node of a version on every read (see
    ``service.domain.diagnostics.Node``); only ``link`` fills ``time_children``."""

    key: int
    parent_key: int | None
    member_id: int | None
    """Its own non-time coordinate's member (None on the root and on time children)."""
    time: bool
    """Its own coordinate is a time member."""
    period: Period
    target: int
    owner_id: int | None = None
    time_children: list[tuple[int, Period]] = field(default_factory=list)
    """(target, period) of its children when it is split by time (filled by ``link``)."""


def link(nodes: Sequence[RollNode]) -> None:
    """Fill ``time_children`` from the children whose coordinate is a time member."""
    by_key = {n.key: n for n in nodes}
    for n in nodes:
        if n.parent_key is not None and n.time:
            by_key[n.parent_key].time_children.append((n.target, n.period))


def bounds_for(periods: Iterable[Period], as_of: date, years: int = HISTORY_YEARS) -> list[date]:
    """Every date a bucket must start at: period bounds and ``asOf + 1``, this year and
    ``years`` years back."""
    dates: set[date] = set()
    for period in set(periods):
        for k in range(years + 1):
            shifted = period.shifted(k) if k else period
            cut = day_after(years_back(as_of, k) if k else as_of)
            dates.update((shifted.start, shifted.end))
            if shifted.start < cut < shifted.end:
                dates.add(cut)
    return sorted(dates)


def scan_end(periods: Iterable[Period], as_of: date, years: int = HISTORY_YEARS) -> date | None:
    """The day after the last day whose sales any number reads: a period up to
    ``asOf`` this year (never past it), whole in the ``years`` earlier years. Sales
    after it are in no node's actual nor history; None without periods."""
    end: date | None = None
    cut = day_after(as_of)
    for period in set(periods):
        ends = [max(period.start, min(period.end, cut))]
        ends.extend(period.shifted(k).end for k in range(1, years + 1))
        last = max(ends)
        end = last if end is None or last > end else end
    return end


def chunk_cuts(
    bounds: Sequence[date], year: Period, high: date, years: int = HISTORY_YEARS
) -> list[date]:
    """Where the scan of ``[bounds[0], high)`` is cut into chunks: at the fiscal year's
    start this year and ``years`` years back (each a bucket bound already), so a chunk
    holds a year's buckets."""
    inside = {bounds[0], high}
    for k in range(years + 1):
        start = year.shifted(k).start if k else year.start
        if bounds[0] < start < high:
            inside.add(start)
    return sorted(d for d in inside if d <= high)


@dataclass(slots=True)
class Groups:
    """Sales aggregated by combination and bucket (bucket ``i`` is
    ``[bounds[i-1], bounds[i])``, as PostgreSQL's ``width_bucket``)."""

    bounds: list[date]
    ancestry: list[frozenset[int]]
    """Per combination: its members and all their ancestors."""
    amounts: Ints
    """Combinations x buckets (``len(bounds) + 1`` columns; the first and last, outside
    the bounds, stay 0)."""
    credited_rows: list[tuple[int, int, Sequence[int], Mapping[str, object]]] | None = None
    """(combination, first bucket, totals of consecutive buckets, credits) of the sales
    with split credit; None until read (:meth:`add_credits`: owners' numbers only)."""
    _uncredited: Ints | None = None
    _credited: list[tuple[int, int, int, Decimal]] | None = None

    def add_credits(self, rows: list[tuple[int, int, Sequence[int], Mapping[str, object]]]) -> None:
        """Record the sales with split credit (their totals are part of ``amounts``)."""
        uncredited = self.amounts.copy()
        for combo, first, totals, _ in rows:
            uncredited[combo, first : first + len(totals)] -= np.asarray(totals, dtype=np.int64)
        self.credited_rows = rows
        self._uncredited = uncredited
        self._credited = None

    @property
    def has_credits(self) -> bool:
        return self.credited_rows is not None

    @property
    def uncredited(self) -> Ints:
        """The part of ``amounts`` from sales without split credit."""
        if self._uncredited is None:
            raise RuntimeError("the sales with split credit were not read (add_credits)")
        return self._uncredited

    @property
    def credited(self) -> list[tuple[int, int, int, Decimal]]:
        """(combination, bucket, owner id, credited amount, exact) for sales with credits."""
        if self.credited_rows is None:
            raise RuntimeError("the sales with split credit were not read (add_credits)")
        if self._credited is None:
            self._credited = credit_shares(self.credited_rows)
        return self._credited


def credit_shares(
    rows: Iterable[tuple[int, int, Sequence[int], Mapping[str, object]]],
) -> list[tuple[int, int, int, Decimal]]:
    """Per (combination, bucket, owner): the sum of share x amount over the rows."""
    shares: dict[tuple[int, int, int], Decimal] = {}
    for combo, first, totals, credits in rows:
        for offset, total in enumerate(totals):
            if not total:
                continue
            value = Decimal(total)
            for owner, share in credits.items():
                cell = (combo, first + offset, int(owner))
                shares[cell] = shares.get(cell, Decimal(0)) + Decimal(str(share)) * value
    return [(c, b, o, v) for (c, b, o), v in shares.items()]


@dataclass(slots=True)
class Rolled:
    """Per node: the combinations inside its slice and its sales per bucket."""

    bounds: list[date]
    rows: dict[int, Ints]
    index: dict[int, int]
    """Per node key: its row of ``running``."""
    running: Ints
    """Running totals over buckets, one row per distinct slice (column ``j``: buckets
    up to ``j``)."""
    positions: dict[date, int] = field(default_factory=dict)
    spans: dict[tuple[Period, date, int], list[tuple[int, int, int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = {d: i for i, d in enumerate(self.bounds)}

    def cumulative(self, key: int) -> Ints:
        """The node's running totals over buckets."""
        row: Ints = self.running[self.index[key]]
        return row

    def between(self, key: int, start: date, end: date) -> int:
        """Sales of the node's slice dated in ``[start, end)`` (both in ``bounds``)."""
        if end <= start:
            return 0
        c = self.cumulative(key)
        return int(c[self._pos(end)] - c[self._pos(start)])

    def _pos(self, day: date) -> int:
        found = self.positions.get(day)
        if found is None:
            raise ValueError(f"{day} is not a bucket bound")
        return found

    def _spans(self, period: Period, as_of: date, years: int) -> list[tuple[int, int, int]]:
        """Bucket positions (start, cut at asOf, end) of the period this year and
        ``years`` years back; cached per period."""
        found = self.spans.get((period, as_of, years))
        if found is None:
            found = []
            for k in range(years + 1):
                shifted = period.shifted(k) if k else period
                cut = min(shifted.end, day_after(years_back(as_of, k) if k else as_of))
                cut = max(cut, shifted.start)
                found.append((self._pos(shifted.start), self._pos(cut), self._pos(shifted.end)))
            self.spans[(period, as_of, years)] = found
        return found

    def actual(self, key: int, period: Period, as_of: date) -> int:
        start, cut, _ = self._spans(period, as_of, HISTORY_YEARS)[0]
        c = self.cumulative(key)
        return int(c[cut] - c[start])

    def history(
        self, key: int, period: Period, as_of: date, years: int = HISTORY_YEARS
    ) -> list[History]:
        c = self.cumulative(key).tolist()
        return [
            History(to_date=c[cut] - c[start], total=c[end] - c[start])
            for start, cut, end in self._spans(period, as_of, years)[1:]
        ]

    def pooled(
        self, keys: Sequence[int], period: Period, as_of: date
    ) -> tuple[list[int], list[int], list[int]]:
        """For nodes of one period: the actuals, and the history pooled as
        :func:`service.domain.attainment.node_attainment` pools it (sums of ``to_date``
        and of ``total`` over the earlier years whose total is not 0), in one pass
        over their running totals."""
        spans = self._spans(period, as_of, HISTORY_YEARS)
        c = self.running[np.fromiter((self.index[k] for k in keys), np.int64, len(keys))]
        start, cut, _ = spans[0]
        actual = c[:, cut] - c[:, start]
        to_date = np.zeros(len(keys), dtype=np.int64)
        total = np.zeros(len(keys), dtype=np.int64)
        for start, cut, end in spans[1:]:
            year_total = c[:, end] - c[:, start]
            counts = year_total != 0
            to_date += np.where(counts, c[:, cut] - c[:, start], 0)
            total += year_total
        return actual.tolist(), to_date.tolist(), total.tolist()


def match(nodes: Sequence[RollNode], ancestry: Sequence[frozenset[int]]) -> dict[int, Ints]:
    """Per node key, the indexes of the combinations inside its (non-time) slice."""
    rows: dict[int, Ints] = {}
    children: dict[int, list[RollNode]] = {}
    for n in nodes:
        if n.parent_key is not None:
            children.setdefault(n.parent_key, []).append(n)
    for n in nodes:
        if n.parent_key is None:
            rows[n.key] = np.arange(len(ancestry), dtype=np.int64)
        kids = children.get(n.key)
        if not kids:
            continue
        mine = rows[n.key]
        by_member = {k.member_id: k.key for k in kids if not k.time and k.member_id is not None}
        for k in kids:
            if k.time or k.member_id is None:
                rows[k.key] = mine
        if not by_member:
            continue
        picked: dict[int, list[int]] = {key: [] for key in by_member.values()}
        wanted = frozenset(by_member)  # a set: ``&`` with a dict's keys view costs more
        for c in mine.tolist():
            for m in ancestry[c] & wanted:
                picked[by_member[m]].append(c)
        for key, found in picked.items():
            rows[key] = np.asarray(found, dtype=np.int64)
    return rows


def roll_up(nodes: Sequence[RollNode], groups: Groups) -> Rolled:
    """Every node's combinations and running bucket totals: one gather and one
    segmented sum over all distinct slices (time children share their parent's)."""
    rows = match(nodes, groups.ancestry)
    matrix = groups.amounts
    slot: dict[int, int] = {}
    index: dict[int, int] = {}
    distinct: list[Ints] = []
    for key, r in rows.items():
        found = slot.get(id(r))
        if found is None:
            found = slot[id(r)] = len(distinct)
            distinct.append(r)
        index[key] = found
    sums = np.zeros((len(distinct), matrix.shape[1]), dtype=np.int64)
    lengths = np.fromiter((len(r) for r in distinct), np.int64, len(distinct))
    if distinct and int(lengths.sum()):
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        filled = lengths > 0
        gathered = matrix[np.concatenate(distinct)]
        sums[filled] = np.add.reduceat(gathered, starts[filled], axis=0)
    running = np.cumsum(sums, axis=1, dtype=np.int64)
    return Rolled(bounds=groups.bounds, rows=rows, index=index, running=running)


def every_node(
    nodes: Sequence[RollNode], rolled: Rolled, as_of: date, thresholds: Thresholds
) -> dict[int, Attainment]:
    """Every node's numbers, as :func:`service.domain.attainment.node_attainment` gives
    them one by one (nodes split by time go through it); the actuals and pooled history
    of the nodes of each period read in one vector pass, what depends on the period
    alone worked out once per period."""
    by_period: dict[Period, list[RollNode]] = {}
    for n in nodes:
        by_period.setdefault(n.period, []).append(n)
    on = Fraction(thresholds.on_track)
    risk = Fraction(thresholds.at_risk)
    on_n, on_d, risk_n, risk_d = on.numerator, on.denominator, risk.numerator, risk.denominator
    out: dict[int, Attainment] = {}
    for period, members in by_period.items():
        actuals, to_dates, totals = rolled.pooled([n.key for n in members], period, as_of)
        days = period.days
        elapsed = period.elapsed(as_of)
        started = as_of >= period.start
        for n, actual, to_date, total in zip(members, actuals, to_dates, totals, strict=True):
            if n.time_children:
                out[n.key] = node_numbers(
                    target=n.target,
                    actual=actual,
                    period=period,
                    as_of=as_of,
                    thresholds=thresholds,
                    time_children=n.time_children,
                    history_to_date=to_date,
                    history_total=total,
                )
                continue
            target = n.target
            num = target * elapsed  # target-to-date = num / days
            scaled = actual * days  # pace = scaled / num
            if not started:
                status = Status.NOT_STARTED
            elif num == 0:
                status = Status.ON_TRACK
            else:
                a, b = (scaled, num) if num > 0 else (-scaled, -num)
                if a * on_d >= on_n * b:
                    status = Status.ON_TRACK
                elif a * risk_d >= risk_n * b:
                    status = Status.AT_RISK
                else:
                    status = Status.BEHIND
            out[n.key] = Attainment(
                as_of,
                period,
                target,
                actual,
                round_div(num, days),
                None if target == 0 else Fraction(actual, target),
                None if num == 0 else Fraction(scaled, num),
                None if elapsed == 0 else round_div(scaled, elapsed),
                round_div(actual * total, to_date)
                if elapsed and total > 0 and to_date > 0
                else None,
                status,
            )
    return {n.key: out[n.key] for n in nodes}


def owner_credited(
    groups: Groups,
    rows: Ints,
    owner_id: int,
    ranges: Sequence[tuple[int, int]],
    uncredited: Ints | None = None,
) -> Fraction:
    """An owner's credited sales in combinations ``rows`` and bucket ranges
    ``(lo, hi]``: uncredited sales whole, credited ones by the owner's share."""
    matrix = groups.uncredited if uncredited is None else uncredited
    total = Fraction(0)
    sub = matrix[rows]
    for lo, hi in ranges:
        total += int(sub[:, lo + 1 : hi + 1].sum())
    chosen = set(rows.tolist())
    for c, b, owner, amount in groups.credited:
        if owner == owner_id and c in chosen and any(lo < b <= hi for lo, hi in ranges):
            total += Fraction(amount)
    return total


def bucket_range(bounds: Sequence[date], start: date, end: date) -> tuple[int, int]:
    """``(lo, hi)`` such that buckets ``lo+1 .. hi`` make ``[start, end)``."""
    return bisect_left(bounds, start), bisect_left(bounds, end)


def members_of(
    ancestry_paths: Mapping[int, Sequence[int]], members: Sequence[int]
) -> frozenset[int]:
    """A combination's ancestry from its members' id paths (each includes the member)."""
    out: set[int] = set()
    for m in members:
        out.update(ancestry_paths.get(m, (m,)))
    return frozenset(out)
