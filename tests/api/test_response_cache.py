"""Cached answers that cannot be stale, ETags and 304, automatic persisted queries."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from service.auth import Role
from tests.api.helpers import create_plan
from tests.conftest import GraphQLClient, StatementCounter, token

READ = "query($id: ID!) { node(id: $id) { ... on TargetNode { target locked } } }"


def auth(role: Role = Role.ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role)}"}


async def test_a_cached_read_reflects_the_next_change(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    plan = await create_plan(gql, target="100.00")
    root = plan["root"]["id"]
    first = await gql(READ, {"id": root})
    statements.reset()
    again = await gql(READ, {"id": root})
    assert again == first
    assert len(statements.statements) == 1  # the generation only: a cache hit
    assert "data_generation" in statements.statements[0]
    revision = plan["version"]["revision"]
    done = await gql(
        """mutation($id: ID!, $r: Int!) { nodeLock(input: {nodeId: $id, revision: $r}) {
             userErrors { code } } }""",
        {"id": root, "r": revision},
    )
    assert done["nodeLock"]["userErrors"] == []
    after = await gql(READ, {"id": root})
    assert after["node"]["locked"] is True and first["node"]["locked"] is False


async def test_answers_are_not_shared_between_callers(gql: GraphQLClient) -> None:
    plan = await create_plan(gql, target="100.00")
    root = plan["root"]["id"]
    await gql(READ, {"id": root})
    response = await gql.http.post(
        "/graphql", json={"query": READ, "variables": {"id": root}}, headers=auth(Role.VIEWER)
    )
    assert response.status_code == 200
    etag_admin = (
        await gql.http.post(
            "/graphql", json={"query": READ, "variables": {"id": root}}, headers=auth()
        )
    ).headers["etag"]
    assert response.headers["etag"] != etag_admin


async def test_if_none_match_answers_304_until_the_generation_moves(gql: GraphQLClient) -> None:
    plan = await create_plan(gql, target="100.00")
    root = plan["root"]["id"]
    body = {"query": READ, "variables": {"id": root}}
    first = await gql.http.post("/graphql", json=body, headers=auth())
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private"
    again = await gql.http.post("/graphql", json=body, headers={**auth(), "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == "private"
    await gql(
        """mutation($id: ID!, $r: Int!) { nodeLock(input: {nodeId: $id, revision: $r}) {
             userErrors { code } } }""",
        {"id": root, "r": plan["version"]["revision"]},
    )
    changed = await gql.http.post("/graphql", json=body, headers={**auth(), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["data"]["node"]["locked"] is True
    assert changed.headers["etag"] != etag


async def test_mutations_are_never_cached_and_have_no_etag(gql: GraphQLClient) -> None:
    response = await gql.post(
        """mutation { planCreate(input: {name: "E", currency: EUR, fiscalYear: 2027,
             target: "1.00"}) { plan { id } userErrors { code } } }"""
    )
    assert response.status_code == 200
    assert "etag" not in response.headers


async def test_automatic_persisted_queries_as_apollo_sends_them(gql: GraphQLClient) -> None:
    plan = await create_plan(gql, target="100.00")
    root = plan["root"]["id"]
    digest = hashlib.sha256(READ.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    variables = {"id": root}
    miss = await gql.http.get(
        "/graphql",
        params={
            "extensions": orjson.dumps(extensions).decode(),
            "variables": orjson.dumps(variables).decode(),
        },
        headers=auth(),
    )
    [error] = miss.json()["errors"]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = await gql.http.post(
        "/graphql",
        json={"query": READ, "variables": variables, "extensions": extensions},
        headers=auth(),
    )
    assert registered.json()["data"]["node"]["target"] == "100.00"
    hit = await gql.http.get(
        "/graphql",
        params={
            "extensions": orjson.dumps(extensions).decode(),
            "variables": orjson.dumps(variables).decode(),
        },
        headers=auth(),
    )
    assert hit.status_code == 200
    assert hit.json()["data"] == registered.json()["data"]
    wrong = await gql.http.post(
        "/graphql",
        json={
            "query": READ + " ",
            "variables": variables,
            "extensions": extensions,
        },
        headers=auth(),
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


def test_no_answer_outlives_its_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attainment as of "today" changes at midnight without a write: the day is in the key."""
    from datetime import UTC, datetime

    from service.api import cache

    class Clock:
        now_is = datetime(2027, 6, 30, 23, 59, tzinfo=UTC)

        @classmethod
        def now(cls, tz: object = None) -> datetime:
            return cls.now_is

    monkeypatch.setattr(cache, "datetime", Clock)
    query = "{ plans(first: 1) { nodes { id } } }"
    before = cache.CacheKey.of(query, None, None, None)
    assert cache.CacheKey.of(query, None, None, None) == before
    Clock.now_is = datetime(2027, 7, 1, 0, 0, tzinfo=UTC)
    assert cache.CacheKey.of(query, None, None, None) != before


async def test_the_generation_is_read_before_any_row_of_the_answer(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    """versionDiff reads through a use case's own session, not the request's loaders: the
    generation must still come first, or a change committed between that read and the
    generation would be cached as if the answer held it."""
    plan = await create_plan(gql, target="100.00")
    version = plan["version"]["id"]
    statements.reset()
    data = await gql(
        "query($v: ID!) { versionDiff(base: $v, other: $v) { changes { key } truncated } }",
        {"v": version},
    )
    assert data["versionDiff"] == {"changes": [], "truncated": False}
    assert statements.statements[0].lstrip().startswith("SELECT value FROM data_generation")
    assert statements.generation_reads == 1
