"""Importing facts (sales, opportunity outcomes, market sizes): one batch, all or nothing.

``import_facts`` is the one use case behind ``actualsImport``,
``opportunitiesImport``, ``marketSizesImport`` and ``quotatree import ...``:

- A batch has a key (the client's, or a digest of the file): the same key with
  the same content (``request_hash``) changes nothing and answers as the first
  import did (``replayed``); the same key with other content is refused.
- Every row is checked (``service.domain.facts``) while it streams with ``COPY``
  (sales straight into ``sales_fact``, the other kinds into a staging table); the
  checks that need the whole batch (a key twice, a key stored with other content)
  run in SQL after it. Every bad row is
  reported (up to ``MAX_REPORTED_ERRORS``) and nothing is written.
- A row stored already with identical content (by another batch) is skipped, so
  overlapping exports import cleanly.
- Sales get the fiscal-year partitions they need (the plan's calendar) as the
  rows reach them (between COPYs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import chain
from typing import Any

import orjson

from service.db import imports as store
from service.db.models import FactBatch
from service.domain.audit import AuditAction
from service.domain.calendar import CalendarSpec
from service.domain.facts import (
    MAX_REPORTED_ERRORS,
    DimensionCodes,
    ErrorCollector,
    FactKind,
    Header,
    ImportContext,
    MarketSizeRow,
    OpportunityRow,
    RowChecker,
    RowsRejected,
    SalesRow,
    header_of,
    partitions_needed,
    read_header,
)
from service.domain.hierarchy import RowError
from service.domain.tree import InvalidInputError, clean_code
from service.plans.uow import UnitOfWork
from service.plans.usecase import write

Progress = Callable[[str, int], None]
"""Called with (phase, rows done) while a batch streams (command-line progress)."""

Row = Sequence[object] | Mapping[str, object]

ACTIONS = {
    FactKind.SALES: AuditAction.ACTUALS_IMPORT,
    FactKind.OPPORTUNITY: AuditAction.OPPORTUNITIES_IMPORT,
    FactKind.MARKET_SIZE: AuditAction.MARKET_SIZES_IMPORT,
}
PROGRESS_EVERY = 10_000


@dataclass(frozen=True, slots=True)
class FactsImport:
    kind: FactKind
    plan_id: int
    batch_key: str
    request_hash: str
    """Digest of the batch's content (``content_hash``): same key, other hash: refused."""
    rows: Iterable[tuple[int, Row]]
    """(row number, cells): cells in ``header`` order, or by column name when ``header``
    is None (GraphQL: fixed columns by name, members by dimension name)."""
    header: Sequence[object] | None = None
    source: str | None = None
    progress: Progress | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    batch: FactBatch
    replayed: bool
    """True when the batch was imported before (same key, same content): nothing changed."""
    stored: int
    """Rows this batch stored."""
    skipped: int
    """Rows stored before by another batch with identical content."""


def content_hash(kind: FactKind, plan_id: int, chunks: Iterable[bytes]) -> str:
    """The digest a batch is recognised by: its kind, plan and content."""
    digest = hashlib.sha256(f"{kind.value}:{plan_id}:".encode())
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def rows_hash(kind: FactKind, plan_id: int, rows: Sequence[Mapping[str, object]]) -> str:
    """``content_hash`` of rows given as mappings (GraphQL)."""
    return content_hash(
        kind, plan_id, [orjson.dumps(list(rows), default=str, option=orjson.OPT_SORT_KEYS)]
    )


async def _run(uow: UnitOfWork, command: FactsImport) -> ImportResult:
    session = uow.session
    kind = command.kind
    key = clean_code(command.batch_key, "batchKey")
    plan = await store.plan(session, command.plan_id)
    if plan is None:
        raise InvalidInputError("NOT_FOUND", "planId is not a known plan", "planId")
    await store.lock_imports(session, kind)
    existing = await store.batch_by_key(session, kind, key)
    if existing is not None:
        if existing.request_hash != command.request_hash or existing.plan_id != plan.id:
            raise InvalidInputError(
                "DUPLICATE",
                f"batch key {key!r} was used on {existing.created_at:%Y-%m-%d %H:%M} for "
                f"other content ({existing.row_count} rows); a batch is never changed: give "
                "new or corrected rows a new batch key",
                "batchKey",
                batch=existing.id,
            )
        stored = await store.stored_count(session, kind, existing.id)
        return ImportResult(existing, True, stored, existing.row_count - stored)

    context = await _context(uow, plan)
    header = _header(kind, command.header, context)
    batch = await store.add_batch(
        session,
        kind=kind,
        key=key,
        plan_id=plan.id,
        request_hash=command.request_hash,
        source=command.source,
        created_by=uow.principal.subject,
    )
    errors = ErrorCollector()
    checker = RowChecker(kind, header, context, errors)
    if kind is FactKind.SALES:
        staged, stored = await _store_sales(uow, command, checker, batch)
    else:
        staged, stored = await _store_staged(uow, command, checker, batch)
    await store.finish_batch(session, batch, staged)
    uow.record(
        plan_id=plan.id,
        after={
            "batch": batch.id,
            "kind": kind.value,
            "key": key,
            "rows": staged,
            "stored": stored,
            "source": command.source,
        },
    )
    return ImportResult(batch, False, stored, staged - stored)


