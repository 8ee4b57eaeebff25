"""Writing imported facts: batches, the staging table, COPY, partitions.

An import is one transaction (``service.plans.imports``):

1. ``lock_imports``: imports of one kind take turns (a transaction-scoped
   advisory lock), so two batches cannot both store the same external id.
2. ``Stage``: checked rows are streamed with PostgreSQL ``COPY`` (asyncpg's
   binary ``copy_records_to_table``, fed by an async generator, so memory
   does not grow with the file) into a temporary table that lives as long as
   the transaction, with each row's number.
3. ``Stage.problems``: what needs every row at once is checked in SQL: a key
   twice in the batch, a key stored already with other content. Each comes
   back as a row error (row number, column, reason).
4. ``ensure_partitions`` (sales): the fiscal-year partitions the batch needs.
5. ``Stage.store``: ``INSERT ... SELECT`` of the rows not stored yet (a row
   stored with identical content is skipped).

Sales, the large batches, skip the staging table (``SalesCopy``): the checked rows
COPY straight into ``sales_fact``, the same checks run on the batch's copied rows
afterwards, and rows another batch stored with identical content are deleted again.
Opportunities and market sizes keep the staging table: their tables have unique
keys that a repeated key must not reach.

Nothing is written outside the transaction, so a bad row anywhere (found while
streaming or by the SQL checks) leaves nothing behind.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select, text, update

from service.db.engine import Session, driver_connection
from service.db.models import SALES_PARTITION_PREFIX, Dimension, FactBatch, Member, Owner, Plan
from service.db.paging import keyset_page
from service.domain.facts import FactKind, NewPartition
from service.domain.hierarchy import RowError
from service.domain.paging import Page, PageRequest

STAGE = "fact_import_stage"

_STAGE_COLUMNS: dict[FactKind, str] = {
    FactKind.SALES: """row_no integer NOT NULL, sold_on date NOT NULL,
        external_id varchar(200) NOT NULL, currency varchar(3), amount bigint NOT NULL,
        quantity numeric(20, 4), order_ref varchar(200), customer_ref varchar(200),
        members bigint[] NOT NULL, credits jsonb""",
    FactKind.OPPORTUNITY: """row_no integer NOT NULL, external_id varchar(200) NOT NULL,
        closed_on date NOT NULL, outcome varchar(8) NOT NULL, currency varchar(3),
        amount bigint NOT NULL, customer_ref varchar(200), members bigint[] NOT NULL""",
    FactKind.MARKET_SIZE: """row_no integer NOT NULL, member_id bigint NOT NULL,
        starts_on date NOT NULL, ends_on date NOT NULL, currency varchar(3),
        amount bigint NOT NULL""",
}
STAGE_FIELDS: dict[FactKind, tuple[str, ...]] = {
    FactKind.SALES: (
        "row_no",
        "sold_on",
        "external_id",
        "currency",
        "amount",
        "quantity",
        "order_ref",
        "customer_ref",
        "members",
        "credits",
    ),
    FactKind.OPPORTUNITY: (
        "row_no",
        "external_id",
        "closed_on",
        "outcome",
        "currency",
        "amount",
        "customer_ref",
        "members",
    ),
    FactKind.MARKET_SIZE: ("row_no", "member_id", "starts_on", "ends_on", "currency", "amount"),
}
_TARGET = {
    FactKind.SALES: "sales_fact",
    FactKind.OPPORTUNITY: "opportunity_fact",
    FactKind.MARKET_SIZE: "market_size",
}
# The key of a fact: what makes two rows the same fact (a duplicate when repeated).
_KEY = {
    FactKind.SALES: ("external_id",),
    FactKind.OPPORTUNITY: ("external_id",),
    FactKind.MARKET_SIZE: ("member_id", "starts_on", "ends_on"),
}
_KEY_COLUMN = {
    FactKind.SALES: "externalId",
    FactKind.OPPORTUNITY: "externalId",
    FactKind.MARKET_SIZE: "member",
}


# --- reads for the checks ---------------------------------------------------------------


async def plan(session: Session, plan_id: int) -> Plan | None:
    return await session.get(Plan, plan_id)


async def dimension_codes(session: Session) -> list[tuple[int, str, dict[str, int]]]:
    """Every organisation dimension with its members by code (for the row checks)."""
    dimensions = (
        await session.execute(
            select(Dimension.id, Dimension.name)
            .where(Dimension.plan_id.is_(None))
            .order_by(Dimension.id)
        )
    ).all()
    codes: dict[int, dict[str, int]] = {d.id: {} for d in dimensions}
    result = await session.stream(
        select(Member.dimension_id, Member.code, Member.id).where(
            Member.dimension_id.in_(list(codes))
        )
    )
    async for dimension_id, code, member_id in result:
        codes[dimension_id][code] = member_id
    return [(d.id, d.name, codes[d.id]) for d in dimensions]


async def time_dimension_name(session: Session, dimension_id: int | None) -> str | None:
    if dimension_id is None:
        return None
    return await session.scalar(select(Dimension.name).where(Dimension.id == dimension_id))


async def owner_refs(session: Session) -> tuple[dict[str, int], frozenset[int]]:
    """Owners by reference (a person's subject, a team's name) and every owner id."""
    rows = (await session.execute(select(Owner.id, Owner.kind, Owner.subject, Owner.name))).all()
    refs: dict[str, int] = {}
    for row in rows:
        if row.kind == "PERSON" and row.subject:
            refs[row.subject] = row.id
        elif row.kind == "TEAM":
            refs[row.name] = row.id
    return refs, frozenset(r.id for r in rows)


# --- batches ---------------------------------------------------------------------------


async def lock_imports(session: Session, kind: FactKind) -> None:
    """Imports of one kind take turns until the transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"quotatree:import:{kind}"}
    )


