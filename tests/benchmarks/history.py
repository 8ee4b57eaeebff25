"""History read benchmark: prints figures, asserts nothing about time.

Run ``python -m tests.benchmarks.history`` from a checkout with the dev extra
(``quotatree bench history`` does the same). Not part of the installed package.

What ``HISTORY``/``BLEND``/``SEASONAL`` splits, ``planCreate(fromHistory:)`` and
re-plans read: :func:`service.db.facts.slice_totals`, the sums of many slices.

* the data: :func:`tests.benchmarks.versions.seed_tree` (root -> 10 regions -> 10
  channels -> 10 products -> customers) and ``--facts`` sales over its leaves in
  2026 and 2027 (:func:`tests.benchmarks.attainment.seed_facts`);
* the queries: every region and every region x channel node (110 slices), each for
  FY2026, FY2027 and each quarter of FY2026 (six ranges: 660 queries);
* ``floor``: reading the same fact rows, one PostgreSQL aggregation of the facts of
  the queried range (``count``, ``sum(amount)``, ``sum(quantity)``) over a bare
  asyncpg connection;
* ``measured``: ``slice_totals`` of the 660 queries through SQLAlchemy; checked
  against the floor (the regions' FY2026 + FY2027 totals add up to every fact).

Each figure is the best of ``--repeats`` alternating runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date

import asyncpg

from tests.benchmarks.attainment import seed_facts
from tests.benchmarks.versions import scratch_database, seed_tree, settle

Out = Callable[[str], None]
LOW, HIGH = date(2026, 1, 1), date(2028, 1, 1)
RANGES = (
    (date(2026, 1, 1), date(2027, 1, 1)),
    (date(2027, 1, 1), date(2028, 1, 1)),
    (date(2026, 1, 1), date(2026, 4, 1)),
    (date(2026, 4, 1), date(2026, 7, 1)),
    (date(2026, 7, 1), date(2026, 10, 1)),
    (date(2026, 10, 1), date(2027, 1, 1)),
)
FLOOR = """
SELECT count(*), sum(amount), sum(quantity) FROM sales_fact
WHERE sold_on >= $1 AND sold_on < $2 AND currency = 'EUR'
"""


async def run(args: argparse.Namespace, out: Out) -> int:
    from service.db.engine import Database, make_engine
    from service.db.facts import SliceQuery, slice_totals

    async with scratch_database("quotatree_bench_history") as scratch:
        conn = await asyncpg.connect(scratch.dsn)
        db = Database(make_engine(scratch.url, pool_size=1, max_overflow=0))
        try:
            out(
                f"quotatree history benchmark - Python {platform.python_version()}, "
                f"PostgreSQL {scratch.server_version} ({scratch.where}); best of {args.repeats}"
            )
            started = time.perf_counter()
            seeded = await seed_tree(conn, args.nodes)
            await seed_facts(conn, seeded.plan_id, seeded.version_id, args.facts)
            await settle(conn)
            out(
                f"seeded {seeded.nodes:,} nodes and {args.facts:,} sales (2026-2027) with SQL "
                f"in {time.perf_counter() - started:.1f} s"
            )
            rows = await conn.fetch(
                "SELECT depth, coordinates FROM target_node WHERE version_id = $1 "
                "AND depth IN (1, 2) ORDER BY sort_path",
                seeded.version_id,
            )
            slices = [
                (r["depth"], [(int(d), int(m)) for d, m in json.loads(r["coordinates"])])
                for r in rows
            ]
            queries = [SliceQuery(c, lo, hi) for _, c in slices for lo, hi in RANGES]
            floors: list[float] = []
            measured: list[float] = []
            totals = []
            for _ in range(args.repeats + 1):  # the first of each: a warm-up
                started = time.perf_counter()
                count, amount, _quantity = await conn.fetchrow(FLOOR, LOW, HIGH)
                floors.append(time.perf_counter() - started)
                started = time.perf_counter()
                async with db.read_session() as session:
                    totals = await slice_totals(session, queries, currency="EUR")
                measured.append(time.perf_counter() - started)
        finally:
            await db.dispose()
            await conn.close()
    chunks = [totals[i : i + len(RANGES)] for i in range(0, len(totals), len(RANGES))]
    years = [
        t for (depth, _), chunk in zip(slices, chunks, strict=True) if depth == 1 for t in chunk[:2]
    ]
    same = sum(t.count for t in years) == count and sum(t.amount for t in years) == amount
    t_floor, t_measured = min(floors[1:]), min(measured[1:])
    out("")
    out(f"History of {len(slices)} slices x {len(RANGES)} ranges ({len(queries):,} queries)")
    out(f"over {args.facts:,} sales ({count:,} in {LOW}..{HIGH})")
    out(f"  {'':<40} {'best time':>10}   {'ratio':>6}   all runs (ms)")
    out(
        f"  {'floor (read the same facts, one SUM)':<40} {t_floor * 1e3:8.0f} ms   "
        f"x{1.0:5.2f}   " + " ".join(f"{s * 1e3:.0f}" for s in floors[1:])
    )
    out(
        f"  {'slice_totals()':<40} {t_measured * 1e3:8.0f} ms   "
        f"x{t_measured / t_floor:5.2f}   " + " ".join(f"{s * 1e3:.0f}" for s in measured[1:])
    )
    out(f"  the regions' years add up to every fact: {'yes' if same else 'NO'}")
    return 0 if same else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.history",
        description="History read benchmark (prints figures): slice_totals of many slices "
        "against one aggregation reading the same facts.",
    )
    parser.add_argument("--nodes", type=int, default=10_000, help="nodes in the version")
    parser.add_argument("--facts", type=int, default=1_000_000, help="sales rows")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.nodes, args.facts, args.repeats = 2_000, 20_000, 1

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        return asyncio.run(run(args, out))
    except (RuntimeError, OSError) as exc:
        print(f"tests.benchmarks.history: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
