"""No lost updates: real concurrent writers against PostgreSQL (not one shared transaction)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.db.engine import Database, make_engine
from tests.api.helpers import create_dimension, create_plan, split
from tests.conftest import (
    GraphQLClient,
    ServerInfo,
    create_database,
    drop_database,
    make_settings,
    migrate,
)


@pytest.fixture
async def live(pg_server: ServerInfo) -> AsyncIterator[GraphQLClient]:
    """The app on its own scratch database with a real pool: every request commits."""
    name = await create_database(pg_server, "quotatree_concurrency")
    engine = make_engine(pg_server.url_for(name), pool_size=10, max_overflow=15)
    try:
        await migrate(engine)
        app = create_app(make_settings(), database=Database(engine))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield GraphQLClient(http)
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)


LOCK = """mutation($input: NodeInput!) { nodeLock(input: $input) {
    version { revision } userErrors { code message } } }"""


async def test_twenty_concurrent_edits_with_one_revision_exactly_one_applies(
    live: GraphQLClient,
) -> None:
    plan = await create_plan(live, target="2000.00")
    regions = await create_dimension(live, "Regions")
    bulk = await live(
        """mutation($input: MembersCreateInput!) { membersCreate(input: $input) {
             members { id } userErrors { code } } }""",
        {
            "input": {
                "dimensionId": regions,
                "members": [{"code": f"R{i}", "name": "r"} for i in range(20)],
            }
        },
    )
    members = [m["id"] for m in bulk["membersCreate"]["members"]]
    done = await split(live, plan["root"]["id"], 1, regions, members)
    revision = done["version"]["revision"]
    children = [c["id"] for c in done["children"]]

    async def lock(node_id: str) -> dict[str, Any]:
        data = await live(LOCK, {"input": {"nodeId": node_id, "revision": revision}})
        return data["nodeLock"]  # type: ignore[no-any-return]

    results = await asyncio.gather(*(lock(c) for c in children))
    applied = [r for r in results if not r["userErrors"]]
    conflicts = [r for r in results if r["userErrors"]]
    assert len(applied) == 1
    assert len(conflicts) == 19
    assert all(r["userErrors"][0]["code"] == "CONFLICT" for r in conflicts)
    assert all(str(revision + 1) in r["userErrors"][0]["message"] for r in conflicts)
    state = await live(
        "query($id: ID!) { planVersion(id: $id) { revision root { children { locked } } } }",
        {"id": plan["version"]["id"]},
    )
    assert state["planVersion"]["revision"] == revision + 1
    assert sum(c["locked"] for c in state["planVersion"]["root"]["children"]) == 1


async def test_concurrent_retries_with_one_idempotency_key_apply_once(live: GraphQLClient) -> None:
    plan = await create_plan(live, target="10.00")
    regions = await create_dimension(live, "Regions")
    bulk = await live(
        """mutation($input: MembersCreateInput!) { membersCreate(input: $input) {
             members { id } userErrors { code } } }""",
        {
            "input": {
                "dimensionId": regions,
                "members": [{"code": "A", "name": "a"}, {"code": "B", "name": "b"}],
            }
        },
    )
    members = [m["id"] for m in bulk["membersCreate"]["members"]]
    body = {
        "input": {
            "nodeId": plan["root"]["id"],
            "revision": 1,
            "dimensionId": regions,
            "memberIds": members,
        }
    }
    query = """mutation($input: NodeSplitInput!) { nodeSplit(input: $input) {
        children { id } userErrors { code } } }"""
    responses = await asyncio.gather(
        *(live.post(query, body, headers={"Idempotency-Key": "split-root-once"}) for _ in range(5))
    )
    statuses = sorted(r.status_code for r in responses)
    # one runs; the others either replay its answer or are told it is still running
    assert all(s in (200, 409) for s in statuses), statuses
    ok = [r.json() for r in responses if r.status_code == 200]
    assert ok and all(o["data"]["nodeSplit"]["userErrors"] == [] for o in ok)
    assert all(o == ok[0] for o in ok)
    tree = await live(
        "query($id: ID!) { planVersion(id: $id) { revision root { children { id } } } }",
        {"id": plan["version"]["id"]},
    )
    assert tree["planVersion"]["revision"] == 2
    assert len(tree["planVersion"]["root"]["children"]) == 2


async def test_a_request_holds_one_connection_even_with_two_mutations(
    pg_server: ServerInfo,
) -> None:
    """A pool of one connection serves a document of two mutations whose payloads read:
    the first payload's read connection is given back before the second change starts
    (else the second would wait for a connection its own request holds)."""
    name = await create_database(pg_server, "quotatree_one_connection")
    engine = make_engine(pg_server.url_for(name), pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        await migrate(engine)
        app = create_app(make_settings(), database=Database(engine))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            data = await GraphQLClient(http)(
                """mutation {
                     a: dimensionCreate(input: {name: "A", kind: REGION}) {
                       dimension { name members(first: 5) { totalCount } } userErrors { code } }
                     b: dimensionCreate(input: {name: "B", kind: REGION}) {
                       dimension { name members(first: 5) { totalCount } } userErrors { code } }
                   }"""
            )
        assert data["a"]["dimension"] == {"name": "A", "members": {"totalCount": 0}}
        assert data["b"]["dimension"] == {"name": "B", "members": {"totalCount": 0}}
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)
