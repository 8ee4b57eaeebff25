"""Attainment reads: every node and owner of a version as of a date, rankings, alerts,
KPIs; and the per-plan thresholds (``planSettingsUpdate``).

A version's attainment is computed whole, from a fixed number of statements whatever
its size (the version and plan, its nodes, the sales summed by members with one total
per date bucket, a statement per fiscal year, and the members' paths), then rolled up
to nodes in Python (``service.domain.attainment_rollup``). The API caches it per
(version, asOf) in a request. The sales with split credit are read only for owners'
numbers (:func:`read_credits`). A few nodes alone (:func:`nodes_attainment_on`) read
only the sales of their slices, with the same numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

import numpy as np
import orjson

from service.db import attainment as sql
from service.db import repositories as repo
from service.db.engine import Database, Session
from service.db.models import Plan
from service.domain import attainment as rules
from service.domain import diagnostics as diagnostic_rules
from service.domain.attainment import Attainment, Period, Status, Thresholds
from service.domain.attainment_rollup import (
    Groups,
    Ints,
    Rolled,
    RollNode,
    bounds_for,
    bucket_range,
    chunk_cuts,
    every_node,
    link,
    match,
    members_of,
    owner_credited,
    roll_up,
    scan_end,
)
from service.domain.audit import AuditAction
from service.domain.gcpause import paused_gc
from service.domain.paths import path_ids
from service.domain.tree import InvalidInputError
from service.plans.uow import UnitOfWork
from service.plans.usecase import write

DEFAULT_ALERTS = 50
"""Alerts one read returns unless it asks for another number."""
MAX_ALERTS = 500
"""Most alerts one read returns."""


class RankBy(StrEnum):
    PACE = "PACE"
    GAP = "GAP"
    GAP_TO_DATE = "GAP_TO_DATE"


def scan_of(cuts: Sequence[date]) -> tuple[date, date] | None:
    """The date range of a read of the sales cut at ``cuts``: ``[first cut, last cut)``."""
    return (cuts[0], cuts[-1]) if len(cuts) >= 2 else None


def last_sale(
    cuts: Sequence[date], last_sales: Sequence[date | None], low: date, high: date
) -> tuple[date | None, list[tuple[date, date]]]:
    """The last day with a sale among the chunks (``[cuts[i], cuts[i+1])``, their last
    days with a sale ``last_sales``) inside ``[low, high)``, and the parts of ``[low,
    high)`` no such chunk covers (to be read apart)."""
    found: date | None = None
    covered: list[tuple[date, date]] = []
    spans = [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
    for (start, end), day in zip(spans, last_sales, strict=True):
        if low <= start and end <= high:
            covered.append((start, end))
            if day is not None and (found is None or day > found):
                found = day
    rest: list[tuple[date, date]] = []
    cursor = low
    for start, end in sorted(covered):
        if start > cursor:
            rest.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < high:
        rest.append((cursor, high))
    return found, rest


@dataclass(slots=True)
class VersionAttainment:
    """A version's nodes and sales as of a date; numbers computed on demand, cached."""

    version_id: int
    plan_id: int
    measure: str
    digits: int
    as_of: date
    thresholds: Thresholds
    nodes: list[RollNode]
    groups: Groups
    combos: list[list[int]]
    rolled: Rolled
    cuts: list[date] = field(default_factory=list)
    """Where the read of the sales was cut into chunks (see ``sql.fact_groups``)."""
    combo_index: dict[str, int] = field(default_factory=dict)
    last_sales: list[date | None] = field(default_factory=list)
    """Per chunk (``[cuts[i], cuts[i+1])`` that holds buckets): its last day with a sale."""
    wanted: frozenset[int] | None = None
    """Read for these nodes only (:func:`nodes_attainment_on`); None: the whole version."""
    _by_key: dict[int, RollNode] = field(default_factory=dict)
    _nodes: dict[int, Attainment] = field(default_factory=dict)
    _owners: dict[int, Attainment] | None = None

    def __post_init__(self) -> None:
        self._by_key = {n.key: n for n in self.nodes}

    def _whole(self) -> None:
        if self.wanted is not None:
            raise RuntimeError("read for some nodes only: version-wide numbers need it whole")

    def node(self, key: int) -> Attainment | None:
        if self.wanted is not None and key not in self.wanted:
            raise RuntimeError(f"node {key} was not read (read for some nodes only)")
        found = self._nodes.get(key)
        if found is not None:
            return found
        n = self._by_key.get(key)
        if n is None:
            return None
        found = rules.node_attainment(
            target=n.target,
            actual=self.rolled.actual(key, n.period, self.as_of),
            period=n.period,
            as_of=self.as_of,
            thresholds=self.thresholds,
            time_children=n.time_children,
            history=self.rolled.history(key, n.period, self.as_of),
        )
        self._nodes[key] = found
        return found

    def all_nodes(self) -> dict[int, Attainment]:
        self._whole()
        if len(self._nodes) < len(self.nodes):
            with paused_gc():
                self._nodes = every_node(self.nodes, self.rolled, self.as_of, self.thresholds)
        return self._nodes

    def topmost_owned(self) -> dict[int, list[RollNode]]:
        """Per owner, the nodes they hold that no ancestor of theirs holds."""
        held: dict[int, frozenset[int]] = {}
        out: dict[int, list[RollNode]] = {}
        for n in self.nodes:
            above = held.get(n.parent_key, frozenset()) if n.parent_key is not None else frozenset()
            if n.owner_id is not None and n.owner_id not in above:
                out.setdefault(n.owner_id, []).append(n)
                above = above | {n.owner_id}
            held[n.key] = above
        return out

    def last_sale(self, low: date, high: date) -> tuple[date | None, list[tuple[date, date]]]:
        """The last day with a sale among the chunks inside ``[low, high)``, and the
        parts of ``[low, high)`` no such chunk covers (to be read apart)."""
        return last_sale(self.cuts, self.last_sales, low, high)

    @property
    def scan(self) -> tuple[date, date] | None:
        """The date range of the sales read: ``[first cut, last cut)``."""
        return scan_of(self.cuts)

    def owners(self) -> dict[int, Attainment]:
        """Per owner, their credited numbers; needs :func:`read_credits` first."""
        self._whole()
        if self._owners is None:
            uncredited = self.groups.uncredited
            self._owners = {}
            for owner_id, held in self.topmost_owned().items():
                parts = []
                for n in held:
                    cut = min(n.period.end, rules.day_after(self.as_of))
                    ranges = (
                        []
                        if cut <= n.period.start
                        else [bucket_range(self.rolled.bounds, n.period.start, cut)]
                    )
                    credited = owner_credited(
                        self.groups, self.rolled.rows[n.key], owner_id, ranges, uncredited
                    )
                    history = self.rolled.history(n.key, n.period, self.as_of)
                    parts.append(
                        rules.part_of(
                            target=n.target,
                            actual=credited,
                            period=n.period,
                            as_of=self.as_of,
                            time_children=n.time_children,
                            history=history,
                        )
                    )
                self._owners[owner_id] = rules.owner_attainment(parts, self.as_of, self.thresholds)
        return self._owners

    def owner(self, owner_id: int) -> Attainment:
        found = self.owners().get(owner_id)
        return found or rules.owner_attainment([], self.as_of, self.thresholds)

    def ranked(self, by: RankBy) -> list[int]:
        """Node keys, furthest behind first: lowest pace (nodes with no pace last), or
        largest gap; ties in tree order."""
        every = self.all_nodes()
        order = {n.key: i for i, n in enumerate(self.nodes)}

        def key(k: int) -> tuple[int, Fraction | int, int]:
            a = every[k]
            if by is RankBy.PACE:
                return (0, a.pace, order[k]) if a.pace is not None else (1, 0, order[k])
            gap = a.gap if by is RankBy.GAP else a.gap_to_date
            return (0, -gap, order[k])

        return sorted(every, key=key)

    def ranked_owners(self, by: RankBy) -> list[int]:
        every = self.owners()

        def key(o: int) -> tuple[int, Fraction | int, int]:
            a = every[o]
            if by is RankBy.PACE:
                return (0, a.pace, o) if a.pace is not None else (1, 0, o)
            return (0, -(a.gap if by is RankBy.GAP else a.gap_to_date), o)

        return sorted(every, key=key)

    def alerts(self, threshold: Decimal | None) -> list[int]:
        """Started nodes whose pace is below ``threshold`` (the plan's alert pace when
        None), lowest pace first."""
        limit = Fraction(threshold if threshold is not None else self.thresholds.alert)
        every = self.all_nodes()
        order = {n.key: i for i, n in enumerate(self.nodes)}
        behind = [
            k
            for k, a in every.items()
            if a.status is not Status.NOT_STARTED and a.pace is not None and a.pace < limit
        ]
        return sorted(behind, key=lambda k: (every[k].pace, order[k]))

    def slice_combos(self, key: int) -> list[list[int]]:
        return [self.combos[i] for i in self.rolled.rows[key].tolist()]

    def period(self, key: int) -> Period:
        return self._by_key[key].period

    def member(self, key: int) -> int | None:
        """The deepest non-time member of the node's slice (None at the root)."""
        n: RollNode | None = self._by_key[key]
        while n is not None:
            if n.member_id is not None and not n.time:
                return n.member_id
            n = self._by_key.get(n.parent_key) if n.parent_key is not None else None
        return None