async def batches_by_ids(session: Session, ids: Sequence[int]) -> list[FactBatch | None]:
    rows = {b.id: b for b in await session.scalars(select(FactBatch).where(FactBatch.id.in_(ids)))}
    return [rows.get(i) for i in ids]


async def batch_by_key(session: Session, kind: FactKind, key: str) -> FactBatch | None:
    return await session.scalar(
        select(FactBatch).where(FactBatch.kind == kind.value, FactBatch.key == key)
    )


async def add_batch(
    session: Session,
    *,
    kind: FactKind,
    key: str,
    plan_id: int,
    request_hash: str,
    source: str | None,
    created_by: str,
) -> FactBatch:
    batch = FactBatch(
        kind=kind.value,
        key=key,
        plan_id=plan_id,
        request_hash=request_hash,
        row_count=0,
        source=source,
        created_by=created_by,
    )
    session.add(batch)
    await session.flush()
    return batch


async def finish_batch(session: Session, batch: FactBatch, row_count: int) -> None:
    await session.execute(
        update(FactBatch).where(FactBatch.id == batch.id).values(row_count=row_count)
    )
    await session.refresh(batch)


async def stored_count(session: Session, kind: FactKind, batch_id: int) -> int:
    """Rows a batch stored (its other rows were stored already by earlier batches)."""
    table = _TARGET[kind]
    count = await session.scalar(
        text(f"SELECT count(*) FROM {table} WHERE batch_id = :b"),
        {"b": batch_id},
    )
    return int(count or 0)


async def batches_page(
    session: Session, plan_id: int, kind: FactKind | None, request: PageRequest
) -> Page[FactBatch]:
    """A plan's batches, oldest first (by id)."""
    query = select(FactBatch).where(FactBatch.plan_id == plan_id)
    if kind is not None:
        query = query.where(FactBatch.kind == kind.value)
    return await keyset_page(session, query, [FactBatch.id], request, lambda b: (b.id,))


async def count_batches(session: Session, plan_id: int, kind: FactKind | None) -> int:
    query = select(func.count()).select_from(FactBatch).where(FactBatch.plan_id == plan_id)
    if kind is not None:
        query = query.where(FactBatch.kind == kind.value)
    return int(await session.scalar(query) or 0)


# --- partitions ------------------------------------------------------------------------

_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


async def partitions(session: Session) -> list[tuple[str, date, date]]:
    """The partitions of ``sales_fact``: (name, start, end), by start."""
    rows = (
        await session.execute(
            text(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'sales_fact'::regclass"
            )
        )
    ).all()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match is None:  # a DEFAULT partition made by hand: not ours to reason about
            continue
        found.append((name, date.fromisoformat(match[1]), date.fromisoformat(match[2])))
    return sorted(found, key=lambda p: p[1])


async def lock_partitions(session: Session) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('quotatree:partitions'))"))


async def create_partitions(session: Session, wanted: Sequence[NewPartition]) -> list[str]:
    """Create ``wanted`` partitions (names ``sales_fact_fyNNNN``, or with the start date
    when another calendar's year took that name); the caller holds ``lock_partitions``."""
    taken = {name for name, _, _ in await partitions(session)}
    made = []
    for part in wanted:
        name = f"{SALES_PARTITION_PREFIX}{part.fiscal_year:04d}"
        if name in taken:
            name = f"{name}_{part.start:%Y%m%d}"
        await session.execute(
            text(
                f'CREATE TABLE "{name}" PARTITION OF sales_fact '
                f"FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
            )
        )
        # the batch reference check of writes naming the partition (migration 0010)
        await session.execute(
            text("SELECT quotatree_guard_sales_partition(CAST(:name AS regclass))"),
            {"name": f'"{name}"'},
        )
        taken.add(name)
        made.append(name)
    return made


