"""The benchmarks are a development tool: not in the shipped package, runnable from a checkout."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service import cli

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"httpx", "pytest", "hypothesis", "tests"}


def test_the_shipped_package_imports_nothing_dev_only() -> None:
    """``service`` (the wheel, the image) must run with the runtime dependencies alone."""
    offenders = []
    for path in sorted((ROOT / "service").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in DEV_ONLY
            ]
    assert offenders == []
    assert not (ROOT / "service" / "bench").exists()


def test_quotatree_bench_runs_a_benchmark_from_the_checkout(tmp_path: Path) -> None:
    """The installed console script finds the checkout's benchmarks, from any directory."""
    quotatree = shutil.which("quotatree", path=str(Path(sys.executable).parent))
    assert quotatree, "install the package: pip install -e '.[dev]'"
    small = ["--children", "2000", "--rows", "12", "--cols", "5", "--repeats", "1"]
    result = subprocess.run(
        [quotatree, "bench", "allocation", *small],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "WEIGHTS split: 2,000 children" in result.stdout


def test_quotatree_bench_outside_a_checkout_says_how_to_run_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_checkout", lambda: tmp_path)  # an installed wheel: no tests/
    with pytest.raises(SystemExit) as exited:
        cli.main(["bench", "http", "--quick"])
    assert exited.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "quotatree: error: the benchmarks are not part of the installed package; from a "
        "checkout of the repository with the dev extra (pip install -e '.[dev]'), run "
        "`python -m tests.benchmarks.http`"
    ]


def test_benchmark_modules_run_with_python_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.versions", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m tests.benchmarks.versions")
