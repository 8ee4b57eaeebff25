"""The schemathesis run of ``.ci/schemathesis``: its check bites, and the run passes.

``.ci/run`` runs the script as a step of its own; this runs the same script (a
live ``quotatree serve`` on an embedded PostgreSQL, the same bounded run) so that
the suite alone catches a server error too.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest
from schemathesis.core.failures import ServerError
from schemathesis.graphql.checks import GraphQLServerError

from tests.api.schemathesis_hooks import no_server_error
from tests.conftest import REPO_ROOT


@dataclass
class FakeResponse:
    status_code: int
    body: Any
    text: str = ""

    def json(self) -> Any:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


@dataclass
class FakeOperation:
    label: str = "Query.plan"


@dataclass
class FakeCase:
    operation: FakeOperation = field(default_factory=FakeOperation)


def check(status: int, body: Any) -> None:
    no_server_error(None, FakeResponse(status, body), FakeCase())  # type: ignore[arg-type]


def test_the_check_fails_on_a_5xx_a_masked_error_and_an_unlabelled_resolver_error() -> None:
    with pytest.raises(ServerError):
        check(500, ValueError("Internal Server Error"))
    with pytest.raises(ServerError):
        check(503, {"status": "unavailable"})
    masked = {"message": "Internal error", "extensions": {"code": "INTERNAL"}, "path": ["plan"]}
    with pytest.raises(GraphQLServerError):
        check(200, {"data": None, "errors": [masked]})
    unlabelled = {"message": "boom", "path": ["plan"]}
    with pytest.raises(GraphQLServerError):
        check(200, {"data": {"plan": None}, "errors": [unlabelled]})
    with pytest.raises(GraphQLServerError):
        check(200, ["not", "an", "object"])


def test_the_check_passes_the_errors_a_client_can_fix() -> None:
    invalid_id = {
        "message": "id is not a valid id",
        "path": ["plan"],
        "extensions": {"code": "INVALID_ID", "field": "id"},
    }
    check(200, {"data": {"plan": None}, "errors": [invalid_id]})
    check(200, {"data": None, "errors": [{"message": "Expected value of type 'Int'"}]})
    check(200, {"data": {"plan": None}})
    check(400, ValueError("Unable to parse request body as JSON"))
    check(413, {"errors": [{"message": "request body over 1048576 bytes"}]})


def test_the_bounded_live_run_finds_no_server_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    done = subprocess.run(
        ["bash", str(REPO_ROOT / ".ci" / "schemathesis")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6_000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested, output[-3_000:]
    assert int(tested.group(1)) == int(selected.group(1)) == int(selected.group(2)) >= 30
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases and int(cases.group(1)) == int(cases.group(2)) >= 200, output[-3_000:]
