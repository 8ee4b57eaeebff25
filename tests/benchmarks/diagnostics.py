"""Diagnostics benchmark: prints figures, asserts nothing about time.

Run ``python -m tests.benchmarks.diagnostics`` from a checkout with the dev extra
(``quotatree bench diagnostics`` there does the same). Not part of the installed package.

Goal (issue 13): diagnose a 10,000-node version with a year of actuals in under 1 s, and
within 3x of the time to read the same rows.

* the tree and the facts: those of the attainment benchmark
  (:func:`tests.benchmarks.versions.seed_tree`: root -> 10 regions -> 10 channels -> 10
  products -> customers, plus the FY2027 calendar; ``--facts`` sales over 2026 and 2027,
  so the plan year is a year of actuals and 2026 its history), ``asOf`` 2027-12-31;
  every customer buys in several channels, so CHANNEL_CONFLICT has work to do;
* ``floor``: reading the same rows once: one PostgreSQL aggregation of the facts of the
  date range the diagnosis reads to the leaf slices (``SELECT members, sum(amount) ...
  GROUP BY members``) over a bare asyncpg connection;
* ``measured``: :func:`service.plans.diagnostics.diagnose_version` end to end (the
  attainment roll-up, the nodes' coordinates and splits, tiers, reviews, the last sale,
  market sizes, the customers shared between channels: every rule on every node); then,
  printed apart, with the version's readiness (whose open-alert count needs every
  node's pace).

Each figure is the best of ``--repeats`` alternating runs. ``--cores-apart`` measures
with the database server on one core and this process on the others, as with
PostgreSQL on a machine of its own (the diagnosis computes while the database reads the
shared customers: where both share the cores, they compete for them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import date

import asyncpg
import psutil

from tests.benchmarks.attainment import _floor, seed_facts
from tests.benchmarks.versions import FIXED_NODES, scratch_database, seed_tree, settle

GOAL_SECONDS = 1.0
GOAL_RATIO = 3.0
AS_OF = date(2027, 12, 31)

Out = Callable[[str], None]


async def _measured(db: object, version_id: int) -> tuple[float, float, object, object]:
    """(seconds to diagnose, seconds to diagnose and answer readiness, findings, readiness)."""
    from service.plans.diagnostics import diagnose_version

    started = time.perf_counter()
    found = await diagnose_version(db, version_id, AS_OF)  # type: ignore[arg-type]
    diagnosed = time.perf_counter() - started
    ready = found.readiness()
    return diagnosed, time.perf_counter() - started, found, ready


@contextlib.contextmanager
def cores_apart(backend_pid: int) -> Iterator[str]:
    """The database server's processes (its postmaster, found as the parent of the
    backend ``backend_pid``, and all it has started or starts: backends and parallel
    workers inherit the postmaster's affinity) on the last core, this process on the
    others: as with PostgreSQL on a machine of its own, the service's Python and the
    database's work do not compete for cores. Restored afterwards."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--cores-apart needs at least 2 cores")
    try:
        postmaster = psutil.Process(backend_pid).parent()
        if postmaster is None:
            raise psutil.NoSuchProcess(backend_pid)
        before = {p.pid: p.cpu_affinity() for p in [postmaster, *postmaster.children()]}
    except (psutil.NoSuchProcess, psutil.AccessDenied) as e:
        raise SystemExit(
            "--cores-apart sets the database server's CPU affinity: it needs a server on "
            f"this machine that this user may change (the embedded one always): {e}"
        ) from e
    try:
        for pid in before:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).cpu_affinity([cores[-1]])
        os.sched_setaffinity(0, cores[:-1])
        yield f"cores apart: PostgreSQL on core {cores[-1]}, this process on {cores[:-1]}"
    finally:
        os.sched_setaffinity(0, cores)
        for p in [postmaster, *postmaster.children()]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.cpu_affinity(before.get(p.pid, before[postmaster.pid]))


