"""Running the real ``quotatree`` command in a subprocess, as a user or an orchestrator would."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUOTATREE = [sys.executable, "-m", "service.cli"]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any QUOTATREE_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTATREE_")}
    env.update(extra or {})
    return env


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QUOTATREE, *args], capture_output=True, text=True, env=clean_env(env), timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit code 1, exactly one line on stderr, no traceback; returns that line."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("quotatree: error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``quotatree serve`` subprocess; its stdout (JSON logs) and stderr go to files."""

    proc: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path
    data_dir: Path | None

    @property
    def banner(self) -> str:
        return self.stderr.read_text(errors="replace")

    @property
    def output(self) -> str:
        return self.banner + self.stdout.read_text(errors="replace")

    @property
    def token(self) -> str:
        match = re.search(r"export QUOTATREE_TOKEN=(\S+)", self.banner)
        assert match, self.banner
        return match.group(1)

    @property
    def secret_file(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "run" / "jwt-secret"

    @property
    def pgdata(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "pgdata"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def graphql(self, query: str, token: str | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url("/graphql"),
            data=json.dumps({"query": query}).encode(),
            headers={
                "Authorization": f"Bearer {token or self.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def stop(self, signum: int, timeout: float = 60) -> int:
        """Send ``signum`` and wait for the exit code (killed and failed after ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        """The exit code (killed and failed after ``timeout``)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"serve did not stop within {timeout} s:\n{self.output}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_serve(
    tmp_path: Path,
    *,
    data_dir: Path | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    name: str = "serve",
    ready_path: str = "/healthz",
    timeout: float = 120,
) -> Server:
    """Start ``quotatree serve`` and return once ``ready_path`` answers 200."""
    port = port or free_port()
    args = [*QUOTATREE, "serve", "--port", str(port)]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    stdout, stderr = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=clean_env(env)
        )
    server = Server(proc, port, stdout, stderr, data_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}:\n{server.output}")
        try:
            with urllib.request.urlopen(server.url(ready_path), timeout=2) as response:
                if response.status == 200:
                    return server
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    server.kill()
    raise AssertionError(f"serve was not ready within {timeout} s:\n{server.output}")


def process_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def postgres_processes(pgdata: Path) -> list[str]:
    """Command lines of the processes that name ``pgdata`` (a running embedded server)."""
    found = subprocess.run(
        ["pgrep", "-af", str(pgdata)], capture_output=True, text=True, check=False
    )
    return [line for line in found.stdout.splitlines() if line.strip()]
