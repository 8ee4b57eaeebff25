"""SQL of attainment: a version's nodes as the roll-up needs them, sales aggregated to
(members, date bucket) with the members' paths, the sales with split credit apart, and
the KPI reads.

A fixed number of statements make the attainment of a whole version (never one per
node: the nodes, one per fiscal-year chunk of the sales, the paths); the roll-up to
nodes by hierarchy is in ``service.domain.attainment_rollup``. The big reads go over
the bare asyncpg connection under the session (:func:`driver_connection`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.engine import driver_connection
from service.domain.gcpause import paused_gc


@dataclass(slots=True)
class NodeRow:
    """A node as the attainment read needs it (not frozen: one per node per read, see
    ``service.domain.diagnostics.Node``)."""

    key: int
    parent_key: int | None
    member_id: int | None
    starts_on: date | None
    """Its own coordinate's range when that is a time member."""
    ends_on: date | None
    target: int
    owner_id: int | None


VERSION_HEADER_SQL = """
SELECT v.plan_id, p.measure, p.settings, p.minor_digits, y.starts_on, y.ends_on
FROM plan_version v JOIN plan p ON p.id = v.plan_id
LEFT JOIN LATERAL (
    SELECT starts_on, ends_on FROM member
    WHERE dimension_id = p.time_dimension_id AND parent_id IS NULL
    ORDER BY sort_path LIMIT 1
) y ON true
WHERE v.id = :v
"""


async def version_header(session: AsyncSession, version_id: int) -> Any:
    """(plan id, measure, settings, minor digits, fiscal year start, end) or None."""
    return (await session.execute(text(VERSION_HEADER_SQL), {"v": version_id})).first()


VERSION_NODES_SQL = """
SELECT n.key, n.parent_key, n.member_id, m.starts_on, m.ends_on, n.target, n.owner_id
FROM target_node n LEFT JOIN member m ON m.id = n.member_id
WHERE n.version_id = :v
ORDER BY n.sort_path
"""


async def version_nodes(session: AsyncSession, version_id: int) -> list[NodeRow]:
    """Every node of a version in tree order (parents first), over the bare driver
    connection (10,000 rows: SQLAlchemy's result rows cost more than the read)."""
    conn = await driver_connection(session)
    rows = await conn.fetch(VERSION_NODES_SQL.replace(":v", "$1"), version_id)
    with paused_gc():
        return [NodeRow(*r) for r in rows]


SOME_NODES_SQL = """
WITH wanted AS (
    SELECT path FROM target_node WHERE version_id = :v AND key = ANY(CAST(:keys AS bigint[]))
), keys AS (
    SELECT CAST(k AS bigint) AS key
    FROM wanted, unnest(string_to_array(rtrim(wanted.path, '.'), '.')) AS k
)
SELECT n.key, n.parent_key, n.member_id, m.starts_on, m.ends_on, n.target, n.owner_id
FROM target_node n LEFT JOIN member m ON m.id = n.member_id
WHERE n.version_id = :v
  AND (n.key IN (SELECT key FROM keys) OR n.parent_key = ANY(CAST(:keys AS bigint[])))
ORDER BY n.sort_path
"""


async def some_nodes(session: AsyncSession, version_id: int, keys: Sequence[int]) -> list[NodeRow]:
    """Nodes ``keys`` of a version, their ancestors and their children, in tree order."""
    result = await session.execute(text(SOME_NODES_SQL), {"v": version_id, "keys": list(keys)})
    return [NodeRow(*r) for r in result.all()]


async def descendants(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, list[int]]:
    """Per member: itself and every descendant (by path)."""
    if not member_ids:
        return {}
    result = await session.execute(
        text(
            "SELECT a.id, d.id FROM member a JOIN member d ON d.path LIKE a.path || '%' "
            "WHERE a.id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": list(member_ids)},
    )
    out: dict[int, list[int]] = {m: [m] for m in member_ids}
    for a, d in result.all():
        if d != a:
            out[int(a)].append(int(d))
    return out


