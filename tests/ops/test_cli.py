"""The quotatree command, run as a user would: in a subprocess."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt

from tests.conftest import ServerInfo, create_database, drop_database
from tests.ops.serving import assert_one_line_error, free_port, run, start_serve


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


def readiness(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_serve_on_an_older_schema_stays_up_unready_until_migrated(
    tmp_path: Path, pg_server: ServerInfo
) -> None:
    """What deploy/README.md promises: a new pod before its migration is unready, not
    crash-looping; once the schema is migrated it becomes ready without a restart."""
    name = await create_database(pg_server, "quotatree_pending")
    env = {"QUOTATREE_DATABASE_URL": pg_server.url_for(name), "QUOTATREE_JWT_SECRET": "s" * 40}
    try:
        server = start_serve(tmp_path, env=env)  # /healthz: alive
        try:
            status, body = readiness(server.url("/readyz"))
            assert status == 503
            assert body["status"] == "unavailable"
            assert "quotatree migrate upgrade" in body["reason"], body
            assert "unready until the schema is migrated" in server.banner
            assert server.proc.poll() is None

            upgraded = run("migrate", "upgrade", env=env)
            assert upgraded.returncode == 0, upgraded.stderr
            assert readiness(server.url("/readyz")) == (200, {"status": "ready"})
        finally:
            assert server.stop(signal.SIGTERM) == 0, server.output
        current = run("migrate", "current", env=env)
        assert "at head" in current.stdout
    finally:
        await drop_database(pg_server, name)


def test_serve_on_embedded_database_end_to_end(tmp_path: Path, data_dir: Path) -> None:
    """The README's first command: start on an empty data folder, answer the printed curl."""
    port = free_port()
    started = time.perf_counter()
    server = start_serve(tmp_path, data_dir=data_dir, port=port, name="first")
    first_start = time.perf_counter() - started
    try:
        assert "curl" in server.banner
        created = server.graphql(
            'mutation { planCreate(input: {name: "FY2027", currency: EUR, fiscalYear: 2027, '
            'target: "1000.00"}) { plan { id } userErrors { code } } }'
        )
        assert created["data"]["planCreate"]["userErrors"] == []
        with urllib.request.urlopen(server.url("/readyz"), timeout=5) as ready:
            assert json.loads(ready.read()) == {"status": "ready"}
        token = server.token
    finally:
        assert server.stop(signal.SIGINT) == 0, server.output
    assert not server.secret_file.exists()

    # Second start on the same folder: the data is still there, with a new secret.
    started = time.perf_counter()
    server = start_serve(tmp_path, data_dir=data_dir, port=port, name="second")
    second_start = time.perf_counter() - started
    try:
        assert server.token != token
        plans = server.graphql("{ plans { totalCount } }")
        assert plans["data"]["plans"]["totalCount"] == 1
        # A token minted by `quotatree token` against the running server's secret works.
        minted = run("token", "--role", "viewer", "--data-dir", str(data_dir))
        assert minted.returncode == 0, minted.stderr
        assert server.graphql("{ plans { totalCount } }", minted.stdout.strip())["data"]
        # A second process on the same folder shares the server and leaves it running.
        current = run("migrate", "current", "--data-dir", str(data_dir))
        assert current.returncode == 0 and "at head" in current.stdout, current.stderr
        assert server.graphql("{ plans { totalCount } }")["data"]["plans"]["totalCount"] == 1
    finally:
        assert server.stop(signal.SIGINT) == 0, server.output
    print(f"serve start-up: empty data folder {first_start:.2f} s, existing {second_start:.2f} s")


async def test_migrations_take_turns_and_leave_a_newer_schema_alone(pg_server: ServerInfo) -> None:
    """The init container of every new pod runs `migrate upgrade`: at once on an
    empty database they take turns (an advisory lock); after a rollback the older
    code finds a revision it does not know and leaves it."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from tests.ops.serving import clean_env

    name = await create_database(pg_server, "quotatree_turns")
    url = pg_server.url_for(name)
    env = clean_env({"QUOTATREE_DATABASE_URL": url})
    try:
        for out, err, code in migrate_at_once(3, env):
            assert code == 0, err
            assert "upgraded to head" in out
        assert "at head" in run("migrate", "current", env={"QUOTATREE_DATABASE_URL": url}).stdout

        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = 'f00dnewer'"))
        finally:
            await engine.dispose()
        older = run("migrate", "upgrade", env={"QUOTATREE_DATABASE_URL": url})
        assert older.returncode == 0, older.stderr
        assert "f00dnewer, newer than this release knows; left as it is" in older.stdout
    finally:
        await drop_database(pg_server, name)


def migrate_at_once(count: int, env: dict[str, str]) -> list[tuple[str, str, int]]:
    import subprocess

    from tests.ops.serving import QUOTATREE

    procs = [
        subprocess.Popen(
            [*QUOTATREE, "migrate", "upgrade"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    return [(*proc.communicate(timeout=120), proc.returncode) for proc in procs]
