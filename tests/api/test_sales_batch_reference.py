"""The database keeps ``sales_fact.batch_id`` pointing at a batch (migration 0010: per
statement triggers in place of a per-row foreign key), whatever writes the rows."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.db.engine import ConnectionBoundDatabase, driver_connection
from tests.api.test_imports import _import, _setup, sale
from tests.conftest import GraphQLClient

COLUMNS = "batch_id, sold_on, external_id, currency, amount, members"


async def _imported(gql: GraphQLClient, db: ConnectionBoundDatabase) -> int:
    """A batch of two sales imported (its fiscal-year partition made by the import)."""
    setup = await _setup(gql)
    payload = await _import(gql, setup, [sale("A1"), sale("A2", date="2027-03-01")])
    assert payload["userErrors"] == [] and payload["rowErrors"] == []
    async with db.session() as session:
        return int(await session.scalar(text("SELECT id FROM fact_batch WHERE key = 'b1'")))


async def _refused(db: ConnectionBoundDatabase, sql: str, **params: object) -> str:
    """Run ``sql`` in a savepoint; it must fail as a foreign key violation. The message."""
    async with db.session() as session, session.begin():
        with pytest.raises(DBAPIError) as caught:
            async with session.begin_nested():
                await session.execute(text(sql), params)
    assert getattr(caught.value.orig, "sqlstate", None) == "23503", caught.value
    return str(caught.value.orig)


async def _run(db: ConnectionBoundDatabase, sql: str, **params: object) -> int:
    async with db.session() as session, session.begin():
        result = await session.execute(text(sql), params)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def test_a_sale_naming_an_unknown_batch_is_refused(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    batch = await _imported(gql, db)
    unknown = batch + 1000
    insert = (
        f"INSERT INTO {{table}} ({COLUMNS}) VALUES "
        "(:b, DATE '2027-05-01', :x, 'EUR', 1, ARRAY[1]::bigint[])"
    )
    message = await _refused(db, insert.format(table="sales_fact"), b=unknown, x="X1")
    assert f"(batch_id)=({unknown})" in message or "batch reference" in message
    # one statement with rows of a known and an unknown batch: refused whole
    await _refused(
        db,
        f"INSERT INTO sales_fact ({COLUMNS}) VALUES "
        "(:ok, DATE '2027-05-01', 'X2', 'EUR', 1, ARRAY[1]::bigint[]), "
        "(:b, DATE '2027-05-02', 'X3', 'EUR', 1, ARRAY[1]::bigint[])",
        ok=batch,
        b=unknown,
    )
    # straight into the partition the import made, past the partitioned table
    await _refused(db, insert.format(table="sales_fact_fy2027"), b=unknown, x="X4")
    # COPY, as the import writes: asyncpg's binary COPY
    async with db.session() as session, session.begin():
        with pytest.raises(asyncpg.PostgresError) as copied:
            async with session.begin_nested():
                connection = await driver_connection(session)
                await connection.copy_records_to_table(
                    "sales_fact",
                    records=[(unknown, date(2027, 5, 3), "X5", 1, [1])],
                    columns=["batch_id", "sold_on", "external_id", "amount", "members"],
                )
    assert copied.value.sqlstate == "23503", copied.value
    # moving stored sales to an unknown batch
    await _refused(
        db, "UPDATE sales_fact SET batch_id = :b WHERE batch_id = :ok", b=unknown, ok=batch
    )
    # a known batch is fine, through the table and through the partition
    assert await _run(db, insert.format(table="sales_fact"), b=batch, x="X6") == 1
    assert await _run(db, insert.format(table="sales_fact_fy2027"), b=batch, x="X7") == 1


async def test_a_batch_that_sales_reference_cannot_be_deleted(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    batch = await _imported(gql, db)
    message = await _refused(db, "DELETE FROM fact_batch WHERE id = :b", b=batch)
    assert f"(id)=({batch})" in message or "batch reference" in message
    await _refused(db, "UPDATE fact_batch SET id = id + 1000 WHERE id = :b", b=batch)
    await _refused(db, "TRUNCATE fact_batch CASCADE")
    # other changes of a referenced batch are fine, and so is deleting an unreferenced one
    assert await _run(db, "UPDATE fact_batch SET source = 'x' WHERE id = :b", b=batch) == 1
    assert await _run(db, "DELETE FROM sales_fact WHERE batch_id = :b", b=batch) == 2
    assert await _run(db, "DELETE FROM fact_batch WHERE id = :b", b=batch) == 1
