"""Production defaults: a configured key, a strong secret, metrics off the API port,
no credential in the output."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from service.app import create_app
from service.settings import DEFAULT_METRICS_PORT, Settings
from tests.conftest import ServerInfo, create_database, drop_database, make_settings, token
from tests.ops.serving import assert_one_line_error, free_port, run, start_serve

STRONG = "k" * 32


def test_production_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    result = run(
        "serve",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path),
        env={
            "QUOTATREE_ENV": "production",
            "QUOTATREE_DATABASE_URL": "postgresql://quotatree@127.0.0.1:1/quotatree",
        },
    )
    assert_one_line_error(
        result,
        "QUOTATREE_ENV=production needs a configured key",
        "QUOTATREE_JWT_SECRET (at least 32 bytes, e.g. `openssl rand -hex 32`)",
        "QUOTATREE_JWT_PUBLIC_KEY",
        "QUOTATREE_JWKS_URL",
    )
    assert "Bearer" not in result.stderr + result.stdout
    assert not (tmp_path / "run" / "jwt-secret").exists()


@pytest.mark.parametrize("command", [["serve"], ["token", "--role", "admin"]])
def test_a_short_secret_is_refused_without_being_echoed(command: list[str]) -> None:
    weak = "hunter2-is-weak"
    result = run(*command, env={"QUOTATREE_JWT_SECRET": weak, "QUOTATREE_ENV": "production"})
    line = assert_one_line_error(
        result, "QUOTATREE_JWT_SECRET", "at least 32 bytes", "openssl rand -hex 32"
    )
    assert weak not in line


def test_secret_length_and_metrics_port_settings() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(jwt_secret="s" * 31)
    with pytest.raises(ValidationError):
        Settings(jwt_secret="é" * 15)  # 30 bytes in UTF-8, though 15 characters
    assert Settings(jwt_secret=STRONG).jwt_secret == STRONG
    assert Settings(jwt_secret="").jwt_secret is None
    assert Settings(env="production").metrics_port == DEFAULT_METRICS_PORT
    assert Settings(env="production", metrics_port=9100).metrics_port == 9100
    assert Settings(env="development").metrics_port is None


@pytest.mark.parametrize(
    ("overrides", "served"),
    [({}, True), ({"env": "production"}, False), ({"metrics_port": 9999}, False)],
    ids=["development", "production", "own-port"],
)
async def test_metrics_on_the_api_port_only_without_a_metrics_port(
    db: Any, overrides: dict[str, Any], served: bool
) -> None:
    app = create_app(make_settings(**overrides), database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/metrics")
        assert response.status_code == (200 if served else 404)
        if not served:  # not even with a valid token
            response = await http.get("/metrics", headers={"Authorization": f"Bearer {token()}"})
            assert response.status_code == 404


async def test_production_server_keeps_metrics_and_credentials_to_themselves(
    tmp_path: Path, pg_server: ServerInfo
) -> None:
    name = await create_database(pg_server, "quotatree_production")
    try:
        _serve_in_production(tmp_path, pg_server.url_for(name))
    finally:
        await drop_database(pg_server, name)


def _serve_in_production(tmp_path: Path, url: str) -> None:
    import jwt

    migrated = run("migrate", "upgrade", env={"QUOTATREE_DATABASE_URL": url})
    assert migrated.returncode == 0, migrated.stderr
    secret = "production-secret-" + "z" * 32
    metrics_port = free_port()
    env = {
        "QUOTATREE_ENV": "production",
        "QUOTATREE_DATABASE_URL": url,
        "QUOTATREE_JWT_SECRET": secret,
        "QUOTATREE_METRICS_PORT": str(metrics_port),
    }
    server = start_serve(tmp_path, env=env, ready_path="/readyz")
    scraped = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        admin = jwt.encode(
            {"sub": "ops", "roles": ["admin"], "exp": 9999999999}, secret, algorithm="HS256"
        )
        assert server.graphql("{ plans { totalCount } }", admin)["data"]
        # Behind a trusted proxy (QUOTATREE_FORWARDED_ALLOW_IPS, loopback by default)
        # the access line names the client the proxy saw.
        proxied = urllib.request.Request(
            server.url("/graphql"),
            data=b'{"query": "query Proxied { plans { totalCount } }"}',
            headers={
                "Authorization": f"Bearer {admin}",
                "Content-Type": "application/json",
                "X-Forwarded-For": "203.0.113.7",
            },
        )
        with urllib.request.urlopen(proxied, timeout=10) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as api_metrics:
            urllib.request.urlopen(server.url("/metrics"), timeout=5)
        assert api_metrics.value.code == 404
        with urllib.request.urlopen(scraped, timeout=5) as response:
            text = response.read().decode()
        assert 'quotatree_http_requests_total{method="POST",route="/graphql"' in text
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.output
    output = server.output
    # Every line, the banner and uvicorn's included, is JSON with an ISO 8601 UTC time.
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    for line in lines:
        moment = datetime.fromisoformat(line["time"])
        assert moment.utcoffset() == timedelta(0), line
        assert "color_message" not in line and "\x1b" not in json.dumps(line), line
    (banner,) = [line for line in lines if line["message"].startswith("quotatree ")]
    assert banner["metrics"] == f"http://127.0.0.1:{metrics_port}/metrics"
    assert banner["version"] and "quotatree_production_" in banner["database"]
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    access, proxy = [line for line in lines if line.get("operation")]
    assert proxy["operation"] == "Proxied" and proxy["client"] == "203.0.113.7"
    assert access["path"] == "/graphql" and access["status"] == 200
    assert access["subject"] == "ops" and access["client"] == "127.0.0.1"
    assert access["operation_type"] == "query" and access["request_id"] != "-"
    assert secret not in output and "Bearer" not in output and "eyJ" not in output
    assert "GraphiQL" not in output
    with pytest.raises(OSError):  # the metrics listener stopped with the server
        urllib.request.urlopen(scraped, timeout=2)


def test_metrics_port_in_use_or_equal_to_the_api_port_is_one_line() -> None:
    import socket

    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        result = run(
            "serve",
            "--port",
            str(port),
            env={"QUOTATREE_METRICS_PORT": str(taken), "QUOTATREE_JWT_SECRET": STRONG},
        )
    assert_one_line_error(result, f"127.0.0.1:{taken}", "QUOTATREE_METRICS_PORT")
    result = run("serve", "--port", str(port), env={"QUOTATREE_METRICS_PORT": str(port)})
    assert_one_line_error(result, "QUOTATREE_METRICS_PORT", "own")