async def _store_staged(
    uow: UnitOfWork, command: FactsImport, checker: RowChecker, batch: FactBatch
) -> tuple[int, int]:
    """Opportunities and market sizes: checked rows COPY into the staging table, the
    batch checks run there, then ``INSERT ... SELECT`` of the rows not stored yet.
    (Their tables have unique keys: a repeated key must not reach them.)"""
    stage = store.Stage(uow.session, command.kind)
    await stage.create()
    await stage.copy(_records(command, checker))
    _raise_if_bad(checker, *await stage.problems(MAX_REPORTED_ERRORS))
    if command.progress:
        command.progress("storing", checker.rows)
    stored = await stage.store(batch.id)
    return stage.staged, stored


async def _store_sales(
    uow: UnitOfWork, command: FactsImport, checker: RowChecker, batch: FactBatch
) -> tuple[int, int]:
    """Sales, the large batches: checked rows COPY straight into ``sales_fact`` (one
    write per row, checked and written at once); the fiscal-year partitions they need
    are made between COPYs; the batch checks run on the copied rows and a bad batch
    rolls back whole. Rows stored before by another batch with identical content are
    removed again (skipped)."""
    session = uow.session
    context = checker.context
    existing = [(s, e) for _, s, e in await store.partitions(session)]
    known: set[date] = set()
    numbers = store.RowNumbers()
    writer = store.SalesCopy(session, batch.id)
    rows = _records(command, checker)
    state: dict[str, Any] = {"waiting": None, "ordinal": 0, "offset": None}

    def segment() -> Iterator[tuple[Any, ...]]:
        """Records up to the first whose day has no partition yet (kept waiting)."""
        ordinal, offset = state["ordinal"], state["offset"]
        waiting, state["waiting"] = state["waiting"], None
        batch_id = batch.id
        try:
            for record in rows if waiting is None else chain([waiting], rows):
                day = record[2]
                if day not in known:
                    if not any(s <= day < e for s, e in existing):
                        state["waiting"] = record
                        return
                    known.add(day)
                ordinal += 1
                if record[0] - ordinal != offset:
                    offset = record[0] - ordinal
                    numbers.mark(ordinal, record[0])
                yield (batch_id, *record[1:])
        finally:
            state["ordinal"], state["offset"] = ordinal, offset

    while True:
        await writer.copy(segment())
        waiting = state["waiting"]
        if waiting is None:
            break
        await _partitions(uow, context.calendar, {waiting[2]})
        existing = [(s, e) for _, s, e in await store.partitions(session)]
    _raise_if_bad(checker, *await writer.problems(MAX_REPORTED_ERRORS, numbers))
    if command.progress:
        command.progress("storing", checker.rows)
    skipped = await writer.drop_stored()
    return writer.copied, writer.copied - skipped


def _raise_if_bad(checker: RowChecker, problems: list[RowError], total: int) -> None:
    """Every row error of the batch at once (nothing is written), or the empty batch."""
    errors = checker.errors
    if checker.rows == 0 and not errors:
        raise InvalidInputError("EMPTY_SET", "the batch has no rows", "rows")
    errors.add(problems)
    errors.total += total - len(problems)
    if errors:
        raise RowsRejected(errors.errors, errors.total)


async def _context(uow: UnitOfWork, plan: Any) -> ImportContext:
    session = uow.session
    dimensions = [
        DimensionCodes(id=i, name=name, codes=codes)
        for i, name, codes in await store.dimension_codes(session)
    ]
    owners, owner_ids = await store.owner_refs(session)
    spec = plan.calendar or {}
    calendar = CalendarSpec(
        fiscal_year=plan.fiscal_year,
        start_month=spec.get("startMonth", 1),
        pattern=spec.get("pattern", "GREGORIAN"),
        weeks=spec.get("weeks", False),
        week_start=spec.get("weekStart", 0),
        year_end=spec.get("yearEnd", "NEAREST"),
    )
    return ImportContext(
        currency=plan.currency if plan.measure == "AMOUNT" else None,
        digits=plan.minor_digits,
        calendar=calendar,
        dimensions=dimensions,
        time_dimension=await store.time_dimension_name(session, plan.time_dimension_id),
        owners=owners,
        owner_ids=owner_ids,
    )


