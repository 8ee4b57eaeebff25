"""Metrics by GraphQL operation, the database pool, a database that refuses
connections, and the access line of each request."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from service.app import create_app
from service.db.engine import Database, make_engine
from service.observability import UtcJsonFormatter
from tests.conftest import GraphQLClient, make_settings, token


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one series of a Prometheus text exposition (0 when absent)."""
    for line in metrics.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        if labels:
            found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.index("}")]))
            if found != labels:
                continue
        return float(line.rsplit(" ", 1)[1])
    return 0.0


CREATE = """mutation CreatePlan($name: String!) {
  planCreate(input: {name: $name, currency: EUR, fiscalYear: 2027, target: "1000.00"}) {
    plan { id } userErrors { code field message }
  }
}"""


async def test_metrics_name_each_operation_with_its_latency_and_errors(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    before = (await client.get("/metrics")).text
    for _ in range(3):
        await gql("query PlansCount { plans { totalCount } }")
    created = await gql(CREATE, {"name": "FY2027"})
    assert created["planCreate"]["userErrors"] == []
    refused = await gql.post(CREATE, {"name": ""})
    (user_error,) = refused.json()["data"]["planCreate"]["userErrors"]
    invalid = await gql.post("query Broken { plans { nope } }")
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    await gql("{ plans { totalCount } }")

    after = (await client.get("/metrics")).text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    latency = "quotatree_graphql_operation_duration_seconds"
    assert grew(f"{latency}_count", operation="PlansCount", type="query") == 3
    assert grew(f"{latency}_count", operation="CreatePlan", type="mutation") == 2
    assert grew(f"{latency}_count", operation="anonymous", type="query") == 1
    assert sample(after, f"{latency}_sum", operation="PlansCount", type="query") > 0
    buckets = re.findall(rf'{latency}_bucket{{le="([^"]+)",operation="PlansCount"', after)
    assert "+Inf" in buckets and len(buckets) > 5
    errors = "quotatree_graphql_operation_errors_total"
    assert grew(errors, operation="Broken", type="query", code="GRAPHQL_VALIDATION_FAILED") == 1
    users = "quotatree_graphql_user_errors_total"
    assert grew(users, operation="CreatePlan", type="mutation", code=user_error["code"]) == 1

    assert re.search(r'quotatree_build_info\{commit="[^"]+",version="[^"]+"\} 1\.0', after)
    # This scrape itself is in flight.
    assert sample(after, "quotatree_http_requests_in_flight") >= 1
    for gauge in (
        "quotatree_db_pool_size",
        "quotatree_db_pool_in_use",
        "quotatree_db_pool_overflow",
        "quotatree_db_pool_max_connections",
        "quotatree_db_pool_waiting",
    ):
        assert re.search(rf"^{gauge} ", after, re.M), gauge
    assert sample(after, "quotatree_db_pool_checkout_wait_seconds_count") > 0
    assert "quotatree_db_pool_timeouts_total" in after


def test_operation_names_are_bounded() -> None:
    from service import observability

    assert observability.operation_label(None) == "anonymous"
    assert observability.operation_label("not a name") == "invalid"
    assert observability.operation_label("x" * 65) == "invalid"
    saved = set(observability._seen_operations)
    try:
        observability._seen_operations.update(
            f"Op{i}" for i in range(observability.MAX_OPERATION_NAMES)
        )
        assert observability.operation_label("OneTooMany") == "other"
        assert observability.operation_label("Op1") == "Op1"
    finally:
        observability._seen_operations.clear()
        observability._seen_operations.update(saved)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def unreachable() -> AsyncIterator[httpx.AsyncClient]:
    engine = make_engine(
        f"postgresql+asyncpg://nobody@127.0.0.1:{closed_port()}/nothing",
        pool_size=1,
        max_overflow=0,
    )
    app = create_app(make_settings(), database=Database(engine))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await engine.dispose()


async def test_a_database_that_refuses_connections_is_visible(
    unreachable: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    before = (await unreachable.get("/metrics")).text
    with caplog.at_level(logging.ERROR, "quotatree"):
        answer = await GraphQLClient(unreachable).post("query PlansCount { plans { totalCount } }")
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert "database is unavailable" in error["message"]
    assert error["extensions"]["requestId"] in error["message"]
    after = (await unreachable.get("/metrics")).text
    errors = "quotatree_graphql_operation_errors_total"
    labels = {"operation": "PlansCount", "type": "query", "code": "DATABASE_UNAVAILABLE"}
    assert sample(after, errors, **labels) - sample(before, errors, **labels) == 1
    kind = 'quotatree_graphql_errors_total{kind="database"}'
    assert sample(after, kind.split("{")[0], kind="database") > sample(
        before, kind.split("{")[0], kind="database"
    )
    refused = sample(after, "quotatree_db_connect_errors_total", error="ConnectionRefusedError")
    assert refused >= 1
    ready = await unreachable.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "reason": "database unreachable: ConnectionRefusedError",
    }


async def test_access_line_names_operation_subject_and_client(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "quotatree.http"):
        response = await client.post(
            "/graphql",
            json={"query": "query PlansCount { plans { totalCount } }"},
            headers={"Authorization": f"Bearer {token(subject='ada')}"},
        )
    assert response.status_code == 200
    (line,) = [r for r in caplog.records if r.name == "quotatree.http"]
    assert line.operation == "PlansCount"  # type: ignore[attr-defined]
    assert line.operation_type == "query"  # type: ignore[attr-defined]
    assert line.subject == "ada"  # type: ignore[attr-defined]
    assert line.client == "127.0.0.1"  # type: ignore[attr-defined]
    assert line.status == 200  # type: ignore[attr-defined]
    assert line.getMessage() == "POST /graphql 200 PlansCount"


def test_json_lines_have_iso_utc_time_and_no_colour_codes() -> None:
    formatter = UtcJsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started", None, None)
    record.color_message = "Started \x1b[36mserver\x1b[0m"
    line = json.loads(formatter.format(record))
    assert "color_message" not in line
    assert line["time"].endswith("Z")
    assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert line["message"] == "Started" and line["level"] == "INFO"
