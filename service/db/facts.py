"""Reads of the sales facts: what was sold inside many slices, in one statement.

``slice_totals`` is the one generic, hierarchy-aware read of ``sales_fact``: for
each query (a slice's non-time coordinates and a date range ``[start, end)``) it
sums the facts whose date lies in the range and that hold, on every coordinate,
the member or any descendant of it (a sale in a city counts for its region). A
query without coordinates counts every fact of the range. Many queries go in one
statement whatever their number (arrays as parameters, no ``IN (...)`` lists).

The time dimension is never a coordinate here: a fact's date places it in time,
so a caller turns a time member into its date range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class SliceQuery:
    """Facts inside a slice: on each ``(dimension id, member id)`` the member or any of
    its descendants, and ``start <= sold_on < end``."""

    coordinates: Sequence[tuple[int, int]]
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class SliceTotal:
    """What the facts of one slice add up to."""

    amount: int
    """Summed amount, in minor units of the facts' currency."""
    quantity: Decimal
    count: int
    """Number of facts (sale lines)."""


SLICE_TOTALS_SQL = """
-- the coordinate members, each with every member at or below it
SELECT a.id AS c, a.dimension_id AS dimension, a.depth, d.id AS m,
       NULL::bigint[] AS members, NULL::integer AS k,
       NULL::numeric AS amount, NULL::numeric AS quantity, NULL::bigint AS n
FROM member a
JOIN member d
  ON d.dimension_id = a.dimension_id
 AND d.sort_path >= a.sort_path
 AND d.sort_path < left(a.sort_path, -1) || chr(ascii(right(a.sort_path, 1)) + 1)
WHERE a.id = ANY(:ids)
UNION ALL
-- the facts of the date ranges asked about, read once: summed by member combination
-- and date bucket (k: the bucket of :bounds the date falls in)
-- (by date bucket only when no query has coordinates: the members tell nothing apart)
SELECT NULL, NULL, NULL, NULL,
       CASE WHEN CAST(:by_members AS boolean) THEN f.members ELSE '{}' END,
       width_bucket(f.sold_on, CAST(:bounds AS date[])),
       sum(f.amount), sum(f.quantity), count(*)
FROM unnest(CAST(:lo AS date[]), CAST(:hi AS date[])) AS u(lo, hi)
JOIN sales_fact f ON f.sold_on >= u.lo AND f.sold_on < u.hi
WHERE CAST(:currency AS varchar) IS NULL OR f.currency = :currency
GROUP BY 5, 6
"""

Spot = tuple[int, int]
"""(dimension id, depth): where a coordinate sits in the member hierarchies."""
Shape = tuple[Spot, ...]
"""The spots of a query's coordinates, in order."""


async def slice_totals(
    session: AsyncSession, queries: Sequence[SliceQuery], currency: str | None = None
) -> list[SliceTotal]:
    """The totals of each query's slice, in query order, in one statement.

    ``currency`` (when given) counts only the facts in that currency; a plan in
    euros reads its actuals with ``currency="EUR"``.

    The facts are read once, whatever the number of queries: summed in SQL by member
    combination and date bucket (the buckets cut at every query's start and end).
    Each group is then placed by the coordinate members above its members: in every
    query *shape* (the dimensions and depths of a query's coordinates) it has one
    key, and a query adds up the groups of its shape, key and buckets. A fact holds
    at most one member per dimension (the imports' rule).
    """
    if not queries:
        return []
    bounds = sorted({q.start for q in queries} | {q.end for q in queries})
    merged: list[list[date]] = []
    for lo, hi in sorted((q.start, q.end) for q in queries if q.start < q.end):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    stmt = text(SLICE_TOTALS_SQL).bindparams(
        bindparam("ids", type_=ARRAY(BigInteger)),
        bindparam("by_members", type_=Boolean),
        bindparam("bounds", type_=ARRAY(Date)),
        bindparam("lo", type_=ARRAY(Date)),
        bindparam("hi", type_=ARRAY(Date)),
        bindparam("currency", type_=String(3)),
    )
    rows = (
        await session.execute(
            stmt,
            {
                "ids": sorted({m for q in queries for _, m in q.coordinates}),
                "by_members": any(q.coordinates for q in queries),
                "bounds": bounds,
                "lo": [lo for lo, _ in merged],
                "hi": [hi for _, hi in merged],
                "currency": currency,
            },
        )
    ).all()
    # member -> the (spot, coordinate member) of each coordinate member at or above it
    above: dict[int, list[tuple[Spot, int]]] = {}
    spot_of: dict[int, Spot] = {}
    groups = []
    for c, dimension, depth, m, *group in rows:
        if c is None:
            groups.append(group)
        else:
            spot_of[c] = (dimension, depth)
            above.setdefault(m, []).append(((dimension, depth), c))
    placed = {m: tuple(sorted(found)) for m, found in above.items()}
    # each query's shape and key (None: a member that does not exist, no fact matches)
    keys: list[tuple[Shape, tuple[int, ...]] | None] = []
    for query in queries:
        if any(m not in spot_of for _, m in query.coordinates):
            keys.append(None)
            continue
        pairs = sorted((spot_of[m], m) for _, m in query.coordinates)
        keys.append((tuple(s for s, _ in pairs), tuple(m for _, m in pairs)))
    shapes = {key[0] for key in keys if key is not None}
    # The groups as the queries can tell them apart, by the coordinate members above
    # their members (two customers of one tier are one group to queries down to tiers).
    nothing: tuple[tuple[Spot, int], ...] = ()
    classes: dict[tuple[Any, int], list[Any]] = {}
    for members, k, amount, quantity, n in groups:
        signature = (tuple([placed.get(m, nothing) for m in members]), k)
        found = classes.get(signature)
        if found is None:
            classes[signature] = [int(amount), quantity or Decimal(0), n]
        else:
            found[0] += int(amount)
            if quantity is not None:
                found[1] += quantity
            found[2] += n
    # (shape, key, bucket) -> [amount, quantity, count]
    sums: dict[tuple[Shape, tuple[int | None, ...], int], list[Any]] = {}
    for (signature, k), (amount, quantity, n) in classes.items():
        spots = {spot: c for placements in signature for spot, c in placements}
        for shape in shapes:
            at = tuple([spots.get(spot) for spot in shape])
            if None in at:
                continue
            found = sums.get((shape, at, k))
            if found is None:
                sums[(shape, at, k)] = [amount, quantity, n]
            else:
                found[0] += amount
                found[1] += quantity
                found[2] += n
    bucket = {day: i + 1 for i, day in enumerate(bounds)}  # width_bucket's numbering
    totals = []
    for query, wanted in zip(queries, keys, strict=True):
        amount, quantity, count = 0, Decimal(0), 0
        if wanted is not None:
            for k in range(bucket[query.start], bucket[query.end]):
                found = sums.get((wanted[0], wanted[1], k))
                if found is not None:
                    amount += found[0]
                    quantity += found[1]
                    count += found[2]
        totals.append(SliceTotal(amount=amount, quantity=quantity, count=count))
    return totals
