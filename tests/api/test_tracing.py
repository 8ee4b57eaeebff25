"""Tracing: the HTTP request, its GraphQL operation and its SQL statements, one trace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from service.app import create_app
from service.db.engine import Database, make_engine
from service.tracing import REQUEST_ID_ATTRIBUTE, make_provider, tracing_requested
from tests.conftest import make_settings, token


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    if AsyncPGInstrumentor().is_instrumented_by_opentelemetry:
        AsyncPGInstrumentor().uninstrument()


@pytest.fixture
async def traced(
    engine: AsyncEngine, exporter: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    own = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    app = create_app(
        make_settings(), database=Database(own), tracer_provider=make_provider(exporter=exporter)
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await own.dispose()


async def test_one_request_is_one_trace_http_then_operation_then_sql(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    response = await traced.post(
        "/graphql",
        json={"query": "query PlansCount { plans { totalCount } }"},
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json()
    rid = response.headers["x-request-id"]
    spans = exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}

    def parent(span: Any) -> Any:
        return by_id.get(span.parent.span_id) if span.parent is not None else None

    def ancestors(span: Any) -> list[Any]:
        chain = []
        while (span := parent(span)) is not None:
            chain.append(span)
        return chain

    (http,) = [s for s in spans if s.parent is None]
    assert http.name == "POST /graphql"
    assert http.attributes["http.route"] == "/graphql"
    (operation,) = [s for s in spans if s.name == "GraphQL Query: PlansCount"]
    assert parent(operation) is http
    sql = [s for s in spans if s.attributes.get("db.system") == "postgresql"]
    assert sql, [s.name for s in spans]
    for statement in sql:
        assert operation in ancestors(statement), (statement.name, ancestors(statement))
    assert any("plan" in str(s.attributes.get("db.statement", "")).lower() for s in sql)
    # One trace, and the request id on every span of it.
    assert {s.context.trace_id for s in spans} == {http.context.trace_id}
    assert {s.attributes.get(REQUEST_ID_ATTRIBUTE) for s in spans} == {rid}


async def test_probes_make_no_spans(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    assert (await traced.get("/healthz")).status_code == 200
    assert exporter.get_finished_spans() == ()


def test_tracing_is_off_unless_the_otel_variables_ask() -> None:
    assert not tracing_requested({})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing_requested(
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    )