def _groups(
    found: sql.FactGroups, bounds: list[date]
) -> tuple[Groups, list[list[int]], dict[str, int]]:
    """The combinations (distinct ``members``) and their totals per bucket: each chunk's
    rows added into a combinations x buckets matrix. Also the combinations' index by
    their members' text (for the credited sales read later)."""
    ancestry_paths = {m: path_ids(p) for m, p in found.paths.items()}
    index: dict[str, int] = {}
    combos: list[list[int]] = []
    per_chunk: list[tuple[Ints, Ints, sql.Chunk]] = []
    parsed = found.parsed
    for chunk, rows in zip(found.chunks, found.rows, strict=True):
        which = np.empty(len(rows), dtype=np.int64)
        for r, row in enumerate(rows):
            i = index.get(row[0])
            if i is None:
                i = index[row[0]] = len(combos)
                combos.append(parsed[row[0]])
            which[r] = i
        values = np.array([row[2:] for row in rows], dtype=np.int64)
        per_chunk.append((which, values.reshape(len(rows), chunk.count), chunk))
    amounts = np.zeros((len(combos), len(bounds) + 1), dtype=np.int64)
    for which, values, chunk in per_chunk:
        # each combination once per chunk: a plain fancy-index assignment
        amounts[which, chunk.first : chunk.first + chunk.count] = values
    if any(len(p) > 1 for p in ancestry_paths.values()):
        ancestry = [members_of(ancestry_paths, members) for members in combos]
    else:  # no member has an ancestor: a combination's ancestry is its members
        ancestry = [frozenset(members) for members in combos]
    groups = Groups(bounds=bounds, ancestry=ancestry, amounts=amounts)
    return groups, combos, index