async def run(args: argparse.Namespace, out: Out) -> int:
    from service.db.engine import Database, make_engine

    async with scratch_database("quotatree_bench_diagnostics") as scratch:
        conn = await asyncpg.connect(scratch.dsn)
        db = Database(make_engine(scratch.url, pool_size=1, max_overflow=0))
        try:
            out(
                f"quotatree diagnostics benchmark - Python {platform.python_version()}, "
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
            _, _, found, ready = await _measured(db, seeded.version_id)  # warm-up
            low, high = found.attainment.scan  # type: ignore[attr-defined]
            await _floor(conn, low, high)
            floors: list[float] = []
            measured: list[float] = []
            with_readiness: list[float] = []
            groups = 0
            pinned = (
                cores_apart(int(await conn.fetchval("SELECT pg_backend_pid()")))
                if args.cores_apart
                else contextlib.nullcontext("")
            )
            with pinned as where:
                if where:
                    out(where)
                for _ in range(args.repeats):
                    seconds, groups = await _floor(conn, low, high)
                    floors.append(seconds)
                    seconds, both, found, ready = await _measured(db, seeded.version_id)
                    measured.append(seconds)
                    with_readiness.append(both)
        finally:
            await db.dispose()
            await conn.close()

    t_floor, t_measured = min(floors), min(measured)
    ratio = t_measured / t_floor
    codes = Counter(f.code.value for f in found.findings)  # type: ignore[attr-defined]
    out("")
    out(f"Diagnosis of a {seeded.nodes:,}-node version with {args.facts:,} sales (as of {AS_OF})")
    out(f"  {'':<44} {'best time':>10}   {'ratio':>6}   all runs (ms)")
    out(
        f"  {'floor (GROUP BY members, ' + f'{low}..{high})':<44} {t_floor * 1e3:8.0f} ms   "
        f"x{1.0:5.2f}   " + " ".join(f"{s * 1e3:.0f}" for s in floors)
    )
    out(
        f"  {'diagnose_version() (every rule, every node)':<44} {t_measured * 1e3:8.0f} ms   "
        f"x{ratio:5.2f}   " + " ".join(f"{s * 1e3:.0f}" for s in measured)
    )
    t_both = min(with_readiness)
    out(
        f"  {'  + readiness() (open alerts: every pace)':<44} {t_both * 1e3:8.0f} ms   "
        f"x{t_both / t_floor:5.2f}   " + " ".join(f"{s * 1e3:.0f}" for s in with_readiness)
    )
    out(
        f"  nodes: {len(found.nodes):,}; leaf slices in the floor: {groups:,}; findings: "  # type: ignore[attr-defined]
        + (", ".join(f"{c} {n:,}" for c, n in sorted(codes.items())) or "none")
    )
    out(
        f"  readiness: owned share {ready.owned_share}, actuals through "  # type: ignore[attr-defined]
        f"{ready.actuals_through}, open alerts {ready.open_alerts:,}"  # type: ignore[attr-defined]
    )
    out(
        f"  goal < {GOAL_SECONDS:g} s: {'met' if t_measured < GOAL_SECONDS else 'NOT met'}"
        f" ({t_measured:.2f} s); goal <= {GOAL_RATIO:g}x floor: "
        f"{'met' if ratio <= GOAL_RATIO else 'NOT met'} (x{ratio:.2f})"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.diagnostics",
        description="Diagnostics benchmark (prints figures): every rule on every node of a "
        "version against one PostgreSQL aggregation of the same facts to the leaf slices.",
    )
    parser.add_argument("--nodes", type=int, default=10_000, help="nodes in the version")
    parser.add_argument("--facts", type=int, default=1_000_000, help="sales rows (2 years)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each; the best counts")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument(
        "--cores-apart",
        action="store_true",
        help="measure with the database server on the last core and this process on the "
        "others (as with PostgreSQL on a machine of its own); the server must be local",
    )
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
