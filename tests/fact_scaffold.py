"""Test scaffolding: insert sales, opportunities and market sizes straight into the fact
tables, so the tests of the readers (attainment, KPIs, history, re-plans) set up exact
facts without going through the importers (``actualsImport`` ..., tested on their own
in ``tests/api/test_imports*.py``). Not a way to import facts: no checks beyond the
database's own.

Each fiscal year's partition ``sales_fact_fyNNNN`` is made for the calendar years the
rows touch (plans of these tests start in January), inside the test's transaction.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text

from service.db.engine import Database

_keys = itertools.count(1)


@dataclass(frozen=True)
class Sale:
    sold_on: date
    amount: int
    """Minor units."""
    members: Sequence[int]
    credits: dict[int, str] | None = None
    order_ref: str | None = None
    customer_ref: str | None = None
    currency: str = "EUR"
    quantity: str | None = None
    external_id: str = field(default_factory=lambda: f"sale-{next(_keys)}")


async def _batch(session: Any, plan_id: int, kind: str) -> int:
    key = f"scaffold-{kind}-{next(_keys)}"
    return int(
        (
            await session.execute(
                text(
                    "INSERT INTO fact_batch (kind, key, plan_id, request_hash, row_count, "
                    "created_by) VALUES (:k, :key, :p, 'x', 0, 'tests') RETURNING id"
                ),
                {"k": kind, "key": key, "p": plan_id},
            )
        ).scalar_one()
    )


async def ensure_partitions(session: Any, years: set[int]) -> None:
    """The partitions, each with the batch reference check an import gives its own
    (migration 0010)."""
    for year in sorted(years):
        name = f"sales_fact_fy{year}"
        if await session.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None:
            continue
        await session.execute(
            text(
                f"CREATE TABLE {name} PARTITION OF sales_fact "
                f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')"
            )
        )
        await session.execute(
            text("SELECT quotatree_guard_sales_partition(CAST(:n AS regclass))"), {"n": name}
        )


async def insert_sales(db: Database, plan_id: int, sales: Sequence[Sale]) -> None:
    async with db.session() as session, session.begin():
        await ensure_partitions(session, {s.sold_on.year for s in sales})
        batch = await _batch(session, plan_id, "SALES")
        for s in sales:
            await session.execute(
                text(
                    "INSERT INTO sales_fact (sold_on, batch_id, external_id, currency, amount, "
                    "quantity, order_ref, customer_ref, members, credits) VALUES (:d, :b, :x, "
                    ":c, :a, CAST(:q AS numeric), :o, :cu, CAST(:m AS bigint[]), "
                    "CAST(:cr AS jsonb))"
                ),
                {
                    "d": s.sold_on,
                    "b": batch,
                    "x": s.external_id,
                    "c": s.currency,
                    "a": s.amount,
                    "q": s.quantity,
                    "o": s.order_ref,
                    "cu": s.customer_ref,
                    "m": list(s.members),
                    "cr": None
                    if s.credits is None
                    else json.dumps({str(k): v for k, v in s.credits.items()}),
                },
            )


async def insert_opportunities(
    db: Database, plan_id: int, rows: Sequence[tuple[date, str, int, Sequence[int]]]
) -> None:
    """(closed on, WON or LOST, amount, members)."""
    async with db.session() as session, session.begin():
        batch = await _batch(session, plan_id, "OPPORTUNITY")
        for closed_on, outcome, amount, members in rows:
            await session.execute(
                text(
                    "INSERT INTO opportunity_fact (batch_id, external_id, closed_on, outcome, "
                    "currency, amount, members) VALUES (:b, :x, :d, :o, 'EUR', :a, "
                    "CAST(:m AS bigint[]))"
                ),
                {
                    "b": batch,
                    "x": f"opp-{next(_keys)}",
                    "d": closed_on,
                    "o": outcome,
                    "a": amount,
                    "m": list(members),
                },
            )


async def insert_market_size(
    db: Database, plan_id: int, member_id: int, starts_on: date, ends_on: date, amount: int
) -> None:
    async with db.session() as session, session.begin():
        batch = await _batch(session, plan_id, "MARKET_SIZE")
        await session.execute(
            text(
                "INSERT INTO market_size (batch_id, member_id, starts_on, ends_on, currency, "
                "amount) VALUES (:b, :m, :s, :e, 'EUR', :a)"
            ),
            {"b": batch, "m": member_id, "s": starts_on, "e": ends_on, "a": amount},
        )
