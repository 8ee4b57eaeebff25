"""Version copy benchmark: prints figures, asserts nothing about time.

Run ``python -m tests.benchmarks.versions`` from a checkout with the dev extra
(``quotatree bench versions`` there does the same). Not part of the installed package.

Goal (issue): copy a 100,000-node version into a new draft within 1.3x of a
bare ``INSERT ... SELECT`` of the same rows measured in the same run.

* ``floor``: one transaction holding only ``INSERT INTO target_node (...) SELECT
  ... FROM target_node WHERE version_id = $source`` into a draft version row made
  beforehand with plain SQL (same table, so the same indexes, foreign keys and
  statement trigger), over a bare asyncpg connection, commit included;
* ``create_draft()``: :func:`service.plans.versions.create_draft` end to end with
  a :class:`~service.db.engine.Database` and an admin principal: its transaction,
  the plan lock, the version number, the version row, the copy, the audit entry,
  the refresh and the commit.

Runs alternate (floor, measured, floor, ...); each copy is deleted afterwards and
the table vacuumed and checkpointed so every run starts from the same state. Each
figure is the best of ``--repeats``.

The database: ``QUOTATREE_DATABASE_URL`` when set (a scratch database is created
on that server and dropped at the end), else an embedded PostgreSQL in a
temporary folder. The tree is seeded with SQL (``generate_series``), not through
the API: root -> 10 regions -> 10 channels -> 10 products -> customers, the
customer level sized so the version has exactly ``--nodes`` nodes, every split
adding up exactly to its parent. :mod:`tests.benchmarks.http` seeds with the same
helpers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from tests.databases import create_database, drop_database, migrate, postgres_server

GOAL_RATIO = 1.3
ROOT_TARGET = 12_000_000_000  # 120 million in cents
TOP_LEVELS = (("Regions", "REGION", "R", 10), ("Channels", "CHANNEL", "CH", 10))
PRODUCTS = ("Products", "PRODUCT", "P", 10)
CUSTOMERS = ("Customers", "CUSTOMER", "C", 100)
FIXED_NODES = 1 + 10 + 100 + 1_000  # root, regions, channels, products

Out = Callable[[str], None]


# --- scratch database ---------------------------------------------------------------------


@dataclass
class Scratch:
    """A scratch database: its SQLAlchemy URL and where it lives."""

    url: str
    where: str
    server_version: str = ""

    @property
    def dsn(self) -> str:
        """The plain ``postgresql://`` form for asyncpg (a socket dir stays in ``?host=``)."""
        return asyncpg_dsn(self.url)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[Scratch]:
    """A fresh database migrated to head, dropped afterwards.

    On the server of ``QUOTATREE_DATABASE_URL`` when set, else on an embedded
    PostgreSQL in a temporary folder (stopped afterwards): the test suite's
    helpers (:mod:`tests.databases`).
    """
    from service.db.engine import make_engine

    with postgres_server() as server:
        name = await create_database(server, prefix)
        try:
            url = server.url_for(name)
            admin = await asyncpg.connect(asyncpg_dsn(url))
            try:
                version = str(await admin.fetchval("SHOW server_version"))
            finally:
                await admin.close()
            engine = make_engine(url, pool_size=1, max_overflow=0)
            try:
                await migrate(engine)
            finally:
                await engine.dispose()
            yield Scratch(url=url, where=server.where, server_version=version.split()[0])
        finally:
            await drop_database(server, name)


# --- seeding --------------------------------------------------------------------------------


@dataclass
class Seeded:
    plan_id: int
    version_id: int
    root_key: int
    dimensions: dict[str, int] = field(default_factory=dict)
    levels: list[int] = field(default_factory=list)
    """Node count per depth."""

    @property
    def nodes(self) -> int:
        return sum(self.levels)


async def add_dimension(
    conn: asyncpg.Connection, name: str, kind: str, code_prefix: str, count: int
) -> int:
    """A dimension with ``count`` flat members (codes ``<prefix>001``..., sort order 1..n)."""
    dimension_id = int(
        await conn.fetchval(
            "INSERT INTO dimension (kind, name) VALUES ($1, $2) RETURNING id", kind, name
        )
    )
    await conn.execute(
        """
        INSERT INTO member (dimension_id, code, name, path, sort_path, depth, sort_order)
        SELECT $1, $2 || lpad(i::text, 3, '0'), $3 || ' ' || lpad(i::text, 3, '0'), '',
               tree_order_int(i) || $2 || lpad(i::text, 3, '0') || chr(1), 0, i
        FROM generate_series(1, $4::int) AS i
        """,
        dimension_id,
        code_prefix,
        name.rstrip("s"),
        count,
    )
    await conn.execute(
        "UPDATE member SET path = id::text || '.' WHERE dimension_id = $1", dimension_id
    )
    return dimension_id


