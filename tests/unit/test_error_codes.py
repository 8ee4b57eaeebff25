"""Every code the domain can raise has a GraphQL UserErrorCode (user_error would fail)."""

from __future__ import annotations

import ast
from pathlib import Path

from service.api.errors import UserErrorCode
from service.domain.allocation import AllocationErrorCode

ROOT = Path(__file__).resolve().parents[2]


def test_allocation_codes_are_user_error_codes() -> None:
    missing = [c.value for c in AllocationErrorCode if c.value not in UserErrorCode.__members__]
    assert missing == []


def test_codes_raised_in_domain_and_use_cases_are_user_error_codes() -> None:
    """Scan the source for InvalidInputError("CODE", ...) and code="CODE" literals."""
    found: set[str] = set()
    for folder in ("service/domain", "service/plans"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name.endswith("Error") and node.args:
                    first = node.args[0]
                    if (
                        isinstance(first, ast.Constant)
                        and isinstance(first.value, str)
                        and first.value.isupper()
                    ):
                        found.add(first.value)
                for keyword in node.keywords:
                    if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                        found.add(str(keyword.value.value))
    assert found, "the scan found no codes at all"
    assert sorted(found - set(UserErrorCode.__members__)) == []
