"""A small way for tests to store sales facts until the importers land: create the
fiscal-year partition (calendar years here) and INSERT the rows."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date

from sqlalchemy import text

from service.db.engine import Database


def local_id(global_id: str) -> int:
    """The integer id inside a global id (the last one: a node's key)."""
    return int(base64.b64decode(global_id).decode().rsplit(":", 1)[1])


async def insert_sales(
    db: Database,
    plan_id: int,
    rows: Sequence[tuple[date, int, Sequence[int]]],
    currency: str = "EUR",
    key: str = "test-batch",
) -> None:
    """``rows``: (sold on, amount in minor units, member ids) each."""
    async with db.session() as session, session.begin():
        for year in sorted({d.year for d, _, _ in rows}):
            await session.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS sales_fact_fy{year} PARTITION OF sales_fact "
                    f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')"
                )
            )
        batch = await session.scalar(
            text(
                "INSERT INTO fact_batch (kind, key, plan_id, request_hash, row_count, created_by) "
                "VALUES ('SALES', :key, :plan, 'x', :n, 'tester') RETURNING id"
            ),
            {"key": key, "plan": plan_id, "n": len(rows)},
        )
        for i, (day, amount, members) in enumerate(rows):
            await session.execute(
                text(
                    "INSERT INTO sales_fact (sold_on, batch_id, external_id, currency, amount, "
                    "quantity, members) VALUES (:d, :b, :e, :c, :a, 1, :m)"
                ),
                {
                    "d": day,
                    "b": batch,
                    "e": f"{key}-{i}",
                    "c": currency,
                    "a": amount,
                    "m": list(members),
                },
            )
