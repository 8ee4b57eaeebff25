"""The shape of the code and of the schema, checked: import-linter's layer contracts
(and proof that each one bites), and graphql-schema-linter on schema.graphql."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_layer_contracts_hold() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout or "broken" not in result.stdout.split("Contracts:")[-1]


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("service/domain/probe.py", "import sqlalchemy\n", "imports no framework"),
        ("service/domain/probe.py", "import service.plans.nodes\n", "above service.domain"),
        ("service/plans/probe.py", "from sqlalchemy import select\n", "build no SQL"),
        ("service/api/probe.py", "from service.db import repositories\n", "DataLoaders"),
        ("service/db/probe.py", "import service.api.schema\n", "above service.db"),
        # audit is imported by nodes, which plans imports: importing plans back is a cycle.
        ("service/api/audit.py", "import service.api.plans\n", "one direction"),
    ],
)
def test_each_contract_bites(tmp_path: Path, module: str, line: str, contract: str) -> None:
    """A deliberately wrong import in a copy of the package breaks the named contract."""
    shutil.copytree(
        REPO / "service", tmp_path / "service", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    existing = target.read_text() if target.exists() else ""
    target.write_text(existing + line)
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout


def test_schema_passes_graphql_schema_linter() -> None:
    """Descriptions, naming and Relay rules on the committed schema (.ci/lint-schema)."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed; .ci/run runs .ci/lint-schema with it")
    result = subprocess.run(
        [str(REPO / ".ci" / "lint-schema")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 and "npm ERR" in result.stderr:
        pytest.skip(f"the npm registry is not reachable: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors detected" in result.stdout
