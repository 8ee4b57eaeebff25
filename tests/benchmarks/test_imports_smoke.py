"""Smoke run of the import benchmark at a tiny size: it runs end to end and prints its
headline lines. Figures are not asserted (benchmarks are not timed tests)."""

from __future__ import annotations

import pytest

from tests.benchmarks import imports as bench_imports


def test_imports_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_imports.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "quotatree import benchmark: 5,000 CSV rows of sales" in out
    assert "floor (bare asyncpg COPY into sales_fact)" in out
    assert "ratio import / floor:" in out
    assert "replayed: True" in out
    assert "peak memory of the process:" in out