# Children of every node at depth $2 (or only node $6) along dimension $3: the first
# $4 members (one more for the first $5 parents in tree order), keys from the
# sequence, path = parent's path + key + ".", sort path = parent's + (sort order, key)
# as service.domain.paths.node_sort_path writes it, the parent's coordinates + the own one,
# targets split by member weights with the remainder on the first child, so children
# add up exactly to their parent.
ADD_LEVEL = """
WITH parents AS (
    SELECT key, path, sort_path, depth, coordinates, target,
           row_number() OVER (ORDER BY sort_path) - 1 AS ord
    FROM target_node
    WHERE version_id = $1 AND depth = $2 AND ($6::bigint IS NULL OR key = $6)
),
picked AS MATERIALIZED (
    SELECT p.key AS parent_key, p.path AS parent_path, p.sort_path AS parent_sort_path,
           p.depth + 1 AS depth,
           p.coordinates AS parent_coordinates, p.target AS parent_target,
           m.id AS member_id, m.sort_order AS idx, 1 + (m.sort_order * 37) % 11 AS weight,
           nextval('target_node_key_seq') AS key
    FROM parents p
    CROSS JOIN LATERAL (
        SELECT id, sort_order FROM member
        WHERE dimension_id = $3
        ORDER BY sort_order
        LIMIT $4::int + CASE WHEN p.ord < $5::int THEN 1 ELSE 0 END
    ) m
),
shared AS (
    SELECT *, sum(weight) OVER (PARTITION BY parent_key) AS total_weight,
           parent_target * weight / sum(weight) OVER (PARTITION BY parent_key) AS base,
           row_number() OVER (PARTITION BY parent_key ORDER BY idx) AS rn
    FROM picked
),
fixed AS (
    SELECT *, (base + CASE WHEN rn = 1
                      THEN parent_target - sum(base) OVER (PARTITION BY parent_key)
                      ELSE 0 END)::bigint AS amount
    FROM shared
)
INSERT INTO target_node (version_id, key, plan_id, parent_key, path, sort_path, depth,
                         sort_order, dimension_id, member_id, coordinates, target, explanation)
SELECT $1, key, $7, parent_key, parent_path || key::text || '.',
       parent_sort_path || tree_order_int(idx) || tree_order_int(key) || '.', depth, idx, $3,
       member_id,
       parent_coordinates || jsonb_build_array(jsonb_build_array($3::bigint, member_id)),
       amount,
       jsonb_build_object('method', 'WEIGHTS', 'weight', weight, 'totalWeight', total_weight,
                          'share', round(weight::numeric / total_weight, 6)::text)
FROM fixed
"""

MARK_SPLIT = """
UPDATE target_node p
SET split_dimension_id = $3,
    split_spec = jsonb_build_object('method', 'WEIGHTS', 'dimensionId', $3::bigint)
WHERE p.version_id = $1 AND p.depth = $2 AND ($4::bigint IS NULL OR p.key = $4)
  AND EXISTS (SELECT 1 FROM target_node c WHERE c.version_id = $1 AND c.parent_key = p.key)
"""


async def add_level(
    conn: asyncpg.Connection,
    seeded: Seeded,
    *,
    parent_depth: int,
    dimension_id: int,
    per_parent: int,
    extra: int = 0,
    only_key: int | None = None,
) -> int:
    """Split the nodes at ``parent_depth`` (or only ``only_key``); returns nodes added."""
    status = await conn.execute(
        ADD_LEVEL,
        seeded.version_id,
        parent_depth,
        dimension_id,
        per_parent,
        extra,
        only_key,
        seeded.plan_id,
    )
    added = int(status.split()[-1])
    await conn.execute(MARK_SPLIT, seeded.version_id, parent_depth, dimension_id, only_key)
    # Fresh statistics before the next level: planned on a near-empty table, the foreign
    # key check on the parent may pick (version_id, sort_path) over the primary key and
    # then scan the whole version for every row inserted.
    await conn.execute("ANALYZE target_node")
    while len(seeded.levels) <= parent_depth + 1:
        seeded.levels.append(0)
    seeded.levels[parent_depth + 1] += added
    return added