async def read_credits(session: Session, numbers: VersionAttainment) -> None:
    """Read the sales with split credit of ``numbers``' date range (a statement per
    chunk) into it, for its owners' numbers. Its own snapshot, like every read
    statement: sales of a combination the first read did not see are not counted."""
    if numbers.groups.has_credits:
        return
    found = await sql.credited_groups(session, numbers.rolled.bounds, numbers.cuts, numbers.measure)
    chunks = sql.fact_groups_sql(numbers.rolled.bounds, numbers.cuts, numbers.measure)
    parsed: dict[str, dict[str, Any]] = {}
    rows: list[tuple[int, int, Sequence[int], Mapping[str, object]]] = []
    for (chunk, _), chunk_rows in zip(chunks, found, strict=True):
        for members, raw, *totals in chunk_rows:
            combo = numbers.combo_index.get(members)
            if combo is None:
                continue
            credits = parsed.get(raw)
            if credits is None:
                credits = parsed[raw] = orjson.loads(raw)
            rows.append((combo, chunk.first, totals, credits))
    numbers.groups.add_credits(rows)


def not_found(field_name: str = "version") -> InvalidInputError:
    return InvalidInputError("NOT_FOUND", f"`{field_name}` is not a known version", field_name)


async def version_attainment(db: Database, version_id: int, as_of: date) -> VersionAttainment:
    """Every node of a version as of ``as_of`` (three statements) on a session of its own."""
    async with db.read_session() as session:
        return await version_attainment_on(session, version_id, as_of)