def overlap_condition(member_ids: Sequence[int] | None) -> str:
    """SQL: a sale naming one of ``member_ids`` (None: every sale). The ids are integers
    from the database, written as a literal."""
    if member_ids is None:
        return "true"
    return "members && CAST('{" + ",".join(str(int(m)) for m in member_ids) + "}' AS bigint[])"


CHUNK_SQL = """
SELECT CAST(members AS text), max(sold_on), {totals}
FROM sales_fact
WHERE sold_on >= DATE '{low}' AND sold_on < DATE '{high}' AND {where}
GROUP BY members
"""
"""The sales of one *chunk* (the range between two consecutive cuts, e.g. a fiscal
year) grouped by ``members`` alone (the floor's grouping), with one total per date
bucket inside the chunk as a ``FILTER`` column: a row tests only its own chunk's
buckets (a handful), not every bucket of every year. Any wider grouping key (a
(members, bucket) key, or the credits) makes PostgreSQL hash several times more
groups, or sort the rows and spill them to disk. One statement per chunk, not one
UNION ALL: PostgreSQL would run each branch of a union whole in one process (a
parallel append), the largest year alone on one core, where a single aggregation
spreads every chunk over all its workers. Members come as text and the totals as
bigint columns: asyncpg decodes those three times faster than arrays (the distinct
members are parsed once each in Python).

The dates are written into the statement as literals (they come from ``date``
objects, never from input text), so partition pruning and the planner's row
estimates see them. The last day with a sale comes along (``max(sold_on)``, a cheap
extra aggregate) for the diagnostics' freshness of actuals."""

CREDITED_SQL = """
SELECT CAST(members AS text), CAST(credits AS text), {totals}
FROM sales_fact
WHERE sold_on >= DATE '{low}' AND sold_on < DATE '{high}' AND credits IS NOT NULL
GROUP BY members, credits
"""
"""The sales with split credit of one chunk by (members, credits): read only when an
owner's numbers are asked for (node numbers count every sale once)."""

MEASURES = {"AMOUNT": "amount", "QUANTITY": "round(coalesce(quantity, 0))"}


@dataclass(frozen=True, slots=True)
class Chunk:
    """Buckets ``first .. first + count - 1`` (bucket ``i`` is ``[bounds[i-1], bounds[i])``)."""

    first: int
    count: int


@dataclass(frozen=True, slots=True)
class FactGroups:
    """Sales of ``[cuts[0], cuts[-1])`` by chunk and ``members``: per chunk its rows (the
    members as PostgreSQL array text ``{1,2}``, their last day with a sale, then one
    total per bucket of the chunk); the paths of every member they name."""

    chunks: list[Chunk]
    rows: list[Sequence[Sequence[Any]]]
    paths: dict[int, str]
    parsed: dict[str, list[int]] = field(default_factory=dict)
    """Every distinct ``members`` text of the rows, parsed (once)."""


def members_from_text(members: str) -> list[int]:
    """``[1, 2]`` from PostgreSQL's array text ``{1,2}`` (of a ``bigint[]``: digits and
    commas only), parsed as the JSON array ``[1,2]`` (three times faster than splitting
    the text and converting each part)."""
    found: list[int] = orjson.loads(f"[{members[1:-1]}]")
    return found


def _totals(measure: str, inner: Sequence[date], count: int) -> str:
    value = MEASURES[measure]
    if count == 1:
        return f"CAST(sum({value}) AS bigint)"
    parts = []
    for i in range(count):
        test = []
        if i > 0:
            test.append(f"sold_on >= DATE '{inner[i - 1].isoformat()}'")
        if i < count - 1:
            test.append(f"sold_on < DATE '{inner[i].isoformat()}'")
        parts.append(
            f"CAST(coalesce(sum({value}) FILTER (WHERE {' AND '.join(test)}), 0) AS bigint)"
        )
    return ", ".join(parts)