async def seed_tree(conn: asyncpg.Connection, nodes: int, name: str = "Bench FY2027") -> Seeded:
    """A plan, a DRAFT version and a complete tree of exactly ``nodes`` nodes.

    root -> 10 regions -> 10 channels each -> 10 products each -> customers, the
    ``nodes - 1,111`` customer leaves spread evenly over the 1,000 product nodes.
    """
    if nodes < FIXED_NODES:
        raise ValueError(f"--nodes must be at least {FIXED_NODES:,}")
    leaves = nodes - FIXED_NODES
    per_product, extra = divmod(leaves, 1_000)
    async with conn.transaction():
        plan_id = int(
            await conn.fetchval(
                "INSERT INTO plan (name, measure, currency, minor_digits, fiscal_year, "
                "created_by) VALUES ($1, 'AMOUNT', 'EUR', 2, 2027, 'bench') RETURNING id",
                name,
            )
        )
        version_id = int(
            await conn.fetchval(
                "INSERT INTO plan_version (plan_id, number, name, state, created_by) "
                "VALUES ($1, 1, 'Version 1', 'DRAFT', 'bench') RETURNING id",
                plan_id,
            )
        )
        root_key = int(
            await conn.fetchval(
                """
                INSERT INTO target_node (version_id, key, plan_id, path, sort_path, depth,
                                         coordinates, target)
                SELECT $1, k, $2, k::text || '.', tree_order_int(0) || tree_order_int(k) || '.',
                       0, '[]', $3
                FROM (SELECT nextval('target_node_key_seq') AS k) AS s
                RETURNING key
                """,
                version_id,
                plan_id,
                ROOT_TARGET,
            )
        )
        seeded = Seeded(plan_id=plan_id, version_id=version_id, root_key=root_key, levels=[1])
        customers = (*CUSTOMERS[:3], max(CUSTOMERS[3], per_product + (1 if extra else 0)))
        for depth, (dim_name, kind, prefix, count) in enumerate((*TOP_LEVELS, PRODUCTS, customers)):
            dimension_id = await add_dimension(conn, dim_name, kind, prefix, count)
            seeded.dimensions[dim_name] = dimension_id
            if depth < 3:
                await add_level(
                    conn, seeded, parent_depth=depth, dimension_id=dimension_id, per_parent=count
                )
            else:
                await add_level(
                    conn,
                    seeded,
                    parent_depth=depth,
                    dimension_id=dimension_id,
                    per_parent=per_product,
                    extra=extra,
                )
    return seeded


async def check_sums(conn: asyncpg.Connection, version_id: int) -> int:
    """Number of nodes whose children do not add up to them (0 expected)."""
    return int(
        await conn.fetchval(
            """
            SELECT count(*) FROM target_node p
            JOIN (SELECT parent_key, sum(target) AS s FROM target_node
                  WHERE version_id = $1 AND parent_key IS NOT NULL GROUP BY parent_key) c
              ON c.parent_key = p.key
            WHERE p.version_id = $1 AND (c.s <> p.target OR p.split_dimension_id IS NULL)
            """,
            version_id,
        )
    )


async def settle(conn: asyncpg.Connection) -> None:
    """Vacuum, analyse and checkpoint, so every timed run starts from the same state."""
    await conn.execute("VACUUM (ANALYZE) target_node")
    await conn.execute("VACUUM (ANALYZE) plan_version")
    await conn.execute("CHECKPOINT")


# --- the benchmark ----------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.1f} ms"


async def _floor_copy(conn: asyncpg.Connection, seeded: Seeded) -> tuple[float, int, int]:
    """(seconds, rows, version id): the bare INSERT ... SELECT in its own transaction."""
    from service.db.repositories import NODE_COPY_COLUMNS

    target = int(
        await conn.fetchval(
            """
            INSERT INTO plan_version (plan_id, number, name, state, copied_from_id, created_by)
            SELECT $1, coalesce(max(number), 0) + 1, 'floor copy', 'DRAFT', $2, 'bench'
            FROM plan_version WHERE plan_id = $1
            RETURNING id
            """,
            seeded.plan_id,
            seeded.version_id,
        )
    )
    sql = (
        f"INSERT INTO target_node (version_id, {NODE_COPY_COLUMNS}) "
        f"SELECT $1, {NODE_COPY_COLUMNS} FROM target_node WHERE version_id = $2"
    )
    gc.collect()
    start = time.perf_counter()
    async with conn.transaction():
        status = await conn.execute(sql, target, seeded.version_id)
    elapsed = time.perf_counter() - start
    return elapsed, int(status.split()[-1]), target


