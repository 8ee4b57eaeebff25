"""Diagnostics reads: a version's findings and readiness as of a date.

The rules (``service.domain.diagnostics``) take plain data; this gathers it in a fixed
number of statements whatever the size of the version: the attainment roll-up (header,
nodes, sales by members and date bucket a statement per fiscal year, paths: every
node's actual to date, its history in earlier years, and the last day with sales),
then the nodes' coordinates, splits and strategies, the dimensions' tiers, the
reviews, the market sizes of the region members and, when the version splits by
channel, the customers bought in more than one channel (over the member combinations
the attainment read found, when it covered that year).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import orjson

from service.db import attainment as att_sql
from service.db import diagnostics as sql
from service.db.engine import Database, Session
from service.domain import diagnostics as rules
from service.domain.attainment import Period, Status, day_after, years_back
from service.domain.diagnostics import Code, Finding, Node, Readiness, Severity, Thresholds
from service.domain.gcpause import paused_gc
from service.domain.members import MemberAttributes
from service.domain.paths import path_ids
from service.domain.tree import DimensionKind
from service.plans.attainment import (
    AttainmentRead,
    VersionAttainment,
    not_found,
    read_version_attainment_on,
)

DEFAULT_FINDINGS = 100
"""Findings one read returns unless it asks for another number."""
MAX_FINDINGS = 1000
"""Most findings one read returns."""
MAX_UNOWNED_LEAVES = 500
"""Most unowned leaves ``Readiness.unownedLeaves`` returns."""


@dataclass(slots=True)
class VersionDiagnostics:
    """A version's findings (tree order) and what readiness needs."""

    version_id: int
    as_of: date
    thresholds: Thresholds
    nodes: list[Node]
    facts: rules.Facts
    findings: list[Finding]
    attainment: VersionAttainment
    _readiness: Readiness | None = None
    _children: dict[int, list[int]] | None = None

    def subtree(self, key: int) -> set[int]:
        if self._children is None:  # only node-level reads need it: built on first use
            self._children = {}
            for n in self.nodes:
                if n.parent_key is not None:
                    self._children.setdefault(n.parent_key, []).append(n.key)
        out: set[int] = set()
        stack = [key]
        while stack:
            k = stack.pop()
            out.add(k)
            stack.extend(self._children.get(k, ()))
        return out

    def select(
        self,
        *,
        keys: set[int] | None = None,
        severities: Iterable[Severity] | None = None,
        codes: Iterable[Code] | None = None,
    ) -> list[Finding]:
        sev = set(severities) if severities else None
        cod = set(codes) if codes else None
        return [
            f
            for f in self.findings
            if (keys is None or f.node_key in keys)
            and (sev is None or f.severity in sev)
            and (cod is None or f.code in cod)
        ]

    @property
    def thresholds_alert(self) -> Decimal:
        """The plan's alert pace (``PlanVersion.alerts`` lists the nodes below it)."""
        return self.attainment.thresholds.alert

    def readiness(self) -> Readiness:
        """Readiness; open alerts counted as ``PlanVersion.alerts`` lists them (started
        nodes below the plan's alert pace), without ranking them."""
        if self._readiness is None:
            limit = Fraction(self.thresholds_alert)
            alerts = sum(
                1
                for a in self.attainment.all_nodes().values()
                if a.status is not Status.NOT_STARTED and a.pace is not None and a.pace < limit
            )
            self._readiness = rules.readiness(self.nodes, self.facts, open_alerts=alerts)
        return self._readiness


def split_method(spec: Mapping[str, Any] | None) -> str | None:
    """The allocation method a stored split spec names (matrix rows: their columns')."""
    if not spec:
        return None
    if "columns" in spec and isinstance(spec["columns"], Mapping):
        spec = spec["columns"]
    inner = spec.get("spec")
    method = inner.get("method") if isinstance(inner, Mapping) else spec.get("method")
    return method if isinstance(method, str) else None


_KINDS: dict[str | None, DimensionKind | None] = {k.value: k for k in DimensionKind}
_KINDS[None] = None


def _potential(
    attributes: MemberAttributes,
    member_id: int | None,
    markets: list[tuple[int, date, date, int]],
    low: date,
    high: date,
) -> Fraction | None:
    if attributes.market_potential is not None:
        return Fraction(attributes.market_potential)
    total = Fraction(0)
    seen = False
    for m, start, end, amount in markets:
        if m != member_id:
            continue
        overlap = (min(end, high) - max(start, low)).days
        if overlap > 0:
            seen = True
            total += Fraction(amount * overlap, (end - start).days)
    return total if seen else None


def _covers(scan: tuple[date, date] | None, low: date, high: date) -> bool:
    return scan is not None and scan[0] <= low and high <= scan[1]


async def _actuals_through(
    session: Session, numbers: AttainmentRead | VersionAttainment, low: date, high: date
) -> date | None:
    """The last day in ``[low, high)`` with a sale: from the attainment read where its
    chunks cover the range, read for the rest."""
    found, rest = numbers.last_sale(low, high)
    for start, end in rest:
        day = await sql.actuals_through(session, start, end)
        if day is not None and (found is None or day > found):
            found = day
    return found


def _combos(
    numbers: AttainmentRead | VersionAttainment, low: date, high: date
) -> Mapping[str, Sequence[int]] | None:
    """The combinations of members of the sales in ``[low, high)`` (array text: ids) when
    the attainment read read every sale of that range; None otherwise."""
    if not _covers(numbers.scan, low, high):
        return None
    if isinstance(numbers, AttainmentRead):
        return numbers.found.parsed
    return {text: numbers.combos[i] for text, i in numbers.combo_index.items()}