def fact_groups_sql(
    bounds: Sequence[date],
    cuts: Sequence[date],
    measure: str = "AMOUNT",
    template: str = CHUNK_SQL,
    where: str = "true",
) -> list[tuple[Chunk, str]]:
    """The chunks and their statements, for bucket ``bounds`` and chunk ``cuts`` (a
    sorted subset of ``bounds``)."""
    position = {d: i for i, d in enumerate(bounds)}
    out: list[tuple[Chunk, str]] = []
    for low, high in itertools.pairwise(cuts):
        lo, hi = position[low], position[high]
        if hi <= lo:
            continue
        statement = template.format(
            totals=_totals(measure, bounds[lo + 1 : hi], hi - lo),
            low=low.isoformat(),
            high=high.isoformat(),
            where=where,
        )
        out.append((Chunk(first=lo + 1, count=hi - lo), statement))
    return out


async def fact_groups(
    session: AsyncSession,
    bounds: Sequence[date],
    cuts: Sequence[date],
    measure: str = "AMOUNT",
    where: str = "true",
) -> FactGroups:
    """The sales of ``[cuts[0], cuts[-1])`` by chunk and members (a statement per
    chunk; ``where``: an extra condition, see :func:`slices_condition`), and the paths
    of the members they name (one more)."""
    plan = fact_groups_sql(bounds, cuts, measure, where=where) if len(cuts) >= 2 else []
    if not plan:
        return FactGroups(chunks=[], rows=[], paths={})
    conn = await driver_connection(session)
    rows = [await conn.fetch(statement) for _, statement in plan]
    parsed: dict[str, list[int]] = {}
    with paused_gc():
        for chunk in rows:  # a combination sold in several chunks is parsed once
            for r in chunk:
                if r[0] not in parsed:
                    parsed[r[0]] = members_from_text(r[0])
    named = {m for members in parsed.values() for m in members}
    paths = await member_paths(session, sorted(named))
    return FactGroups(chunks=[chunk for chunk, _ in plan], rows=rows, paths=paths, parsed=parsed)


async def credited_groups(
    session: AsyncSession, bounds: Sequence[date], cuts: Sequence[date], measure: str = "AMOUNT"
) -> list[Sequence[Sequence[Any]]]:
    """Per chunk (as :func:`fact_groups`): the sales with split credit by members and
    credits (members as array text, credits as JSON text, the totals per bucket)."""
    plan = fact_groups_sql(bounds, cuts, measure, CREDITED_SQL) if len(cuts) >= 2 else []
    if not plan:
        return []
    conn = await driver_connection(session)
    return [await conn.fetch(statement) for _, statement in plan]


# --- KPIs -------------------------------------------------------------------------------

KPI_SQL = """
WITH slice AS (
    SELECT * FROM unnest(CAST(:idx AS int[]), CAST(:low AS date[]), CAST(:high AS date[]))
        AS s(idx, low, high)
),
combo AS (
    SELECT c.idx, CAST(c.members AS bigint[]) AS members
    FROM unnest(CAST(:combo_idx AS int[]), CAST(:combo_members AS text[])) AS c(idx, members)
),
hit AS (
    SELECT s.idx, f.sold_on, f.{measure} AS amount, f.order_ref, f.customer_ref
    FROM combo c
    JOIN slice s ON s.idx = c.idx
    JOIN sales_fact f ON f.members = c.members AND f.sold_on >= s.low AND f.sold_on < s.high
),
per_customer AS (
    SELECT idx, customer_ref, count(DISTINCT coalesce(order_ref, '')) AS orders
    FROM hit WHERE customer_ref IS NOT NULL GROUP BY idx, customer_ref
),
first_purchase AS (
    SELECT f.customer_ref, min(f.sold_on) AS first_on
    FROM sales_fact f
    WHERE f.customer_ref IN (SELECT customer_ref FROM per_customer)
    GROUP BY f.customer_ref
)
SELECT s.idx,
       (SELECT count(DISTINCT order_ref) FROM hit h WHERE h.idx = s.idx),
       (SELECT coalesce(sum(amount), 0) FROM hit h WHERE h.idx = s.idx),
       (SELECT count(*) FROM per_customer p WHERE p.idx = s.idx),
       (SELECT count(*) FROM per_customer p WHERE p.idx = s.idx AND p.orders > 1),
       (SELECT count(*) FROM per_customer p JOIN first_purchase fp USING (customer_ref)
         WHERE p.idx = s.idx AND fp.first_on >= s.low AND fp.first_on < s.high)
FROM slice s
"""


