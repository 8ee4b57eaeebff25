"""The quotatree command, run as a user would: in a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import jwt

from tests.conftest import ServerInfo, create_database, drop_database

QUOTATREE = [sys.executable, "-m", "service.cli"]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTATREE_")}
    full_env.update(env or {})
    return subprocess.run(
        [*QUOTATREE, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("quotatree: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_token_with_configured_secret() -> None:
    result = run(
        "token", "--role", "planner", "--subject", "alice", env={"QUOTATREE_JWT_SECRET": "s" * 40}
    )
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), "s" * 40, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["roles"] == ["planner"]
    assert claims["exp"] - claims["iat"] == 24 * 3600


def test_token_without_any_key_says_what_to_do(tmp_path: Path) -> None:
    result = run("token", "--role", "admin", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "QUOTATREE_JWT_SECRET", "quotatree serve")


def test_bad_arguments_exit_2_with_usage() -> None:
    result = run("token", "--role", "emperor")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("serve", "--port", "eighty")
    assert result.returncode == 2


def test_bad_configuration_is_one_line() -> None:
    result = run(
        "serve",
        env={"QUOTATREE_PORT": "99999", "QUOTATREE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"},
    )
    assert_one_line_error(result, "QUOTATREE_PORT")


def test_unreachable_database_is_one_line() -> None:
    result = run(
        "migrate",
        "current",
        env={"QUOTATREE_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/nothing"},
    )
    assert_one_line_error(result, "cannot reach the database at 127.0.0.1:1/nothing")


def test_production_without_database_url_refuses() -> None:
    result = run("serve", env={"QUOTATREE_ENV": "production"})
    assert_one_line_error(result, "QUOTATREE_DATABASE_URL")


def test_export_schema_prints_sdl() -> None:
    result = run("export-schema")
    assert result.returncode == 0
    root = Path(__file__).resolve().parents[2]
    assert result.stdout == (root / "schema.graphql").read_text()


async def test_serve_refuses_pending_migrations_on_external_database(pg_server: ServerInfo) -> None:
    name = await create_database(pg_server, "quotatree_pending")
    try:
        result = run(
            "serve",
            "--port",
            str(free_port()),
            env={"QUOTATREE_DATABASE_URL": pg_server.url_for(name)},
        )
        assert_one_line_error(result, "quotatree migrate upgrade")
        upgraded = run(
            "migrate", "upgrade", env={"QUOTATREE_DATABASE_URL": pg_server.url_for(name)}
        )
        assert upgraded.returncode == 0, upgraded.stderr
        current = run("migrate", "current", env={"QUOTATREE_DATABASE_URL": pg_server.url_for(name)})
        assert "at head" in current.stdout
    finally:
        await drop_database(pg_server, name)


def _start_serve(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str, float, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTATREE_")}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*QUOTATREE, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    banner: list[str] = []
    assert proc.stderr is not None
    deadline = time.time() + 90
    token = None
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        banner.append(line)
        match = re.search(r"Bearer (\S+)", line)
        if match and token is None:
            token = match.group(1)
        if "GraphiQL:" in line:
            break
    assert token, "".join(banner)
    # The banner is printed just before uvicorn binds; wait for the port.
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    return proc, token, time.perf_counter() - started, banner


def _graphql(port: int, token: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_serve_on_embedded_database_end_to_end(tmp_path: Path) -> None:
    """The README's first command: start on an empty data folder, answer the printed curl."""
    data_dir = tmp_path / "data"
    port = free_port()
    proc, token, first_start, banner = _start_serve(data_dir, port)
    try:
        assert any("curl" in line for line in banner)
        created = _graphql(
            port,
            token,
            'mutation { planCreate(input: {name: "FY2027", currency: EUR, fiscalYear: 2027, '
            'target: "1000.00"}) { plan { id } userErrors { code } } }',
        )
        assert created["data"]["planCreate"]["userErrors"] == []
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as ready:
            assert json.loads(ready.read()) == {"status": "ready"}
    finally:
        _stop(proc)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert not (data_dir / "run" / "jwt-secret").exists()

    # Second start on the same folder: the data is still there, with a new secret.
    proc, token2, second_start, _ = _start_serve(data_dir, port)
    try:
        assert token2 != token
        plans = _graphql(port, token2, "{ plans { totalCount } }")
        assert plans["data"]["plans"]["totalCount"] == 1
        # A token minted by `quotatree token` against the running server's secret works.
        minted = run("token", "--role", "viewer", "--data-dir", str(data_dir))
        assert minted.returncode == 0, minted.stderr
        assert _graphql(port, minted.stdout.strip(), "{ plans { totalCount } }")["data"]
        # A second process on the same folder shares the server and leaves it running.
        current = run("migrate", "current", "--data-dir", str(data_dir))
        assert current.returncode == 0 and "at head" in current.stdout, current.stderr
        assert (
            _graphql(port, token2, "{ plans { totalCount } }")["data"]["plans"]["totalCount"] == 1
        )
    finally:
        _stop(proc)
    print(f"serve start-up: empty data folder {first_start:.2f} s, existing {second_start:.2f} s")