async def version_attainment_on(
    session: Session,
    version_id: int,
    as_of: date,
    rows: Sequence[sql.NodeRow] | None = None,
) -> VersionAttainment:
    """Every node of a version as of ``as_of`` (a fixed number of statements on
    ``session``: the header, the nodes unless given as ``rows`` (all of them, in tree
    order), the sales a statement per chunk, the paths)."""
    return await _attainment_on(session, version_id, as_of, None, rows)


MAX_NODES_APART = 50
"""Up to this many nodes of a version are computed on their own slices
(:func:`nodes_attainment_on`); more, and the whole version is read."""


async def nodes_attainment_on(
    session: Session, version_id: int, as_of: date, keys: Sequence[int]
) -> VersionAttainment:
    """The numbers of nodes ``keys`` of a version as of ``as_of``, reading only the
    sales inside their slices (and only those nodes, their ancestors and children):
    the same numbers as the whole version's (the same roll-up over the sales their
    slices hold), for a fraction of the work. The result answers ``node(key)`` for
    ``keys`` only; version-wide questions (rankings, owners) need the whole version."""
    return await _attainment_on(session, version_id, as_of, frozenset(keys))


async def _attainment_on(
    session: Session,
    version_id: int,
    as_of: date,
    wanted: frozenset[int] | None,
    rows: Sequence[sql.NodeRow] | None = None,
) -> VersionAttainment:
    return (await _read(session, version_id, as_of, wanted, rows)).computed()


@dataclass(frozen=True, slots=True)
class AttainmentRead:
    """What a version's attainment reads from the database, before the Python work on
    the sales (:meth:`computed`): the header, the nodes and the sales by chunk. A caller
    with more to read can start its next statement in between and let the database
    run it while this computes (the diagnosis does)."""

    version_id: int
    plan_id: int
    measure: str
    digits: int
    as_of: date
    settings: Mapping[str, Any]
    nodes: list[RollNode]
    bounds: list[date]
    cuts: list[date]
    found: sql.FactGroups
    last_sales: list[date | None]
    wanted: frozenset[int] | None

    @property
    def scan(self) -> tuple[date, date] | None:
        return scan_of(self.cuts)

    def last_sale(self, low: date, high: date) -> tuple[date | None, list[tuple[date, date]]]:
        return last_sale(self.cuts, self.last_sales, low, high)

    def computed(self) -> VersionAttainment:
        """The attainment: the sales into a combinations x buckets matrix, rolled up to
        the nodes (CPU only, no statement)."""
        with paused_gc():
            groups, combos, combo_index = _groups(self.found, self.bounds)
            rolled = roll_up(self.nodes, groups)
        return VersionAttainment(
            version_id=self.version_id,
            plan_id=self.plan_id,
            measure=self.measure,
            digits=self.digits,
            as_of=self.as_of,
            thresholds=rules.thresholds_from(self.settings),
            nodes=self.nodes,
            groups=groups,
            combos=combos,
            rolled=rolled,
            cuts=self.cuts,
            combo_index=combo_index,
            last_sales=self.last_sales,
            wanted=self.wanted,
        )


async def read_version_attainment_on(
    session: Session, version_id: int, as_of: date, rows: Sequence[sql.NodeRow]
) -> AttainmentRead:
    """The statements of :func:`version_attainment_on` (``rows``: every node of the
    version, in tree order), without its computation."""
    return await _read(session, version_id, as_of, None, rows)


async def _read(
    session: Session,
    version_id: int,
    as_of: date,
    wanted: frozenset[int] | None,
    rows: Sequence[sql.NodeRow] | None = None,
) -> AttainmentRead:
    header = await sql.version_header(session, version_id)
    if header is None:
        raise not_found()
    plan_id, measure, settings, digits, year_start, year_end = header
    if year_start is None:
        raise InvalidInputError("NOT_FOUND", "the plan has no calendar", "version")
    if rows is None and wanted is None:
        rows = await sql.version_nodes(session, version_id)
    elif rows is None:
        rows = await sql.some_nodes(session, version_id, sorted(wanted or ()))
    year = Period(year_start, year_end)
    with paused_gc():
        nodes, periods = _roll_nodes(rows, year)
    every_period = set(periods.values())
    bounds = bounds_for(every_period, as_of)
    high = scan_end(every_period, as_of)
    cuts = chunk_cuts(bounds, year, high) if high is not None and bounds else []
    where = "true"
    if wanted is not None:
        where = await _slices_where(session, nodes, wanted)
    found = await sql.fact_groups(session, bounds, cuts, measure, where)
    return AttainmentRead(
        version_id=version_id,
        plan_id=plan_id,
        measure=measure,
        digits=digits,
        as_of=as_of,
        settings=settings or {},
        nodes=nodes,
        bounds=bounds,
        cuts=cuts,
        found=found,
        last_sales=[max((row[1] for row in chunk), default=None) for chunk in found.rows],
        wanted=wanted,
    )