@dataclass(frozen=True, slots=True)
class KpiCounts:
    orders: int
    amount: int
    customers: int
    repeat_customers: int
    new_customers: int


async def kpi_counts(
    session: AsyncSession,
    slices: Sequence[tuple[date, date, Sequence[Sequence[int]]]],
    measure: str = "AMOUNT",
) -> list[KpiCounts]:
    """Per slice (``[low, high)`` and the member combinations inside it): orders,
    sales, customers, repeat customers and new customers. One statement."""
    if not slices:
        return []
    idx, combo_idx, combo_members = [], [], []
    for i, (_, _, combos) in enumerate(slices):
        idx.append(i)
        for members in combos:
            combo_idx.append(i)
            combo_members.append("{" + ",".join(str(m) for m in members) + "}")
    column = "amount" if measure == "AMOUNT" else "quantity"
    result = await session.execute(
        text(KPI_SQL.format(measure=column)),
        {
            "idx": idx,
            "low": [s[0] for s in slices],
            "high": [s[1] for s in slices],
            "combo_idx": combo_idx,
            "combo_members": combo_members,
        },
    )
    found = {int(r[0]): r for r in result.all()}
    return [
        KpiCounts(
            orders=int(found[i][1]),
            amount=int(found[i][2]),
            customers=int(found[i][3]),
            repeat_customers=int(found[i][4]),
            new_customers=int(found[i][5]),
        )
        for i in idx
    ]


OPPORTUNITY_SQL = """
SELECT members, width_bucket(closed_on, CAST(:bounds AS date[])) AS b,
       count(*) FILTER (WHERE outcome = 'WON'), count(*) FILTER (WHERE outcome = 'LOST')
FROM opportunity_fact
WHERE closed_on >= :low AND closed_on < :high
GROUP BY members, b
"""


async def opportunity_groups(
    session: AsyncSession, bounds: Sequence[date]
) -> list[tuple[list[int], int, int, int]]:
    """(members, bucket, won, lost) of the opportunities closed in the bounds."""
    if len(bounds) < 2:
        return []
    result = await session.execute(
        text(OPPORTUNITY_SQL), {"bounds": list(bounds), "low": bounds[0], "high": bounds[-1]}
    )
    return [(list(m), int(b), int(w), int(lost)) for m, b, w, lost in result.all()]


async def member_paths(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    result = await session.execute(
        text("SELECT id, path FROM member WHERE id = ANY(CAST(:ids AS bigint[]))"),
        {"ids": list(member_ids)},
    )
    return {int(i): p for i, p in result.all()}


async def market_sizes(
    session: AsyncSession, member_ids: Sequence[int], low: date, high: date
) -> list[tuple[int, date, date, int]]:
    """(member, starts_on, ends_on, amount) of the market sizes overlapping ``[low, high)``."""
    if not member_ids:
        return []
    result = await session.execute(
        text(
            "SELECT member_id, starts_on, ends_on, amount FROM market_size "
            "WHERE member_id = ANY(CAST(:ids AS bigint[])) AND starts_on < :high "
            "AND ends_on > :low"
        ),
        {"ids": list(member_ids), "low": low, "high": high},
    )
    return [(int(m), s, e, int(a)) for m, s, e, a in result.all()]
