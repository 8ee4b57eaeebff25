"""Every configuration mistake ends a command with one line: what is wrong and how to fix it.

The real ``quotatree`` command runs in a subprocess for each mistake; the line
must be the only output on stderr, the exit code 1, no traceback anywhere, and
no password repeated. Every command that reads the configuration (serve,
migrate, import, token) meets each kind of mistake at least once.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.serving import assert_one_line_error, free_port, run

PASSWORD = "pa55-not-to-be-shown"
LOCAL = "127.0.0.1:5432"  # the machine's PostgreSQL, trust authentication


def _local_postgres() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


needs_local_postgres = pytest.mark.skipif(
    not _local_postgres(), reason=f"no PostgreSQL server on {LOCAL}"
)


@pytest.fixture
def member_file(tmp_path: Path) -> Path:
    path = tmp_path / "regions.csv"
    path.write_text("code,name\nEAST,East\nWEST,West\n")
    return path


def _command(name: str, tmp_path: Path, member_file: Path) -> list[str]:
    return {
        "serve": ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "d")],
        "migrate": ["migrate", "current", "--data-dir", str(tmp_path / "d")],
        "import": [
            "import",
            "members",
            "--dimension",
            "Regions",
            str(member_file),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        "token": ["token", "--role", "admin", "--data-dir", str(tmp_path / "d")],
    }[name]


def _cases() -> Iterator[object]:
    db = "QUOTATREE_DATABASE_URL"
    wrong_db = f"postgresql://root:{PASSWORD}@{LOCAL}/quotatree_no_such_database"
    wrong_role = f"postgresql://quotatree_no_such_role:{PASSWORD}@{LOCAL}/test"
    for command in ("serve", "migrate", "import"):
        yield pytest.param(
            command,
            {db: wrong_db},
            ['database "quotatree_no_such_database" does not exist', "create it, or fix"],
            id=f"{command}-wrong-database",
            marks=needs_local_postgres,
        )
        yield pytest.param(
            command,
            {db: wrong_role},
            ['role "quotatree_no_such_role" does not exist', "fix the user"],
            id=f"{command}-wrong-role",
            marks=needs_local_postgres,
        )
        yield pytest.param(
            command,
            {db: f"postgresql://u:{PASSWORD}@127.0.0.1:1/quotatree"},
            ["cannot reach the database at 127.0.0.1:1/quotatree", "check that PostgreSQL runs"],
            id=f"{command}-refused",
        )
    for command in ("serve", "migrate", "import", "token"):
        yield pytest.param(
            command,
            {db: f"mysql://u:{PASSWORD}@127.0.0.1/quotatree"},
            [db, "'mysql' scheme is not supported", "use postgresql://USER:PASSWORD@HOST"],
            id=f"{command}-mysql-scheme",
        )
    yield from (
        pytest.param(
            "migrate",
            {db: f"postgresql+psycopg2://u:{PASSWORD}@127.0.0.1/quotatree"},
            [db, "'postgresql+psycopg2' scheme is not supported"],
            id="migrate-psycopg2-scheme",
        ),
        pytest.param(
            "serve",
            {db: f"u:{PASSWORD}@127.0.0.1/quotatree"},
            [db, "is not a URL; expected postgresql://"],
            id="serve-no-scheme",
        ),
        pytest.param(
            "import",
            {db: f"postgresql://u:{PASSWORD}@127.0.0.1:port/quotatree"},
            [db, "is not a valid URL", "percent-encoded"],
            id="import-malformed-url",
        ),
        pytest.param(
            "token",
            {db: f"postgresql://u:{PASSWORD}@127.0.0.1:port/quotatree"},
            [db, "is not a valid URL"],
            id="token-malformed-url",
        ),
        pytest.param(
            "migrate",
            {db: f"postgresql://u:{PASSWORD}@quotatree-no-such-host.invalid/quotatree"},
            ["cannot reach the database at quotatree-no-such-host.invalid:5432/quotatree"],
            id="migrate-unknown-host",
        ),
        pytest.param(
            "serve",
            {db: f"postgresql://root:{PASSWORD}@{LOCAL}/test?connect_timeout=3"},
            ["option 'connect_timeout', which asyncpg does not take; remove it"],
            id="serve-unknown-url-option",
            marks=needs_local_postgres,
        ),
        pytest.param(
            "migrate",
            {db: f"postgresql://root:{PASSWORD}@{LOCAL}/test?ssl=sometimes"},
            ["QUOTATREE_DATABASE_URL has a bad option", "must be one of"],
            id="migrate-bad-ssl-option",
        ),
        pytest.param(
            "serve",
            {"QUOTATREE_PORT": "99999"},
            ["QUOTATREE_PORT='99999'", "less than or equal to 65535", "default 8000"],
            id="serve-port-out-of-range",
        ),
        pytest.param(
            "serve",
            {"QUOTATREE_ENV": "prod"},
            ["QUOTATREE_ENV='prod'", "'development', 'test' or 'production'"],
            id="serve-unknown-env",
        ),
        pytest.param(
            "migrate",
            {"QUOTATREE_LOG_LEVEL": "LOUD"},
            ["QUOTATREE_LOG_LEVEL='LOUD'", "use one of DEBUG, INFO"],
            id="migrate-unknown-log-level",
        ),
        pytest.param(
            "import",
            {"QUOTATREE_POOL_SIZE": "many"},
            ["QUOTATREE_POOL_SIZE='many'", "valid integer", "default 10"],
            id="import-pool-size-not-a-number",
        ),
        pytest.param(
            "token",
            {"QUOTATREE_JWT_SECRET": PASSWORD},
            ["QUOTATREE_JWT_SECRET", "at least 32 bytes"],
            id="token-short-secret",
        ),
        pytest.param(
            "serve",
            {"QUOTATREE_JWKS_URL": "idp.example.com/jwks.json"},
            ["QUOTATREE_JWKS_URL", "is not an http(s) URL"],
            id="serve-jwks-url-without-scheme",
        ),
        pytest.param(
            "token",
            {"QUOTATREE_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n"},
            ["QUOTATREE_JWT_PUBLIC_KEY", "is not an RSA public key in PEM form"],
            id="token-public-key-not-pem",
        ),
    )


@pytest.mark.parametrize(("command", "env", "needles"), list(_cases()))
def test_configuration_mistake_is_one_line(
    tmp_path: Path, member_file: Path, command: str, env: dict[str, str], needles: list[str]
) -> None:
    result = run(*_command(command, tmp_path, member_file), env=env, timeout=90)
    assert_one_line_error(result, *needles)
    assert PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["serve", "migrate", "import"])
def test_data_folder_that_cannot_be_created_is_one_line(
    tmp_path: Path, member_file: Path, command: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = _command(command, tmp_path, member_file)
    args[args.index("--data-dir") + 1] = str(blocker / "data")
    result = run(*args)
    assert_one_line_error(
        result, f"cannot create the data folder {blocker / 'data'}", "choose another with"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_data_folder_without_write_permission_is_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        result = run("migrate", "current", "--data-dir", str(locked))
    finally:
        locked.chmod(0o700)
    assert_one_line_error(result, f"the data folder {locked} is not writable")


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "pick another with --port")
    assert not (tmp_path / "d").exists()  # refused before anything was started


def test_unknown_host_to_listen_on_is_one_line(tmp_path: Path) -> None:
    result = run("serve", "--host", "quotatree-no-such-host.invalid")
    assert_one_line_error(result, "cannot resolve host 'quotatree-no-such-host.invalid'")
