"""SQL of attainment: a version's nodes as the roll-up needs them, sales aggregated to
(members, date bucket, credits) with the members' paths, and the KPI reads.

Two statements make the attainment of a whole version (never one per node); the
roll-up to nodes by hierarchy is in ``service.domain.attainment_rollup``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class NodeRow:
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
    """Every node of a version in tree order (parents first)."""
    result = await session.execute(text(VERSION_NODES_SQL), {"v": version_id})
    return [NodeRow(*r) for r in result.all()]


FACT_GROUPS_SQL = """
WITH g AS (
    SELECT members, {totals} AS amounts
    FROM (
        SELECT members, width_bucket(sold_on, CAST(:bounds AS date[])) AS b,
               {measure} AS v
        FROM sales_fact
        WHERE sold_on >= :low AND sold_on < :high
    ) f
    GROUP BY members
), c AS (
    SELECT members, width_bucket(sold_on, CAST(:bounds AS date[])) AS b, credits,
           sum({measure}) AS v
    FROM sales_fact
    WHERE sold_on >= :low AND sold_on < :high AND credits IS NOT NULL
    GROUP BY members, b, credits
)
SELECT 0, g.members, g.amounts, NULL::jsonb, NULL::numeric, NULL::int, NULL::text FROM g
UNION ALL
SELECT 1, c.members, NULL, c.credits, c.v, c.b, NULL FROM c
UNION ALL
SELECT 2, ARRAY[m.id], NULL, NULL, NULL, NULL, m.path
FROM member m WHERE m.id IN (SELECT DISTINCT unnest(members) FROM g)
"""
"""The totals grouped by ``members`` alone (the floor's grouping), one total per date
bucket as a ``FILTER`` column; the sales with split credit apart, by (members, bucket,
credits): the part without credit is the difference. Anything wider in the first
grouping (a (members, bucket) key, a second set of sums, an aggregate of the credits)
makes PostgreSQL sort the million rows and spill them to disk instead of hashing."""

MEASURES = {"AMOUNT": "amount", "QUANTITY": "round(coalesce(quantity, 0))"}


@dataclass(frozen=True, slots=True)
class FactGroups:
    """Sales of ``[bounds[0], bounds[-1])`` by ``members``: per bucket ``i`` (1 ..
    ``len(bounds) - 1``, ``[bounds[i-1], bounds[i])``) the total; the credited sales by
    (members, bucket, credits); the paths of every member they name."""

    groups: list[tuple[list[int], list[int]]]
    credited: list[tuple[list[int], int, dict[str, Any], Decimal]]
    paths: dict[int, str]


def fact_groups_sql(bounds: int, measure: str = "AMOUNT") -> str:
    """The statement for ``bounds`` bucket bounds (``:bounds``, ``:low``, ``:high``)."""
    totals = ", ".join(f"coalesce(sum(v) FILTER (WHERE b = {i}), 0)" for i in range(1, bounds))
    return FACT_GROUPS_SQL.format(
        measure=MEASURES[measure], totals=f"CAST(ARRAY[{totals}] AS bigint[])"
    )


async def fact_groups(
    session: AsyncSession, bounds: Sequence[date], measure: str = "AMOUNT"
) -> FactGroups:
    """One statement: the aggregations and the members' paths (for the hierarchy)."""
    if len(bounds) < 2:
        return FactGroups(groups=[], credited=[], paths={})
    result = await session.execute(
        text(fact_groups_sql(len(bounds), measure)),
        {"bounds": list(bounds), "low": bounds[0], "high": bounds[-1]},
    )
    groups: list[tuple[list[int], list[int]]] = []
    credited: list[tuple[list[int], int, dict[str, Any], Decimal]] = []
    paths: dict[int, str] = {}
    for kind, members, amounts, credits, value, bucket, path in result.all():
        if kind == 0:
            groups.append((members, amounts))
        elif kind == 1:
            credited.append((members, bucket, credits, value))
        else:
            paths[members[0]] = path
    return FactGroups(groups=groups, credited=credited, paths=paths)


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
