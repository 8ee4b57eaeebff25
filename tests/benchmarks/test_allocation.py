"""The allocation benchmark runs end to end on small sizes (figures are not asserted)."""

from __future__ import annotations

import pytest

from service.domain.allocation import apportion_array
from tests.benchmarks.allocation import bare_floor, main


def test_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--children", "2000", "--rows", "12", "--cols", "5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "WEIGHTS split: 2,000 children" in out
    assert "same cents as the floor: yes" in out
    assert "Two-way split: 12 x 5" in out
    assert "peak memory" in out


def test_the_floor_is_a_fair_floor() -> None:
    """On tie-free random weights the bare floor and the exact kernel give the same cents."""
    import numpy as np

    weights = np.random.default_rng(5).random(10_000)
    assert (bare_floor(10**9 + 7, weights) == apportion_array(10**9 + 7, weights)).all()