def _roll_nodes(
    rows: Sequence[sql.NodeRow], year: Period
) -> tuple[list[RollNode], dict[int, Period]]:
    """The roll-up's nodes from the node rows (parents first), and each one's period."""
    periods: dict[int, Period] = {}
    nodes: list[RollNode] = []
    for r in rows:
        time = r.starts_on is not None
        if time:
            period = Period(r.starts_on, r.ends_on)  # type: ignore[arg-type]
        elif r.parent_key is None:
            period = year
        else:
            period = periods[r.parent_key]
        periods[r.key] = period
        nodes.append(
            RollNode(
                key=r.key,
                parent_key=r.parent_key,
                member_id=None if time else r.member_id,
                time=time,
                period=period,
                target=r.target,
                owner_id=r.owner_id,
            )
        )
    link(nodes)
    return nodes, periods


async def _slices_where(session: Session, nodes: Sequence[RollNode], wanted: frozenset[int]) -> str:
    """A condition that keeps at least the sales inside the slices of the ``wanted``
    nodes: a sale naming the deepest non-time member of one of them, or a descendant
    of it. One overlap test per sale (not one per node); the roll-up's matching by
    ancestry then keeps exactly each node's own sales, as for the whole version."""
    by_key = {n.key: n for n in nodes}
    deepest: set[int] = set()
    for key in wanted:
        n: RollNode | None = by_key.get(key)
        while n is not None and (n.time or n.member_id is None or n.parent_key is None):
            n = by_key.get(n.parent_key) if n.parent_key is not None else None
        if n is None or n.member_id is None:  # the root's slice: every sale
            return sql.overlap_condition(None)
        deepest.add(n.member_id)
    below = await sql.descendants(session, sorted(deepest))
    return sql.overlap_condition(sorted({d for m in deepest for d in below[m]}))


# --- KPIs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeKpiActuals:
    """Actual KPIs of a node over its period up to ``asOf`` (null where undefined)."""

    new_customers: int
    orders: int
    average_order_value: int | None
    repeat_purchase_rate: Decimal | None
    win_rate: Decimal | None
    market_share: Decimal | None
    customers: int


async def node_kpis(
    db: Database, version: VersionAttainment, keys: Sequence[int]
) -> list[NodeKpiActuals]:
    """:func:`node_kpis_on` on a session of its own."""
    async with db.read_session() as session:
        return await node_kpis_on(session, version, keys)


async def node_kpis_on(
    session: Session, version: VersionAttainment, keys: Sequence[int]
) -> list[NodeKpiActuals]:
    """KPI actuals of ``keys`` (nodes of ``version``), three statements for all of them.

    - orders: distinct order references of the slice's sales in the period to asOf;
    - average order value: those sales / orders (rounded half to even), null without orders;
    - new customers: customers with a sale in the slice and period whose first sale
      ever (any slice, any date) lies in the period;
    - repeat-purchase rate: customers with more than one order in the slice and
      period / customers with one or more;
    - win rate: opportunities of the slice closed in the period, WON / (WON + LOST);
    - market share: the slice's sales / the market size of its deepest non-time member
      over the period (market size rows overlapping the period count pro rata by
      days); null without market sizes.
    """
    as_of = version.as_of
    spans: list[tuple[date, date]] = []
    for k in keys:
        p = version.period(k)
        spans.append((p.start, max(p.start, min(p.end, rules.day_after(as_of)))))
    slices = [(lo, hi, version.slice_combos(k)) for k, (lo, hi) in zip(keys, spans, strict=True)]
    counts = await sql.kpi_counts(session, slices, version.measure)
    bounds = sorted({d for span in spans for d in span})
    opportunities = await sql.opportunity_groups(session, bounds)
    paths = await sql.member_paths(
        session, sorted({m for members, *_ in opportunities for m in members})
    )
    members = {k: version.member(k) for k in keys}
    wanted = sorted({m for m in members.values() if m is not None})
    low = min((lo for lo, _ in spans), default=as_of)
    high = max((hi for _, hi in spans), default=as_of)
    markets = await sql.market_sizes(session, wanted, low, high) if high > low else []
    won_lost = _win_loss(version, keys, opportunities, paths, bounds, spans)
    out = []
    for k, (lo, hi), c, (won, lost) in zip(keys, spans, counts, won_lost, strict=True):
        market = _market(markets, members[k], lo, hi)
        actual = version.rolled.between(k, lo, hi) if hi > lo else 0
        out.append(
            NodeKpiActuals(
                new_customers=c.new_customers,
                orders=c.orders,
                average_order_value=round(Fraction(c.amount, c.orders)) if c.orders else None,
                repeat_purchase_rate=rules.ratio(
                    Fraction(c.repeat_customers, c.customers) if c.customers else None
                ),
                win_rate=rules.ratio(Fraction(won, won + lost) if won + lost else None),
                market_share=rules.ratio(Fraction(actual) / market if market else None),
                customers=c.customers,
            )
        )
    return out


