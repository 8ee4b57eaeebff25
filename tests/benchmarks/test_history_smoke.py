"""Smoke run of the history read benchmark at a tiny size: it runs end to end and prints
its headline lines. Figures are not asserted (benchmarks are not timed tests)."""

from __future__ import annotations

import pytest

from tests.benchmarks import history as bench_history


def test_history_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_history.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "History of 110 slices x 6 ranges (660 queries)" in out
    assert "floor (read the same facts, one SUM)" in out
    assert "slice_totals()" in out
    assert "the regions' years add up to every fact: yes" in out
