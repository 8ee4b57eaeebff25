"""SQL of plan diagnostics: what the rules read beyond the attainment roll-up, in a fixed
number of statements whatever the size of the version (never one per node)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class DiagNodeRow:
    key: int
    kind: str | None
    dimension_id: int | None
    member_id: int | None
    code: str | None
    attributes: dict[str, Any] | None
    member_leaf: bool
    split_kind: str | None
    split_spec: dict[str, Any] | None
    strategy: str | None


NODES_SQL = """
SELECT n.key, d.kind, n.dimension_id, n.member_id, m.code, m.attributes,
       (m.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM member c WHERE c.parent_id = m.id)),
       sd.kind, n.split_spec, n.strategy
FROM target_node n
LEFT JOIN member m ON m.id = n.member_id
LEFT JOIN dimension d ON d.id = n.dimension_id
LEFT JOIN dimension sd ON sd.id = n.split_dimension_id
WHERE n.version_id = :v
"""


async def node_rows(session: AsyncSession, version_id: int) -> dict[int, DiagNodeRow]:
    """Per node key: its coordinate's dimension kind and member, split, strategy."""
    result = await session.execute(text(NODES_SQL), {"v": version_id})
    return {int(r[0]): DiagNodeRow(*r) for r in result.all()}


async def dimension_tiers(session: AsyncSession) -> dict[int, list[str]]:
    """Tier order (best first) of every customer dimension that sets one."""
    result = await session.execute(
        text("SELECT id, config->'tiers' FROM dimension WHERE config ? 'tiers'")
    )
    return {int(i): list(t) for i, t in result.all() if isinstance(t, list)}


async def reviews(session: AsyncSession, version_id: int) -> list[tuple[int, int | None, date]]:
    """(node key, period member, held on) of the version's reviews."""
    result = await session.execute(
        text("SELECT node_key, period_member_id, held_on FROM review WHERE version_id = :v"),
        {"v": version_id},
    )
    return [(int(k), p, h) for k, p, h in result.all()]


SHARED_SQL = """
WITH pairs AS (
    SELECT DISTINCT f.customer_ref, x.mid
    FROM sales_fact f CROSS JOIN LATERAL unnest(f.members) AS x(mid)
    WHERE f.customer_ref IS NOT NULL AND f.sold_on >= :low AND f.sold_on < :high
      AND x.mid IN (
          SELECT m.id FROM member m JOIN dimension d ON d.id = m.dimension_id
          WHERE d.kind = 'CHANNEL'
      )
), shared AS (
    SELECT array_agg(mid ORDER BY mid) AS mids FROM pairs
    GROUP BY customer_ref HAVING count(*) > 1
), combos AS (
    SELECT mids, count(*) AS customers FROM shared GROUP BY mids
)
SELECT 0, c.mids, c.customers, NULL::text FROM combos c
UNION ALL
SELECT 1, ARRAY[m.id], NULL, m.path FROM member m
WHERE m.id IN (SELECT unnest(mids) FROM combos)
"""


@dataclass(frozen=True, slots=True)
class SharedCustomers:
    combos: list[tuple[list[int], int]]
    """(channel members, customers buying in exactly those) for customers in several."""
    paths: dict[int, str]
    """The id paths of those channel members."""


async def shared_customers(session: AsyncSession, low: date, high: date) -> SharedCustomers:
    """Customers with sales in ``[low, high)`` in more than one channel member, counted by
    the set of channel members they bought in; one statement."""
    result = await session.execute(text(SHARED_SQL), {"low": low, "high": high})
    combos: list[tuple[list[int], int]] = []
    paths: dict[int, str] = {}
    for kind, mids, count, path in result.all():
        if kind == 0:
            combos.append((list(mids), int(count)))
        else:
            paths[int(mids[0])] = path
    return SharedCustomers(combos=combos, paths=paths)


async def actuals_through(session: AsyncSession, low: date, high: date) -> date | None:
    """The last day in ``[low, high)`` with a sale."""
    result = await session.execute(
        text("SELECT max(sold_on) FROM sales_fact WHERE sold_on >= :low AND sold_on < :high"),
        {"low": low, "high": high},
    )
    found: date | None = result.scalar()
    return found
