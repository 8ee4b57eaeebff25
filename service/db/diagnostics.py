"""SQL of plan diagnostics: what the rules read beyond the attainment roll-up, in a fixed
number of statements whatever the size of the version (never one per node)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.attainment import NodeRow, members_from_text
from service.db.engine import driver_connection
from service.domain.gcpause import paused_gc

_NODE_COLUMNS = """
SELECT n.key, d.kind, n.dimension_id, n.member_id, m.code, CAST(m.attributes AS text),
       (m.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM member c WHERE c.parent_id = m.id)),
       sd.kind, CAST(n.split_spec AS text), n.strategy{more}
FROM target_node n
LEFT JOIN member m ON m.id = n.member_id
LEFT JOIN dimension d ON d.id = n.dimension_id
LEFT JOIN dimension sd ON sd.id = n.split_dimension_id
WHERE n.version_id = :v
"""

NODES_SQL = _NODE_COLUMNS.format(more="")
KIND, MEMBER_ID, SPLIT_KIND = 1, 3, 7
"""Positions in a row of :data:`NODES_SQL`: its coordinate's dimension kind, its member,
the kind of the dimension its children split along."""

VERSION_NODES_SQL = (
    _NODE_COLUMNS.format(more=", n.parent_key, m.starts_on, m.ends_on, n.target, n.owner_id")
    + "ORDER BY n.sort_path"
)
"""The rows of :data:`NODES_SQL` followed by those of ``attainment.VERSION_NODES_SQL``
(parent key, the time member's range, target, owner), in tree order: what the
diagnosis and its attainment read need of the nodes, in one statement."""


async def version_nodes(
    session: AsyncSession, version_id: int
) -> tuple[list[NodeRow], dict[int, Sequence[Any]]]:
    """The attainment read's node rows (tree order) and, per node key, its row as
    :func:`node_rows` gives it (with five more columns after), from one statement."""
    conn = await driver_connection(session)
    rows = await conn.fetch(VERSION_NODES_SQL.replace(":v", "$1"), version_id)
    with paused_gc():
        nodes = [NodeRow(r[0], r[10], r[3], r[11], r[12], r[13], r[14]) for r in rows]
        return nodes, {r[0]: r for r in rows}


async def node_rows(session: AsyncSession, version_id: int) -> dict[int, Sequence[Any]]:
    """Per node key, its row of :data:`NODES_SQL`: (key, its coordinate's dimension kind,
    dimension id, member id, member code, member attributes, member is a leaf, split
    dimension kind, split spec, strategy). The JSON columns come as text (a member's
    attributes repeat on many nodes: decoded once per member by the caller), over the
    bare driver connection as the driver's rows (10,000 of them: no object per row)."""
    conn = await driver_connection(session)
    rows = await conn.fetch(NODES_SQL.replace(":v", "$1"), version_id)
    return {r[0]: r for r in rows}


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


CHANNEL_MEMBERS_SQL = """
SELECT m.id, m.path FROM member m JOIN dimension d ON d.id = m.dimension_id
WHERE d.kind = 'CHANNEL' AND m.id = ANY(CAST(:ids AS bigint[]))
"""

COMBOS_SQL = """
SELECT DISTINCT CAST(members AS text) FROM sales_fact
WHERE customer_ref IS NOT NULL AND sold_on >= :low AND sold_on < :high
"""

SHARED_SQL = """
WITH ch AS (
    SELECT CAST(c AS bigint[]) AS members, {unnested}
    FROM unnest(CAST($1 AS text[]), {masks}) AS u(c, {names})
    GROUP BY 1
), per AS (
    SELECT {aggregates}
    FROM sales_fact f JOIN ch ON ch.members = f.members
    WHERE f.customer_ref IS NOT NULL AND f.sold_on >= $2 AND f.sold_on < $3
    GROUP BY f.customer_ref
)
SELECT {names}, count(*) FROM per GROUP BY {names}
"""
"""Per customer, the channel members they bought in as bit masks (bit ``i`` of mask
``k``: the channel member ``63 k + i``), OR-ed over their sales; then the customers
counted per set of masks. The channel members of each combination of members are
worked out beforehand (a few thousand combinations, not a million sales): the sales
are joined to them on ``members`` and grouped by customer alone, where unnesting every
sale's members and keeping the distinct (customer, member) pairs hashed several times
as many rows. The combinations are grouped (they are distinct already) so that the
planner knows they are: it then hashes them, not the sales, and runs the join and the
grouping in parallel workers."""

BITS = 63


@dataclass(frozen=True, slots=True)
class SharedCustomers:
    combos: list[tuple[list[int], int]]
    """(channel members, customers buying in exactly those) for customers in several."""
    paths: dict[int, str]
    """The id paths of those channel members."""


def _masks(
    parsed: Mapping[str, Sequence[int]], place: Mapping[int, tuple[int, int]], words: int
) -> tuple[list[str], list[list[int]]]:
    """The combinations naming a channel member, and per word their channel bits."""
    texts: list[str] = []
    masks: list[list[int]] = [[] for _ in range(words)]
    for combo, members in parsed.items():
        mine = [0] * words
        for m in members:
            found = place.get(m)
            if found is not None:
                mine[found[0]] |= found[1]
        if any(mine):
            texts.append(combo)
            for k in range(words):
                masks[k].append(mine[k])
    return texts, masks


async def shared_customers(
    session: AsyncSession,
    low: date,
    high: date,
    combos: Mapping[str, Sequence[int]] | None = None,
) -> SharedCustomers:
    """Customers with sales in ``[low, high)`` in more than one channel member, counted by
    the set of channel members they bought in. ``combos``: every distinct ``members``
    of the sales in that range (array text: the ids), when the caller has them (the
    attainment read); read here otherwise. Three statements at most."""
    async with started_shared_customers(session, low, high, combos) as running:
        return await running.result()


@dataclass(slots=True)
class RunningSharedCustomers:
    """The shared-customers statement, sent and running on the database while the
    caller goes on with CPU work; :meth:`result` waits for its rows."""

    channels: list[int]
    """The channel members, by their bit (bit ``i`` of word ``k``: ``channels[63 k + i]``)."""
    paths: dict[int, str]
    running: asyncio.Task[list[Any]] | None
    """None: no sale names a channel member (nothing was sent)."""

    async def result(self) -> SharedCustomers:
        if self.running is None:
            return SharedCustomers(combos=[], paths={})
        rows = await self.running
        channels = self.channels
        out: list[tuple[list[int], int]] = []
        for row in rows:
            *words_of, count = row
            mids = [
                channels[k * BITS + i]
                for k, word in enumerate(words_of)
                for i in range(BITS)
                if word >> i & 1
            ]
            if len(mids) > 1:
                out.append((mids, int(count)))
        out.sort()
        return SharedCustomers(
            combos=out, paths={m: self.paths[m] for mids, _ in out for m in mids}
        )


@asynccontextmanager
async def started_shared_customers(
    session: AsyncSession,
    low: date,
    high: date,
    combos: Mapping[str, Sequence[int]] | None = None,
    *,
    skip: bool = False,
) -> AsyncIterator[RunningSharedCustomers]:
    """:func:`shared_customers` in two halves: the small statements (the combinations
    unless given, the channel members) on entry, then the large one sent, so that the
    database aggregates a year of sales while the caller computes (PostgreSQL works on
    a statement without the client waiting on it). Inside the block the session must
    run no other statement until :meth:`RunningSharedCustomers.result` has returned; on
    leaving the block a statement still running is cancelled and waited for, so the
    connection is free again whatever happened. ``skip``: nothing to read (no split
    by channel), an empty result without a statement."""
    if skip:
        yield RunningSharedCustomers(channels=[], paths={}, running=None)
        return
    if combos is None:
        result = await session.execute(text(COMBOS_SQL), {"low": low, "high": high})
        parsed: Mapping[str, Sequence[int]] = {r[0]: members_from_text(r[0]) for r in result.all()}
    else:
        parsed = combos
    named = sorted({m for members in parsed.values() for m in members})
    result = await session.execute(text(CHANNEL_MEMBERS_SQL), {"ids": named})
    paths = {int(i): p for i, p in result.all()}
    channels = sorted(paths)
    if not channels:
        yield RunningSharedCustomers(channels=[], paths={}, running=None)
        return
    # channel member -> (its word, its bit in the word)
    place = {m: (i // BITS, 1 << (i % BITS)) for i, m in enumerate(channels)}
    words = (len(channels) + BITS - 1) // BITS
    with paused_gc():
        texts, masks = _masks(parsed, place, words)
    names = [f"m{k}" for k in range(words)]
    statement = SHARED_SQL.format(
        unnested=", ".join(f"bit_or({n}) AS {n}" for n in names),
        masks=", ".join(f"CAST(${k + 4} AS bigint[])" for k in range(words)),
        names=", ".join(names),
        aggregates=", ".join(f"bit_or(ch.{n}) AS {n}" for n in names),
    )
    conn = await driver_connection(session)
    # prepared first (a round trip), so that the task's first step sends the execution
    prepared = await conn.prepare(statement)
    running = asyncio.ensure_future(prepared.fetch(texts, low, high, *masks))
    await asyncio.sleep(0)  # the task's first step: Bind and Execute go out
    try:
        yield RunningSharedCustomers(channels=channels, paths=paths, running=running)
    finally:
        if not running.done():
            running.cancel()
            await asyncio.wait([running])  # the connection is free once it has ended
        if not running.cancelled():
            running.exception()  # retrieved: the caller's error is the one to report


async def actuals_through(session: AsyncSession, low: date, high: date) -> date | None:
    """The last day in ``[low, high)`` with a sale."""
    result = await session.execute(
        text("SELECT max(sold_on) FROM sales_fact WHERE sold_on >= :low AND sold_on < :high"),
        {"low": low, "high": high},
    )
    found: date | None = result.scalar()
    return found
