"""Smoke runs of the benchmarks at tiny sizes: they run end to end and print their
headline lines. Figures are not asserted (benchmarks are not timed tests).

Each ``main`` runs its own event loop (``asyncio.run``), so these tests are plain
functions; the database is ``QUOTATREE_DATABASE_URL`` when set (a scratch database
on it), else an embedded PostgreSQL in a temporary folder, as in the benchmarks.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import asyncpg
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.benchmarks import attainment as bench_attainment
from tests.benchmarks import diagnostics as bench_diagnostics
from tests.benchmarks import http as bench_http
from tests.benchmarks import subscriptions as bench_subscriptions
from tests.benchmarks import versions as bench_versions
from tests.benchmarks.versions import asyncpg_dsn


def test_versions_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_versions.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "quotatree versions benchmark" in out
    assert "seeded 2,000 nodes" in out and "children add up to parents: yes" in out
    assert "Copy a 2,000-node version into a new draft" in out
    assert "floor (INSERT ... SELECT)" in out
    assert "create_draft() end to end" in out
    assert "rows copied per run: 2,000 (every run, both)" in out
    assert "goal create_draft() <= 1.3x floor: " in out


@pytest.mark.parametrize(
    "generator",
    [
        "python",
        pytest.param(
            "wrk",
            marks=pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed"),
        ),
    ],
)
def test_http_benchmark_smoke(generator: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_http.main(["--quick", "--generator", generator]) == 0
    out = capsys.readouterr().out
    assert "quotatree http benchmark" in out
    assert "CPU cores shared by the server, the load generator and PostgreSQL" in out
    assert "production configuration" in out
    assert "Bulk read: planVersion.subtree of a region" in out
    assert "(truncated: false; expected " in out and "same answer every run: yes" in out
    assert "floor (asyncpg fetch + orjson)" in out
    assert "goal http <= 3x floor: " in out
    assert "before: peak (VmHWM)" in out and "after:  peak (VmHWM)" in out
    assert "Small query: a node, its 20 children and their slices" in out
    assert f"load generator: {'Python' if generator == 'python' else 'wrk'}" in out
    assert "requests/s" in out and "p99" in out
    assert "typed floor: strawberry alone executing the same document" in out
    assert "(20 children x 5 coordinates" in out and "of that ceiling" in out
    assert "non-200 or error responses: 0, transport errors: 0" in out
    assert "goal >= 500 requests/s from one server process: " in out
    assert "server stopped (exit code 0)" in out
    assert "a change committed through A reached all 10 subscribers on B" in out


def test_typed_floor_executes_the_benchmark_document() -> None:
    """The floor runs the very document the load generator sends, over the same shape."""
    from tests.benchmarks.typed_floor import answer, seconds_per_query

    data: Any = answer(bench_http.SMALL_QUERY, 20, 5)
    children = data["node"]["children"]
    assert data["node"]["id"] and data["node"]["target"] == "1234.56"
    assert len(children) == 20
    assert all(set(c) == {"id", "target", "share", "slice"} for c in children)
    assert all(len(c["slice"]) == 5 for c in children)
    assert children[0]["slice"][0] == {
        "dimension": {"name": "Dimension 0"},
        "member": {"code": "M1.0", "name": "Member 1.0"},
    }
    assert seconds_per_query(bench_http.SMALL_QUERY, 20, 5, repeats=1, per_batch=2) > 0


def test_attainment_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_attainment.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "quotatree attainment benchmark" in out
    assert "Attainment of every node of a 2,000-node version over 20,000 sales" in out
    assert "floor (GROUP BY members" in out and "version_attainment() + all_nodes()" in out
    assert "root actual equals the facts' sum to asOf: yes" in out
    assert "goal <= 2x floor: " in out


def test_diagnostics_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_diagnostics.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "quotatree diagnostics benchmark" in out
    assert "Diagnosis of a 2,000-node version with 20,000 sales" in out
    assert "floor (GROUP BY members" in out and "diagnose_version() (every rule" in out
    assert "CHANNEL_CONFLICT" in out and "goal <= 3x floor: " in out


async def test_cores_apart_pins_the_server_and_restores_it(engine: AsyncEngine) -> None:
    """``--cores-apart``: the server's processes, and those it starts meanwhile, on the
    last core and this process on the others; everything as it was afterwards."""
    mine = os.sched_getaffinity(0)
    if len(mine) < 2:
        pytest.skip("one core: nothing to keep apart")
    last = max(mine)
    async with engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        postmaster = psutil.Process(pid).parent()
        assert postmaster is not None
        before = postmaster.cpu_affinity()
        with bench_diagnostics.cores_apart(pid) as where:
            assert where.startswith(f"cores apart: PostgreSQL on core {last}")
            assert postmaster.cpu_affinity() == [last]
            assert psutil.Process(pid).cpu_affinity() == [last]
            assert os.sched_getaffinity(0) == mine - {last}
            started = await asyncpg.connect(
                asyncpg_dsn(engine.url.render_as_string(hide_password=False))
            )
            try:
                new_pid = await started.fetchval("SELECT pg_backend_pid()")
                assert psutil.Process(new_pid).cpu_affinity() == [last]
            finally:
                await started.close()
        assert postmaster.cpu_affinity() == before
        assert psutil.Process(pid).cpu_affinity() == before
        assert os.sched_getaffinity(0) == mine


def test_subscriptions_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_subscriptions.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "floor: a bare NOTIFY" in out
    assert "a change committed through A reached all 20 subscribers on B" in out