async def _measured_copy(db: Any, principal: Any, seeded: Seeded) -> tuple[float, int]:
    """(seconds, version id): create_draft() end to end."""
    from service.plans.uow import Change
    from service.plans.versions import DraftCreate, create_draft

    gc.collect()
    start = time.perf_counter()
    draft = await create_draft(db, Change(principal), DraftCreate(source_id=seeded.version_id))
    elapsed = time.perf_counter() - start
    return elapsed, int(draft.id)


async def _drop_copy(conn: asyncpg.Connection, version_id: int) -> int:
    rows = int(
        await conn.fetchval("SELECT count(*) FROM target_node WHERE version_id = $1", version_id)
    )
    async with conn.transaction():
        await conn.execute("DELETE FROM target_node WHERE version_id = $1", version_id)
        await conn.execute("DELETE FROM plan_version WHERE id = $1", version_id)
    return rows


async def run(args: argparse.Namespace, out: Out) -> int:
    from service.auth import Principal, Role
    from service.db.engine import Database, make_engine

    async with scratch_database("quotatree_bench_versions") as scratch:
        conn = await asyncpg.connect(scratch.dsn)
        db = Database(make_engine(scratch.url, pool_size=1, max_overflow=0))
        try:
            out(
                f"quotatree versions benchmark - Python {platform.python_version()}, "
                f"PostgreSQL {scratch.server_version} ({scratch.where}); best of {args.repeats}"
            )
            started = time.perf_counter()
            seeded = await seed_tree(conn, args.nodes)
            bad = await check_sums(conn, seeded.version_id)
            await settle(conn)
            levels = " / ".join(f"{n:,}" for n in seeded.levels)
            out(
                f"seeded {seeded.nodes:,} nodes with SQL in {time.perf_counter() - started:.1f} s "
                f"(per depth: {levels}); children add up to parents: "
                f"{'yes' if bad == 0 else f'NO ({bad} nodes)'}"
            )
            principal = Principal(subject="bench", roles=frozenset({Role.ADMIN}))

            # One untimed round of each: warms the pool, caches and prepared statements.
            await _drop_copy(conn, (await _floor_copy(conn, seeded))[2])
            await _drop_copy(conn, (await _measured_copy(db, principal, seeded))[1])
            await settle(conn)

            floors: list[float] = []
            measured: list[float] = []
            floor_rows: set[int] = set()
            measured_rows: set[int] = set()
            for _ in range(args.repeats):
                seconds, rows, version = await _floor_copy(conn, seeded)
                floors.append(seconds)
                floor_rows.add(await _drop_copy(conn, version))
                floor_rows.add(rows)
                await settle(conn)
                seconds, version = await _measured_copy(db, principal, seeded)
                measured.append(seconds)
                measured_rows.add(await _drop_copy(conn, version))
                await settle(conn)
        finally:
            await db.dispose()
            await conn.close()

    t_floor, t_measured = min(floors), min(measured)
    ratio = t_measured / t_floor
    out("")
    out(f"Copy a {seeded.nodes:,}-node version into a new draft")
    out(f"  {'':<30} {'best time':>12}   {'ratio':>6}   all runs (ms)")
    out(
        f"  {'floor (INSERT ... SELECT)':<30} {_ms(t_floor)}   x{1.0:5.2f}   "
        + " ".join(f"{s * 1e3:.0f}" for s in floors)
    )
    out(
        f"  {'create_draft() end to end':<30} {_ms(t_measured)}   x{ratio:5.2f}   "
        + " ".join(f"{s * 1e3:.0f}" for s in measured)
    )
    rows_text = ", ".join(f"{n:,}" for n in sorted(floor_rows | measured_rows))
    same = floor_rows == measured_rows == {seeded.nodes}
    out(
        f"  rows copied per run: {rows_text} ({'every run, both' if same else 'MISMATCH'}); "
        f"{t_measured / seeded.nodes * 1e6:.2f} us per node"
    )
    out(
        f"  goal create_draft() <= {GOAL_RATIO:g}x floor: "
        f"{'met' if ratio <= GOAL_RATIO else 'NOT met'} (x{ratio:.2f})"
    )
    return 0 if same else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.versions",
        description="Version copy benchmark (prints figures): create_draft() against a bare "
        "INSERT ... SELECT of the same rows.",
    )
    parser.add_argument("--nodes", type=int, default=100_000, help="nodes in the source version")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each; the best counts")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.nodes = min(args.nodes, 2_000)
        args.repeats = min(args.repeats, 2)
    if args.nodes < FIXED_NODES:
        parser.error(f"--nodes must be at least {FIXED_NODES:,}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        return asyncio.run(run(args, out))
    except (RuntimeError, OSError) as exc:  # the embedded server or the database refused
        print(f"tests.benchmarks.versions: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