async def diagnose_version(
    db: Database, version_id: int, as_of: date, attainment: VersionAttainment | None = None
) -> VersionDiagnostics:
    """Every finding of a version as of ``as_of``, on a session of its own."""
    async with db.read_session() as session:
        return await diagnose_version_on(session, version_id, as_of, attainment)


async def diagnose_version_on(
    session: Session, version_id: int, as_of: date, attainment: VersionAttainment | None = None
) -> VersionDiagnostics:
    """Every finding of a version as of ``as_of`` (a fixed number of statements on
    ``session``; the version's attainment read too unless given).

    The statements run first, the largest last: the customers shared between channels,
    a year of sales grouped by customer. The database aggregates them while Python
    computes the attainment, the rules' view of the nodes and every rule but the channel
    conflicts' (``rules.diagnose_pending``), which need none of it."""
    read: AttainmentRead | None = None
    numbers: AttainmentRead | VersionAttainment
    if attainment is None:  # the nodes in one statement for both reads
        node_rows, rows = await sql.version_nodes(session, version_id)
        if not node_rows:
            raise not_found()
        numbers = read = await read_version_attainment_on(session, version_id, as_of, node_rows)
        year = read.nodes[0].period
        settings = read.settings
    else:
        numbers = attainment
        rows = await sql.node_rows(session, version_id)
        year = attainment.nodes[0].period
        header = await att_sql.version_header(session, version_id)
        if header is None:
            raise not_found()
        settings = header[2] or {}
    tiers = await sql.dimension_tiers(session)
    reviews = await sql.reviews(session, version_id)
    history_low = years_back(year.start, 1)
    through = await _actuals_through(session, numbers, history_low, day_after(as_of))
    regions = sorted(
        {r[sql.MEMBER_ID] for r in rows.values() if r[sql.KIND] == "REGION" and r[sql.MEMBER_ID]}
    )
    markets = await att_sql.market_sizes(session, regions, year.start, year.end)
    thresholds = rules.thresholds_from(settings)
    low, high = years_back(day_after(as_of), 1), day_after(as_of)
    by_channel = any(r[sql.SPLIT_KIND] == "CHANNEL" for r in rows.values())
    async with sql.started_shared_customers(
        session, low, high, _combos(numbers, low, high), skip=not by_channel
    ) as running:
        # no statement from here until the shared customers are in
        finished = read.computed() if read is not None else numbers
        assert isinstance(finished, VersionAttainment)
        with paused_gc():  # tens of thousands of objects, none in a cycle; no await inside
            nodes = _nodes(finished, rows, markets, year, as_of)
            facts = rules.Facts(
                as_of=as_of,
                thresholds=thresholds,
                reviews=[rules.ReviewFact(k, p, h) for k, p, h in reviews],
                tiers=tiers,
                actuals_through=through,
            )
            pending = rules.diagnose_pending(nodes, facts)
        shared = await running.result()
    with paused_gc():
        facts = replace(
            facts,
            shared_customers=[
                (frozenset(i for m in mids for i in path_ids(shared.paths[m])), count)
                for mids, count in shared.combos
            ],
        )
        findings = pending.complete(facts.shared_customers)
    return VersionDiagnostics(
        version_id=version_id,
        as_of=as_of,
        thresholds=thresholds,
        nodes=nodes,
        facts=facts,
        findings=findings,
        attainment=finished,
    )


def _nodes(
    numbers: VersionAttainment,
    rows: Mapping[int, Sequence[Any]],
    markets: list[tuple[int, date, date, int]],
    year: Period,
    as_of: date,
) -> list[Node]:
    """The rules' view of every node: the attainment read's target, period, owner,
    actual and history beside the node row's coordinate, split and strategy."""
    actual: dict[int, int] = {}
    history: dict[int, int] = {}
    by_period: dict[Period, list[int]] = {}
    for rn in numbers.nodes:
        by_period.setdefault(rn.period, []).append(rn.key)
    for period, keys in by_period.items():
        actuals, _, totals = numbers.rolled.pooled(keys, period, as_of)
        actual.update(zip(keys, actuals, strict=True))
        history.update(zip(keys, totals, strict=True))
    attributes: dict[int | None, MemberAttributes] = {None: MemberAttributes()}
    methods: dict[str | None, str | None] = {None: None}
    kinds = _KINDS
    nodes: list[Node] = []
    for rn in numbers.nodes:
        r = rows[rn.key]  # the columns of sql.NODES_SQL (and maybe more after)
        kind, dimension_id, member_id, code, raw_attrs = r[1], r[2], r[3], r[4], r[5]
        leaf, split_kind, spec, strategy = r[6], r[7], r[8], r[9]
        attrs = attributes.get(member_id)
        if attrs is None:
            attrs = attributes[member_id] = MemberAttributes.from_json(
                orjson.loads(raw_attrs) if raw_attrs else {}
            )
        method = methods.get(spec, methods)
        if method is methods:  # split specs repeat (a matrix, a method per level)
            method = methods[spec] = split_method(orjson.loads(spec))
        region = kind == "REGION"
        nodes.append(
            Node(
                key=rn.key,
                parent_key=rn.parent_key,
                target=rn.target,
                start=rn.period.start,
                end=rn.period.end,
                kind=kinds[kind],
                dimension_id=dimension_id,
                member_id=member_id,
                label=code or "the plan",
                attributes=attrs,
                member_leaf=leaf,
                split_kind=kinds[split_kind],
                split_method=method,  # type: ignore[arg-type]
                owner_id=rn.owner_id,
                strategy=strategy,
                history=history[rn.key],
                actual=actual[rn.key],
                potential=_potential(attrs, member_id, markets, year.start, year.end)
                if region
                else None,
            )
        )
    return nodes