# --- the staging table -----------------------------------------------------------------


@dataclass
class Stage:
    """The temporary table one import streams its checked rows into."""

    session: Session
    kind: FactKind
    staged: int = 0

    async def create(self) -> None:
        await self.session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
        await self.session.execute(
            text(f"CREATE TEMP TABLE {STAGE} ({_STAGE_COLUMNS[self.kind]}) ON COMMIT DROP")
        )

    async def copy(self, records: Iterable[tuple[Any, ...]]) -> None:
        """Stream ``records`` (tuples in ``STAGE_FIELDS`` order) with one COPY."""
        connection = await driver_connection(self.session)
        result = await connection.copy_records_to_table(
            STAGE, records=records, columns=STAGE_FIELDS[self.kind]
        )
        self.staged += int(result.split()[-1])

    async def problems(self, limit: int) -> tuple[list[RowError], int]:
        """Row errors only the whole batch shows: a key twice in the batch, a key stored
        with other content. Up to ``limit`` errors, and how many there are in all."""
        key = ", ".join(_KEY[self.kind])
        column = _KEY_COLUMN[self.kind]
        errors: list[RowError] = []
        total = 0
        repeated = await self.session.execute(
            text(
                f"SELECT {key}, array_agg(row_no ORDER BY row_no) AS rows, "
                f"count(*) OVER () AS groups, sum(count(*) - 1) OVER () AS extra "
                f"FROM {STAGE} GROUP BY {key} HAVING count(*) > 1 "
                f"ORDER BY min(row_no) LIMIT :limit"
            ),
            {"limit": limit},
        )
        for row in repeated.mappings():
            total = int(row["extra"])  # the same on every row: all repeats of the batch
            first, *others = row["rows"]
            for number in others:
                errors.append(
                    RowError(
                        number,
                        column,
                        "DUPLICATE",
                        f"{_describe_key(self.kind, row)} is also on row {first} of this batch",
                    )
                )
        others_sql = _DIFFERS[self.kind]
        conflicts = await self.session.execute(
            text(
                f"SELECT s.row_no, f.batch_id, {', '.join('s.' + k for k in _KEY[self.kind])}, "
                f"count(*) OVER () AS total "
                f"FROM {STAGE} s JOIN {_TARGET[self.kind]} f USING ({key}) "
                f"WHERE {others_sql} ORDER BY s.row_no LIMIT :limit"
            ),
            {"limit": limit},
        )
        stored = conflicts.mappings().all()
        if stored:
            total += int(stored[0]["total"])
        for row in stored:
            errors.append(
                RowError(
                    row["row_no"],
                    column,
                    "DUPLICATE",
                    f"{_describe_key(self.kind, row)} is stored already (batch {row['batch_id']}) "
                    "with other values; a stored fact is never changed by an import",
                )
            )
        return errors, total

    async def store(self, batch_id: int) -> int:
        """Insert the staged rows not stored yet; how many were inserted."""
        fields = [f for f in STAGE_FIELDS[self.kind] if f != "row_no"]
        key = _KEY[self.kind]
        target = _TARGET[self.kind]
        match = " AND ".join(f"f.{k} = s.{k}" for k in key)
        result = await self.session.execute(
            text(
                f"INSERT INTO {target} (batch_id, {', '.join(fields)}) "
                f"SELECT :batch, {', '.join('s.' + f for f in fields)} FROM {STAGE} s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {target} f WHERE {match})"
            ),
            {"batch": batch_id},
        )
        await self.session.execute(text(f"DROP TABLE {STAGE}"))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


_DIFFERS = {
    FactKind.SALES: "(f.sold_on, f.currency, f.amount, f.quantity, f.order_ref, f.customer_ref, "
    "f.members, f.credits) IS DISTINCT FROM (s.sold_on, s.currency, s.amount, s.quantity, "
    "s.order_ref, s.customer_ref, s.members, s.credits)",
    FactKind.OPPORTUNITY: "(f.closed_on, f.outcome, f.currency, f.amount, f.customer_ref, "
    "f.members) IS DISTINCT FROM (s.closed_on, s.outcome, s.currency, s.amount, "
    "s.customer_ref, s.members)",
    FactKind.MARKET_SIZE: "(f.currency, f.amount) IS DISTINCT FROM (s.currency, s.amount)",
}


def _describe_key(kind: FactKind, row: Any) -> str:
    if kind is FactKind.MARKET_SIZE:
        return (
            f"the market size of this member from {row['starts_on']} to "
            f"{row['ends_on']} (exclusive)"
        )
    return f"externalId {row['external_id']!r}"


def credits_json(credits: dict[str, str] | None) -> str | None:
    """Split credit as the jsonb text COPY sends."""
    return None if credits is None else json.dumps(credits, separators=(",", ":"))


