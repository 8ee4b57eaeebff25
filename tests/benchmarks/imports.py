"""Sales import benchmark: prints figures, asserts nothing about time.

Run ``python -m tests.benchmarks.imports`` from a checkout with the dev extra
(``quotatree bench imports`` does the same). Goal (issue 12): import 1,000,000
rows from CSV at over 100,000 rows per second with the process under 300 MB.

* ``import``: what ``quotatree import actuals FILE`` runs, in this process: the
  file's digest, then :data:`service.plans.imports.USE_CASES` with the file's
  rows streamed (``service.fact_files``): every row checked
  (``service.domain.facts``) and COPY'd straight into ``sales_fact`` (the
  partitions made between COPYs), the duplicate checks in SQL on the copied
  rows, commit.
* ``floor``: a bare asyncpg ``copy_records_to_table`` of the same rows into
  ``sales_fact`` (same partitions and indexes), the records made from the CSV
  with the least work that gives COPY typed values (no checks), commit included.
  The floor is the table's own cost (three indexes: the key, ``external_id``,
  ``batch_id``; the batch reference checked once per statement, migration 0010,
  where a foreign key used to check it row by row at about half of the COPY's
  time) and the CSV parsing and record encoding in this process, beside it.

Between the two the table is emptied, vacuumed and checkpointed. Memory: the
process's peak resident set (``ru_maxrss``) before and after the import; the
file is never held in memory, so the peak should not grow with ``--rows``.

The database: ``QUOTATREE_DATABASE_URL`` when set (a scratch database on that
server, dropped at the end), else an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg

from service.auth import Principal, Role
from service.db.engine import Database, make_engine
from service.domain.facts import FactKind
from service.domain.tree import DimensionKind
from service.fact_files import digest, file_chunks, open_rows
from service.plans.dimensions import DimensionCreate, MemberCreate, create_dimension, create_member
from service.plans.imports import USE_CASES, FactsImport, content_hash
from service.plans.plans import PlanCreate, create_plan
from service.plans.uow import Change
from tests.benchmarks.versions import asyncpg_dsn, scratch_database

GOAL_ROWS_PER_SECOND = 100_000
GOAL_PEAK_MB = 300
ADMIN = Change(Principal(subject="bench", roles=frozenset({Role.ADMIN})))
REGIONS = 20
CHANNELS = 5
YEARS = (2025, 2026, 2027)

Out = Callable[[str], None]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def write_file(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "External ID",
                "Date",
                "Amount",
                "Quantity",
                "Order Ref",
                "Customer Ref",
                "Region",
                "Channel",
            ]
        )
        for i in range(rows):
            writer.writerow(
                [
                    f"INV-{i:08d}",
                    f"{YEARS[i % 3]}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    f"{(i * 7919) % 100_000}.{i % 100:02d}",
                    str(1 + i % 5),
                    f"SO-{i // 3:08d}",
                    f"CUST-{i % 50_000:06d}",
                    f"R{1 + i % REGIONS:03d}",
                    f"CH{1 + i % CHANNELS:03d}",
                ]
            )


async def seed(db: Database) -> tuple[int, dict[str, int]]:
    plan = await create_plan(
        db, ADMIN, PlanCreate(name="Bench", fiscal_year=2027, target=Decimal(10**9), currency="EUR")
    )
    codes: dict[str, int] = {}
    for name, kind, prefix, count in (
        ("Region", DimensionKind.REGION, "R", REGIONS),
        ("Channel", DimensionKind.CHANNEL, "CH", CHANNELS),
    ):
        dimension = await create_dimension(db, ADMIN, DimensionCreate(name, kind))
        for i in range(1, count + 1):
            member = await create_member(
                db, ADMIN, MemberCreate(dimension.id, f"{prefix}{i:03d}", f"{name} {i}")
            )
            codes[member.code] = member.id
    return plan.plan.id, codes


def floor_records(path: Path, codes: dict[str, int], batch_id: int) -> Iterator[tuple[object, ...]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for ext, day, amount, qty, order, customer, region, channel in reader:
            whole, _, cents = amount.partition(".")
            yield (
                batch_id,
                date.fromisoformat(day),
                ext,
                "EUR",
                int(whole) * 100 + int(cents),
                Decimal(qty),
                order,
                customer,
                [codes[region], codes[channel]],
                None,
            )


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE sales_fact, fact_batch CASCADE")
        await conn.execute("VACUUM ANALYZE sales_fact")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def run(args: argparse.Namespace, out: Out) -> int:
    out(f"quotatree import benchmark: {args.rows:,} CSV rows of sales")
    out(f"python {platform.python_version()}, {platform.machine()}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sales.csv"
        write_file(path, args.rows)
        out(f"file: {path.stat().st_size / 2**20:.1f} MiB")
        async with scratch_database("quotatree_bench_imports") as scratch:
            out(f"PostgreSQL {scratch.server_version} at {scratch.where}")
            engine = make_engine(scratch.url, pool_size=1, max_overflow=0)
            db = Database(engine)
            try:
                plan_id, codes = await seed(db)
                gc.collect()
                before = peak_mb()
                started = time.perf_counter()
                summary = digest(path)
                header, rows = open_rows(path)
                result = await USE_CASES[FactKind.SALES](
                    db,
                    ADMIN,
                    FactsImport(
                        kind=FactKind.SALES,
                        plan_id=plan_id,
                        batch_key=f"file:{summary.sha256}",
                        request_hash=content_hash(FactKind.SALES, plan_id, file_chunks(path)),
                        rows=rows,
                        header=header,
                        source=path.name,
                    ),
                )
                measured = time.perf_counter() - started
                after = peak_mb()
                if result.stored != args.rows:
                    out(f"error: stored {result.stored:,} rows of {args.rows:,}")
                    return 1
                replay_started = time.perf_counter()
                header, rows = open_rows(path)
                replay = await USE_CASES[FactKind.SALES](
                    db,
                    ADMIN,
                    FactsImport(
                        kind=FactKind.SALES,
                        plan_id=plan_id,
                        batch_key=f"file:{summary.sha256}",
                        request_hash=content_hash(FactKind.SALES, plan_id, file_chunks(path)),
                        rows=rows,
                        header=header,
                    ),
                )
                replay_seconds = time.perf_counter() - replay_started
            finally:
                await engine.dispose()
            dsn = asyncpg_dsn(scratch.url)
            await reset(dsn)
            conn = await asyncpg.connect(dsn)
            try:
                batch_id = await conn.fetchval(
                    "INSERT INTO fact_batch (kind, key, plan_id, request_hash, row_count, "
                    "created_by) VALUES ('SALES', 'floor', $1, 'x', 0, 'bench') RETURNING id",
                    plan_id,
                )
                floor_started = time.perf_counter()
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "sales_fact",
                        records=floor_records(path, codes, batch_id),
                        columns=[
                            "batch_id",
                            "sold_on",
                            "external_id",
                            "currency",
                            "amount",
                            "quantity",
                            "order_ref",
                            "customer_ref",
                            "members",
                            "credits",
                        ],
                    )
                floor = time.perf_counter() - floor_started
            finally:
                await conn.close()
    rate = args.rows / measured
    floor_rate = args.rows / floor
    out("")
    out(f"floor (bare asyncpg COPY into sales_fact): {floor:8.2f} s  {floor_rate:12,.0f} rows/s")
    out(f"import (quotatree import actuals):          {measured:8.2f} s  {rate:12,.0f} rows/s")
    out(f"ratio import / floor: {measured / floor:.2f}x")
    out(f"re-import of the same file (replay): {replay_seconds:.2f} s, replayed: {replay.replayed}")
    out(
        f"peak memory of the process: {after:.0f} MB (before the import {before:.0f} MB, "
        f"+{after - before:.0f} MB)"
    )
    out(
        f"goal > {GOAL_ROWS_PER_SECOND:,} rows/s: {'met' if rate > GOAL_ROWS_PER_SECOND else 'NOT met'}"
    )
    out(f"goal < {GOAL_PEAK_MB} MB: {'met' if after < GOAL_PEAK_MB else 'NOT met'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.imports",
        description="Sales import benchmark (prints figures): quotatree import actuals against "
        "a bare COPY of the same rows.",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the CSV file")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.rows = min(args.rows, 5_000)

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        return asyncio.run(run(args, out))
    except (RuntimeError, OSError) as exc:
        print(f"tests.benchmarks.imports: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
