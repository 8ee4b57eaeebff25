"""Attainment benchmark: prints figures, asserts nothing about time.

Run ``python -m tests.benchmarks.attainment`` from a checkout with the dev extra
(``quotatree bench attainment`` there does the same). Not part of the installed package.

Goal (issue 12): attainment for every node of a 10,000-node version over 1,000,000 fact
rows in under 2 s, and within 2x of the floor measured in the same run.

* the tree: :func:`tests.benchmarks.versions.seed_tree` (root -> 10 regions -> 10
  channels -> 10 products -> customers, ``--nodes`` nodes) plus a calendar (FY2027
  and its quarters) so the root's period is the fiscal year;
* the facts: ``--facts`` sales spread evenly over the leaves (members = the leaf's
  region, channel, product and customer) and over 2026 and 2027 (so the seasonal
  forecast has a year of history), one in 20 with split credit; ``asOf`` 2027-06-30;
* ``floor``: one PostgreSQL aggregation of the same facts (the date range the
  measured path reads, ``VersionAttainment.scan``: the history years whole and the
  fiscal year up to ``asOf``, the last day any number reads) to the leaf slices,
  ``SELECT members, sum(amount) ... GROUP BY members``, fetched over a bare asyncpg
  connection;
* ``measured``: :func:`service.plans.attainment.version_attainment` end to end (its
  three statements through SQLAlchemy, the roll-up by hierarchy) and then every
  node's numbers (``all_nodes()``: target-to-date, pace, forecasts, status).

Each figure is the best of ``--repeats`` alternating runs.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
from collections.abc import Callable, Sequence
from datetime import date

import asyncpg

from tests.benchmarks.versions import FIXED_NODES, scratch_database, seed_tree, settle

GOAL_SECONDS = 2.0
GOAL_RATIO = 2.0
AS_OF = date(2027, 6, 30)

Out = Callable[[str], None]

CALENDAR = """
WITH d AS (
    INSERT INTO dimension (kind, name, plan_id) VALUES ('TIME', 'FY2027 calendar', $1)
    RETURNING id
), y AS (
    INSERT INTO member (dimension_id, code, name, path, sort_path, depth, sort_order,
                        starts_on, ends_on)
    SELECT id, 'FY2027', 'FY2027', '', tree_order_int(1) || 'FY2027' || chr(1), 0, 1,
           date '2027-01-01', date '2028-01-01' FROM d
    RETURNING id, dimension_id
)
UPDATE plan SET time_dimension_id = (SELECT dimension_id FROM y) WHERE id = $1
RETURNING time_dimension_id
"""

FACTS = """
INSERT INTO sales_fact (sold_on, batch_id, external_id, currency, amount, order_ref,
                        customer_ref, members, credits)
SELECT date '2026-01-01' + (g::bigint * 7919 % 730)::int, $1, 'f' || g, 'EUR',
       100 + (g::bigint * 104729) % 100000, 'o' || (g / 3), 'c' || (g % 50000), l.members,
       CASE WHEN g % 20 = 0 THEN '{"1": "0.6", "2": "0.4"}'::jsonb END
