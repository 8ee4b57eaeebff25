"""The HTTP surface: authentication, limits, masking, health, readiness, metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from service.app import create_app
from service.auth import Role
from service.db import repositories
from tests.conftest import TEST_SECRET, GraphQLClient, make_settings

CREATE = """mutation { planCreate(input: {name: "P", currency: EUR, fiscalYear: 2027,
  target: "10.00"}) { plan { id } userErrors { code message } } }"""


async def test_no_token_is_401(gql: GraphQLClient) -> None:
    response = await gql.post("{ plans { totalCount } }", role=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"] == {
        "code": "UNAUTHENTICATED",
        "requestId": response.headers["x-request-id"],
    }


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer " + jwt.encode({"sub": "x", "roles": ["admin"], "exp": 9999999999}, "wrong" * 8),
        "Bearer "
        + jwt.encode({"sub": "x", "roles": ["admin"], "exp": int(time.time()) - 3600}, TEST_SECRET),
        "Bearer " + jwt.encode({"sub": "x", "roles": ["king"], "exp": 9999999999}, TEST_SECRET),
        "Bearer " + jwt.encode({"roles": ["admin"], "exp": 9999999999}, TEST_SECRET),
        "Bearer " + jwt.encode({"sub": "x", "roles": ["admin"]}, TEST_SECRET),
    ],
    ids=["garbage", "basic", "wrong-key", "expired", "unknown-role", "no-sub", "no-exp"],
)
async def test_bad_tokens_are_401(gql: GraphQLClient, header: str) -> None:
    response = await gql.post(
        "{ plans { totalCount } }", role=None, headers={"Authorization": header}
    )
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["message"]


async def test_viewer_cannot_mutate_and_nothing_is_written(gql: GraphQLClient, db: Any) -> None:
    data = await gql(CREATE, role=Role.VIEWER)
    assert data["planCreate"]["plan"] is None
    [error] = data["planCreate"]["userErrors"]
    assert error["code"] == "FORBIDDEN"
    assert "planner" in error["message"]
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM plan")) == 0


async def test_planner_can_mutate(gql: GraphQLClient) -> None:
    data = await gql(CREATE, role=Role.PLANNER)
    assert data["planCreate"]["userErrors"] == []


async def test_query_past_depth_limit_is_refused(gql: GraphQLClient) -> None:
    # limit is 12 in the test settings
    inner = "id"
    for _ in range(14):
        inner = f"children {{ {inner} }}"
    response = await gql.post(
        f"{{ plans {{ edges {{ node {{ versions {{ root {{ {inner} }} }} }} }} }} }}"
    )
    errors = response.json()["errors"]
    assert any("exceeds maximum operation depth" in e["message"] for e in errors)


async def test_alias_flood_is_refused(gql: GraphQLClient) -> None:
    aliases = " ".join(f"a{i}: plans {{ totalCount }}" for i in range(200))
    response = await gql.post(f"{{ {aliases} }}")
    errors = response.json()["errors"]
    assert any("aliases found" in e["message"] for e in errors), errors


async def test_alias_flood_through_fragments_is_refused(gql: GraphQLClient) -> None:
    aliases = " ".join(f"a{i}: totalCount" for i in range(200))
    query = f"query {{ plans {{ ...F }} }} fragment F on PlanConnection {{ {aliases} }}"
    response = await gql.post(query)
    assert "errors" in response.json()


async def test_token_flood_is_refused(db: Any) -> None:
    app = create_app(make_settings(max_tokens=100), database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        client = GraphQLClient(http)
        fields = " ".join(["totalCount"] * 200)
        response = await client.post(f"{{ plans {{ {fields} }} }}")
    assert "token" in response.json()["errors"][0]["message"].lower()


async def test_limits_hold_on_the_cached_path_too(gql: GraphQLClient) -> None:
    """The verdict is cached per document; the second identical request is refused too."""
    aliases = " ".join(f"b{i}: plans {{ totalCount }}" for i in range(100))
    for _ in range(2):
        response = await gql.post(f"{{ {aliases} }}")
        assert "aliases" in response.json()["errors"][0]["message"]


async def test_body_size_limit(db: Any) -> None:
    app = create_app(make_settings(max_body_bytes=2048), database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        client = GraphQLClient(http)
        response = await client.post("{ plans { totalCount } }" + " " * 5000)
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "PAYLOAD_TOO_LARGE",
        "requestId": response.headers["x-request-id"],
    }
    assert "2048" in error["message"]


async def test_unexpected_error_is_masked_and_logged_with_request_id(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SELECT secret FROM internals -- must not leak")

    monkeypatch.setattr(repositories, "plans_page", broken)
    with caplog.at_level(logging.ERROR, logger="quotatree.graphql"):
        response = await gql.post("{ plans { totalCount } }", headers={"X-Request-ID": "req-123"})
    body = response.json()
    [error] = body["errors"]
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert "req-123" in error["message"]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-123"}
    assert response.headers["x-request-id"] == "req-123"
    [record] = [r for r in caplog.records if r.name == "quotatree.graphql"]
    assert record.exc_info is not None
    assert "must not leak" in str(record.exc_info[1])


async def test_healthz_and_metrics(client: httpx.AsyncClient, gql: GraphQLClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    await gql.post("{ plans { totalCount } }", role=None)
    metrics = (await client.get("/metrics")).text
    assert "quotatree_http_requests_total" in metrics
    assert "quotatree_http_request_duration_seconds_bucket" in metrics
    assert 'quotatree_graphql_errors_total{kind="authentication"}' in metrics


async def test_readyz_reports_ready_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


async def test_graphiql_is_served_outside_production_only(db: Any) -> None:
    for env, served in (("development", True), ("production", False)):
        app = create_app(make_settings(env=env), database=db)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/graphql", headers={"Accept": "text/html"})
        assert (response.status_code == 200) is served, (env, response.status_code)
        assert ("graphiql" in response.text.lower()) is served


async def test_production_hides_introspection_and_suggestions(db: Any) -> None:
    app = create_app(make_settings(env="production"), database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        client = GraphQLClient(http)
        response = await client.post("{ __schema { types { name } } }")
        assert "introspection" in response.json()["errors"][0]["message"].lower()
        response = await client.post("{ plan { id } }")
        assert "Did you mean" not in response.text
        response = await client.post("{ plns { totalCount } }")
        assert "Did you mean" not in response.text
