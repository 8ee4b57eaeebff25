"""Servers on one data folder share one one-off secret, which goes away with the last of them."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import urllib.error
from pathlib import Path

import jwt
import pytest

from service.shared_secret import SharedSecret
from tests.ops.serving import postgres_processes, run, start_serve

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from service.shared_secret import SharedSecret

    shared = SharedSecret(Path(sys.argv[1]))
    print(shared.join(), flush=True)
    sys.stdin.readline()
    shared.leave()
    print("left", flush=True)
    """
)


def _holder(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_processes_joining_at_once_get_one_secret_until_the_last_leaves(tmp_path: Path) -> None:
    holders = [_holder(tmp_path) for _ in range(6)]
    try:
        secrets = {h.stdout.readline().strip() for h in holders}  # type: ignore[union-attr]
        assert len(secrets) == 1 and len(secrets.pop()) >= 32
        shared = SharedSecret(tmp_path)
        assert shared.file.stat().st_mode & 0o777 == 0o600
        for h in holders[:-1]:
            h.communicate("\n", timeout=30)
            assert shared.file.is_file() and shared.current() is not None
        holders[-1].communicate("\n", timeout=30)
        assert not shared.file.exists()
        assert shared.current() is None
    finally:
        for h in holders:
            if h.poll() is None:
                h.kill()


def test_a_killed_holder_does_not_keep_its_secret_alive(tmp_path: Path) -> None:
    killed = _holder(tmp_path)
    old = killed.stdout.readline().strip()  # type: ignore[union-attr]
    killed.kill()  # no chance to leave
    killed.wait(timeout=10)
    shared = SharedSecret(tmp_path)
    assert shared.file.is_file()
    assert shared.current() is None  # nobody runs with it: not handed out, and deleted
    assert not shared.file.exists()
    assert shared.join() != old
    shared.leave()
    assert not shared.file.exists()


def test_two_servers_on_one_folder_share_the_secret(tmp_path: Path, data_dir: Path) -> None:
    first = start_serve(tmp_path, data_dir=data_dir, name="first")
    second = None
    try:
        second = start_serve(tmp_path, data_dir=data_dir, name="second")
        secret = first.secret_file.read_text().strip()
        # Each banner's token works on both servers.
        for token in (first.token, second.token):
            jwt.decode(token, secret, algorithms=["HS256"])
            for server in (first, second):
                assert server.graphql("{ plans { totalCount } }", token)["data"]
        # They do verify: a token signed with another key is refused.
        forged = jwt.encode({"sub": "x", "roles": ["admin"], "exp": 9999999999}, "f" * 40)
        with pytest.raises(urllib.error.HTTPError) as refused:
            second.graphql("{ plans { totalCount } }", forged)
        assert refused.value.code == 401
        minted = run("token", "--role", "viewer", "--data-dir", str(data_dir))
        assert minted.returncode == 0, minted.stderr
        viewer = minted.stdout.strip()
        for server in (first, second):
            assert server.graphql("{ plans { totalCount } }", viewer)["data"]

        # The first one stops: the second keeps the secret, the tokens and PostgreSQL.
        assert first.stop(signal.SIGTERM) == 0, first.output
        assert first.secret_file.read_text().strip() == secret
        assert second.graphql("{ plans { totalCount } }", first.token)["data"]
        assert second.graphql("{ plans { totalCount } }", viewer)["data"]
        again = run("token", "--role", "admin", "--data-dir", str(data_dir))
        assert again.returncode == 0, again.stderr
        assert second.graphql("{ plans { totalCount } }", again.stdout.strip())["data"]
        assert postgres_processes(second.pgdata)

        # The last one stops: the secret goes with it.
        assert second.stop(signal.SIGTERM) == 0, second.output
        assert not second.secret_file.exists()
        assert postgres_processes(second.pgdata) == []
        gone = run("token", "--role", "viewer", "--data-dir", str(data_dir))
        assert gone.returncode == 1 and "quotatree serve" in gone.stderr
    finally:
        first.kill()
        if second is not None:
            second.kill()