FROM generate_series(1, $2::int) AS g
JOIN bench_leaves l ON l.i = (g::bigint * 2654435761) % $3
"""


async def seed_facts(conn: asyncpg.Connection, plan_id: int, version_id: int, facts: int) -> int:
    time_dimension = await conn.fetchval(CALENDAR, plan_id)
    await conn.execute(
        "UPDATE member SET path = id::text || '.' WHERE dimension_id = $1", time_dimension
    )
    for year in (2026, 2027):
        await conn.execute(
            f"CREATE TABLE sales_fact_fy{year} PARTITION OF sales_fact "
            f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')"
        )
    await conn.execute(
        """CREATE TEMP TABLE bench_leaves AS
           SELECT row_number() OVER (ORDER BY sort_path) - 1 AS i,
                  ARRAY(SELECT (c->>1)::bigint FROM jsonb_array_elements(coordinates) c)
                    AS members
           FROM target_node WHERE version_id = $1 AND split_dimension_id IS NULL""",
        version_id,
    )
    leaves = int(await conn.fetchval("SELECT count(*) FROM bench_leaves"))
    batch = await conn.fetchval(
        "INSERT INTO fact_batch (kind, key, plan_id, request_hash, row_count, created_by) "
        "VALUES ('SALES', 'bench', $1, 'x', $2, 'bench') RETURNING id",
        plan_id,
        facts,
    )
    await conn.execute(FACTS, batch, facts, leaves)
    await conn.execute("ANALYZE sales_fact")
    return leaves


FLOOR = """
SELECT members, sum(amount)::bigint FROM sales_fact
WHERE sold_on >= $1 AND sold_on < $2 GROUP BY members
"""


async def _floor(conn: asyncpg.Connection, low: date, high: date) -> tuple[float, int]:
    started = time.perf_counter()
    rows = await conn.fetch(FLOOR, low, high)
    return time.perf_counter() - started, len(rows)


async def _measured(db: object, version_id: int) -> tuple[float, int, object]:
    from service.plans.attainment import version_attainment

    started = time.perf_counter()
    numbers = await version_attainment(db, version_id, AS_OF)  # type: ignore[arg-type]
    every = numbers.all_nodes()
    return time.perf_counter() - started, len(every), numbers


async def run(args: argparse.Namespace, out: Out) -> int:
    from service.db.engine import Database, make_engine

    async with scratch_database("quotatree_bench_attainment") as scratch:
        conn = await asyncpg.connect(scratch.dsn)
        db = Database(make_engine(scratch.url, pool_size=1, max_overflow=0))
        try:
            out(
                f"quotatree attainment benchmark - Python {platform.python_version()}, "
                f"PostgreSQL {scratch.server_version} ({scratch.where}); best of {args.repeats}"
            )
            started = time.perf_counter()
            seeded = await seed_tree(conn, args.nodes)
            leaves = await seed_facts(conn, seeded.plan_id, seeded.version_id, args.facts)
            await settle(conn)
            out(
                f"seeded {seeded.nodes:,} nodes ({leaves:,} leaves) and {args.facts:,} sales "
                f"(2026-2027) with SQL in {time.perf_counter() - started:.1f} s"
            )
            _, count, numbers = await _measured(db, seeded.version_id)  # warm-up
            low, high = numbers.scan  # type: ignore[attr-defined]
            await _floor(conn, low, high)
            floors: list[float] = []
            measured: list[float] = []
            groups = 0
            for _ in range(args.repeats):
                seconds, groups = await _floor(conn, low, high)
                floors.append(seconds)
                seconds, count, numbers = await _measured(db, seeded.version_id)
                measured.append(seconds)
            root = numbers.node(seeded.root_key)  # type: ignore[attr-defined]
            total = int(
                await conn.fetchval(
                    "SELECT coalesce(sum(amount), 0) FROM sales_fact "
                    "WHERE sold_on >= '2027-01-01' AND sold_on <= $1",
                    AS_OF,
                )
            )
        finally:
            await db.dispose()
            await conn.close()

    t_floor, t_measured = min(floors), min(measured)
    ratio = t_measured / t_floor
    out("")
    out(
        f"Attainment of every node of a {seeded.nodes:,}-node version over {args.facts:,} "
        f"sales (as of {AS_OF})"
    )
    out(f"  {'':<44} {'best time':>10}   {'ratio':>6}   all runs (ms)")
    out(
        f"  {'floor (GROUP BY members, ' + f'{low}..{high})':<44} {t_floor * 1e3:8.0f} ms   "
        f"x{1.0:5.2f}   " + " ".join(f"{s * 1e3:.0f}" for s in floors)
    )
    out(
        f"  {'version_attainment() + all_nodes()':<44} {t_measured * 1e3:8.0f} ms   "
        f"x{ratio:5.2f}   " + " ".join(f"{s * 1e3:.0f}" for s in measured)
    )
    same = root is not None and root.actual == total
    out(
        f"  nodes computed: {count:,}; leaf slices in the floor: {groups:,}; root actual "
        f"equals the facts' sum to asOf: {'yes' if same else 'NO'}"
    )
    out(
        f"  goal < {GOAL_SECONDS:g} s: {'met' if t_measured < GOAL_SECONDS else 'NOT met'}"
        f" ({t_measured:.2f} s); goal <= {GOAL_RATIO:g}x floor: "
        f"{'met' if ratio <= GOAL_RATIO else 'NOT met'} (x{ratio:.2f})"
    )
    return 0 if same else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.attainment",
        description="Attainment benchmark (prints figures): every node of a version against "
        "one PostgreSQL aggregation of the same facts to the leaf slices.",
    )
    parser.add_argument("--nodes", type=int, default=10_000, help="nodes in the version")
    parser.add_argument("--facts", type=int, default=1_000_000, help="sales rows")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each; the best counts")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.nodes = min(args.nodes, 2_000)
        args.facts = min(args.facts, 20_000)
        args.repeats = min(args.repeats, 2)
    if args.nodes < FIXED_NODES:
        parser.error(f"--nodes must be at least {FIXED_NODES:,}")
    if args.repeats < 1 or args.facts < 1:
        parser.error("--repeats and --facts must be at least 1")

    def out(line: str) -> None:
        print(line, flush=True)

    return asyncio.run(run(args, out))


if __name__ == "__main__":
    raise SystemExit(main())
