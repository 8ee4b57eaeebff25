"""Stopping ``quotatree serve`` the way Docker, Kubernetes, systemd and a terminal do.

A real server process on an embedded PostgreSQL gets a real signal while a
request is still in flight; the request must complete, then the process must
exit 0 leaving no PostgreSQL process and no secret file behind.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.ops.serving import postgres_processes, process_alive, start_serve


def _begin_request(port: int, token: str, body: bytes, sent: int) -> socket.socket:
    """Open a request whose headers and first ``sent`` body bytes are on the wire."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    conn.sendall(head + body[:sent])
    return conn


def _finish_request(conn: socket.socket, rest: bytes) -> tuple[str, dict[str, object]]:
    conn.sendall(rest)
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    conn.close()
    head, _, payload = received.partition(b"\r\n\r\n")
    return head.decode().splitlines()[0], json.loads(payload)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_drains_then_leaves_no_postgres_and_no_secret(
    tmp_path: Path, data_dir: Path, signum: signal.Signals
) -> None:
    server = start_serve(tmp_path, data_dir=data_dir)
    try:
        postmaster = int((server.pgdata / "postmaster.pid").read_text().split()[0])
        assert process_alive(postmaster)
        assert postgres_processes(server.pgdata)
        assert server.secret_file.is_file()

        body = json.dumps({"query": "{ plans { totalCount } }"}).encode()
        in_flight = _begin_request(server.port, server.token, body, sent=10)
        time.sleep(1.0)  # the server has read the headers: the request is in flight
        server.proc.send_signal(signum)
        time.sleep(1.0)  # it is draining: no new connections, the open request may finish
        assert server.proc.poll() is None, server.output
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()

        status, answer = _finish_request(in_flight, body[10:])
        assert status == "HTTP/1.1 200 OK", (status, answer)
        assert answer["data"] == {"plans": {"totalCount": 0}}, answer
        assert "errors" not in answer, answer

        assert server.wait() == 0, server.output
    finally:
        server.kill()

    assert "Traceback" not in server.output, server.output
    assert not server.secret_file.exists()
    assert not (server.pgdata / "postmaster.pid").exists()
    assert not process_alive(postmaster)
    assert postgres_processes(server.pgdata) == []


def test_stop_signal_during_start_up_still_cleans_up(data_dir: Path) -> None:
    """SIGTERM while the embedded server starts: start-up finishes, then everything stops."""
    import subprocess

    from tests.ops.serving import QUOTATREE, clean_env, free_port

    proc = subprocess.Popen(
        [*QUOTATREE, "serve", "--port", str(free_port()), "--data-dir", str(data_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        deadline = time.monotonic() + 60
        # initdb has created the folder: PostgreSQL is on its way up.
        while not (data_dir / "pgdata" / "PG_VERSION").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    assert not (data_dir / "run" / "jwt-secret").exists()
    assert postgres_processes(data_dir / "pgdata") == []