# --- sales: COPY straight into sales_fact ----------------------------------------------

SALES_COLUMNS = (  # service.domain.facts.SalesRow's order, the batch in the row's place
    "batch_id",
    "external_id",
    "sold_on",
    "currency",
    "amount",
    "quantity",
    "order_ref",
    "customer_ref",
    "members",
    "credits",
)
# The batch's rows numbered in the order they were copied (ids come from the sequence,
# one after the other within a session): ordinal n is the n-th record of the COPYs.
_ORDINALS = """SELECT s.*, row_number() OVER (ORDER BY s.id) AS o
FROM sales_fact s WHERE s.batch_id = :batch"""


class RowNumbers:
    """Which row of the batch each copied record came from, in memory that grows with
    the gaps (blank and rejected rows), not with the rows: a mark where the distance
    between row number and ordinal changes."""

    def __init__(self) -> None:
        self.ordinals: list[int] = []
        self.offsets: list[int] = []

    def mark(self, ordinal: int, row: int) -> None:
        self.ordinals.append(ordinal)
        self.offsets.append(row - ordinal)

    def row(self, ordinal: int) -> int:
        return ordinal + self.offsets[bisect_right(self.ordinals, ordinal) - 1]


@dataclass
class SalesCopy:
    """A batch of sales streamed with COPY straight into ``sales_fact`` (PostgreSQL
    routes each row to its partition): one write per row, in the import's
    transaction. The checks that need the whole batch run on the copied rows
    afterwards; a bad batch is rolled back whole, so nothing of it stays."""

    session: Session
    batch_id: int
    copied: int = 0

    async def copy(self, records: Iterable[tuple[Any, ...]]) -> None:
        """Stream ``records`` (tuples in ``SALES_COLUMNS`` order) with one COPY."""
        connection = await driver_connection(self.session)
        result = await connection.copy_records_to_table(
            "sales_fact", records=records, columns=SALES_COLUMNS
        )
        self.copied += int(result.split()[-1])

    async def problems(self, limit: int, numbers: RowNumbers) -> tuple[list[RowError], int]:
        """As :meth:`Stage.problems`: a key twice in the batch, a key stored by another
        batch with other content (up to ``limit`` errors, and how many in all)."""
        batch = {"batch": self.batch_id, "limit": limit}
        errors: list[RowError] = []
        total = int(
            await self.session.scalar(
                text(
                    "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM sales_fact "
                    "WHERE batch_id = :batch GROUP BY external_id HAVING count(*) > 1) AS d"
                ),
                batch,
            )
            or 0
        )
        if total:
            repeated = await self.session.execute(
                text(
                    f"SELECT external_id, array_agg(o ORDER BY o) AS rows FROM ({_ORDINALS}) s "
                    "GROUP BY external_id HAVING count(*) > 1 ORDER BY min(o) LIMIT :limit"
                ),
                batch,
            )
            for external_id, ordinals in repeated.all():
                first, *others = (numbers.row(o) for o in ordinals)
                for number in others:
                    errors.append(
                        RowError(
                            number,
                            "externalId",
                            "DUPLICATE",
                            f"externalId {external_id!r} is also on row {first} of this batch",
                        )
                    )
        differing = int(
            await self.session.scalar(
                text(
                    "SELECT count(*) FROM sales_fact s JOIN sales_fact f "
                    "ON f.external_id = s.external_id AND f.batch_id <> :batch "
                    f"WHERE s.batch_id = :batch AND {_DIFFERS[FactKind.SALES]}"
                ),
                batch,
            )
            or 0
        )
        if differing:
            total += differing
            conflicts = await self.session.execute(
                text(
                    f"SELECT s.o, f.batch_id, s.external_id FROM ({_ORDINALS}) s "
                    "JOIN sales_fact f ON f.external_id = s.external_id AND f.batch_id <> :batch "
                    f"WHERE {_DIFFERS[FactKind.SALES]} ORDER BY s.o LIMIT :limit"
                ),
                batch,
            )
            for ordinal, stored_in, external_id in conflicts.all():
                errors.append(
                    RowError(
                        numbers.row(ordinal),
                        "externalId",
                        "DUPLICATE",
                        f"externalId {external_id!r} is stored already (batch {stored_in}) "
                        "with other values; a stored fact is never changed by an import",
                    )
                )
        return errors, total

    async def drop_stored(self) -> int:
        """Remove the copied rows another batch stored before with identical content
        (called once :meth:`problems` found none with other content); how many."""
        result = await self.session.execute(
            text(
                "DELETE FROM sales_fact s USING sales_fact f WHERE s.batch_id = :batch "
                "AND f.external_id = s.external_id AND f.batch_id <> :batch"
            ),
            {"batch": self.batch_id},
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
