"""Sales as (date, amount, members) tuples, stored by :mod:`tests.fact_scaffold`."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date

from service.db.engine import Database
from tests import fact_scaffold


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
    """``rows``: (sold on, amount in minor units, member ids) each, quantity 1."""
    await fact_scaffold.insert_sales(
        db,
        plan_id,
        [
            fact_scaffold.Sale(
                day, amount, members, currency=currency, quantity="1", external_id=f"{key}-{i}"
            )
            for i, (day, amount, members) in enumerate(rows)
        ],
    )