def _header(kind: FactKind, header: Sequence[object] | None, context: ImportContext) -> Header:
    if header is None:
        return header_of(kind, context)[1]
    return read_header(kind, header, context)


def _records(command: FactsImport, checker: RowChecker) -> Iterator[tuple[Any, ...]]:
    """The checked rows as COPY records; bad rows only add their errors. (A plain
    generator: asyncpg's COPY walks it without an await per row.)"""
    header, progress = checker.header, command.progress
    width = max([*header.fixed.values(), *(i for i, _ in header.dimensions)], default=-1) + 1
    done = 0
    values: Sequence[object]
    check = checker.check
    for number, cells in command.rows:
        if type(cells) is list or not isinstance(cells, Mapping):  # a file's row
            checked = check(number, cells)
        else:
            values, extra = _by_name(number, header, width, cells, checker.context)
            checked = check(number, values)
            if extra:
                checker.errors.add(extra)
                if checked is not None:
                    checker.errors.bad_rows += 1
                continue
        done += 1
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress("checking", done)
        if checked is None:
            continue
        if type(checked) is SalesRow:
            # in SalesRow's order, as store.SALES_COLUMNS (the row number first)
            yield (
                checked
                if checked.credits is None
                else (*checked[:9], store.credits_json(checked.credits))
            )
        elif isinstance(checked, OpportunityRow):
            yield (
                checked.row,
                checked.external_id,
                checked.closed_on,
                checked.outcome.value,
                checked.currency,
                checked.amount,
                checked.customer_ref,
                list(checked.members),
            )
        elif isinstance(checked, MarketSizeRow):
            yield (
                checked.row,
                checked.member_id,
                checked.starts_on,
                checked.ends_on,
                checked.currency,
                checked.amount,
            )
    if progress is not None:
        progress("checking", done)


def _by_name(
    row: int, header: Header, width: int, cells: Mapping[str, object], context: ImportContext
) -> tuple[list[object], list[RowError]]:
    """GraphQL cells (by column name; ``members`` as (dimension name, code) pairs) in
    header order, and the errors of names that are no column or dimension."""
    values: list[object] = [None] * width
    errors: list[RowError] = []
    for name, value in cells.items():
        if name == "members":
            continue
        index = header.fixed.get(name)
        if index is None:
            if value is not None:
                errors.append(RowError(row, name, "UNKNOWN_COLUMN", f"unknown column {name!r}"))
        else:
            values[index] = value
    by_name = {d.name: i for i, d in header.dimensions}
    seen: set[str] = set()
    for dimension, code in cells.get("members") or ():  # type: ignore[attr-defined]
        column = f"members.{dimension}"
        if dimension in seen:
            errors.append(RowError(row, column, "DUPLICATE", f"the row names {dimension} twice"))
        elif dimension in by_name:
            values[by_name[dimension]] = code
        elif context.time_dimension is not None and dimension == context.time_dimension:
            errors.append(
                RowError(
                    row,
                    column,
                    "WRONG_DIMENSION",
                    f"{dimension!r} is the plan's calendar: the date places a fact in time",
                )
            )
        else:
            errors.append(
                RowError(row, column, "NOT_FOUND", f"no organisation dimension {dimension!r}")
            )
        seen.add(dimension)
    return values, errors


async def _partitions(uow: UnitOfWork, spec: CalendarSpec, days: set[date]) -> None:
    session = uow.session
    existing = await store.partitions(session)
    if not partitions_needed(days, [(s, e) for _, s, e in existing], spec):
        return
    await store.lock_partitions(session)
    existing = await store.partitions(session)  # another import may have made them meanwhile
    wanted = partitions_needed(days, [(s, e) for _, s, e in existing], spec)
    await store.create_partitions(session, wanted)


import_actuals = write(AuditAction.ACTUALS_IMPORT)(_run)
import_opportunities = write(AuditAction.OPPORTUNITIES_IMPORT)(_run)
import_market_sizes = write(AuditAction.MARKET_SIZES_IMPORT)(_run)
USE_CASES = {
    FactKind.SALES: import_actuals,
    FactKind.OPPORTUNITY: import_opportunities,
    FactKind.MARKET_SIZE: import_market_sizes,
}


# --- reads -----------------------------------------------------------------------------