def _win_loss(
    version: VersionAttainment,
    keys: Sequence[int],
    opportunities: list[tuple[list[int], int, int, int]],
    paths: dict[int, str],
    bounds: list[date],
    spans: list[tuple[date, date]],
) -> list[tuple[int, int]]:
    ancestry_paths = {m: path_ids(p) for m, p in paths.items()}
    ancestry = [members_of(ancestry_paths, m) for m, *_ in opportunities]
    rows: dict[int, Ints] = match(version.nodes, ancestry)
    out = []
    for k, (lo, hi) in zip(keys, spans, strict=True):
        won = lost = 0
        if hi > lo:
            first, last = bucket_range(bounds, lo, hi)
            for i in rows[k].tolist():
                _, b, w, lo_count = opportunities[i]
                if first < b <= last:
                    won += w
                    lost += lo_count
        out.append((won, lost))
    return out


def _market(
    markets: list[tuple[int, date, date, int]], member: int | None, low: date, high: date
) -> Fraction | None:
    if member is None or high <= low:
        return None
    total = Fraction(0)
    seen = False
    for m, start, end, amount in markets:
        if m != member:
            continue
        overlap = (min(end, high) - max(start, low)).days
        if overlap > 0:
            seen = True
            total += Fraction(amount * overlap, (end - start).days)
    return total if seen else None


# --- settings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanSettingsUpdate:
    plan_id: int
    attainment: dict[str, Any]
    """Thresholds to set (``onTrackPace``, ``atRiskPace``, ``alertPace``; None resets)."""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    """Diagnostic thresholds to set (camelCase names of ``diagnostics.FIELDS``; None
    resets)."""


@dataclass(frozen=True, slots=True)
class PlanSettings:
    plan: Plan
    thresholds: Thresholds
    diagnostics: diagnostic_rules.Thresholds


@write(AuditAction.PLAN_SETTINGS_UPDATE)
async def update_settings(uow: UnitOfWork, command: PlanSettingsUpdate) -> PlanSettings:
    """Set a plan's attainment and diagnostic thresholds (checked; audited with the values
    before and after)."""
    plan = await repo.plan_for_update(uow.session, command.plan_id)
    if plan is None:
        raise InvalidInputError("NOT_FOUND", "`planId` is not a known plan", "planId")
    before = rules.thresholds_from(plan.settings)
    after = rules.update_thresholds(before, command.attainment)
    diag_before = diagnostic_rules.thresholds_from(plan.settings)
    diag_after = diagnostic_rules.update_thresholds(diag_before, command.diagnostics)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    if after != before:
        old[rules.SETTINGS_KEY] = before.to_json()
        new[rules.SETTINGS_KEY] = after.to_json()
    if diag_after != diag_before:
        old[diagnostic_rules.SETTINGS_KEY] = diag_before.to_json()
        new[diagnostic_rules.SETTINGS_KEY] = diag_after.to_json()
    if new:
        plan.settings = {**plan.settings, **new}
        await uow.session.flush()
        uow.record(plan_id=plan.id, before=old, after=new)
    return PlanSettings(plan=plan, thresholds=after, diagnostics=diag_after)
