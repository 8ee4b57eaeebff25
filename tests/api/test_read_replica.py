"""Read replicas against a real streaming replica (``tests.streaming``).

Queries read from the replica, mutations write to the primary, and a read that
carries the fence of a write the replica has not replayed (replay paused: a lag
made deterministic) reads from the primary and sees the write. Where each
statement ran is taken from the two engines' statement hooks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from service.app import create_app
from service.db.engine import Database, make_engine
from service.db.replicas import Replica, open_replica
from tests.api.helpers import create_plan
from tests.conftest import (
    GraphQLClient,
    ServerInfo,
    create_database,
    driver_statements,
    make_settings,
    migrate,
    token,
)
from tests.streaming import NoReplica, StreamingPair, streaming_replica

READ = "query($id: ID!) { node(id: $id) { ... on TargetNode { target locked } } }"
LOCK = """mutation($id: ID!, $r: Int!) { nodeLock(input: {nodeId: $id, revision: $r}) {
    version { revision } userErrors { code } } }"""
FENCE = "x-quotatree-fence"


@pytest.fixture(scope="module")
async def pair(pg_server: ServerInfo) -> AsyncIterator[StreamingPair]:
    try:
        async with streaming_replica(pg_server) as made:
            print(f"\nstreaming replica: {made.how}")
            yield made
    except NoReplica as exc:
        pytest.skip(f"no streaming replica can be made here: {exc}")


@pytest.fixture(scope="module")
async def database_name(pair: StreamingPair) -> str:
    name = await create_database(ServerInfo(admin_url=pair.primary_admin_url))
    engine = make_engine(pair.primary_url(name), pool_size=1, max_overflow=0)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    await pair.caught_up()
    return name


@dataclass
class Where:
    """The statements each server ran."""

    primary: list[str] = field(default_factory=list)
    replica: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.primary.clear()
        self.replica.clear()


def _watch(engine: AsyncEngine, into: list[str]) -> None:
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        into.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine.pool, "connect", driver_statements(into.append))


@dataclass
class Setup:
    gql: GraphQLClient
    where: Where
    replica: Replica


@pytest.fixture
async def setup(pair: StreamingPair, database_name: str) -> AsyncIterator[Setup]:
    async with serving(pair, database_name) as made:
        yield made


@asynccontextmanager
async def serving(pair: StreamingPair, database_name: str, **settings: Any) -> AsyncIterator[Setup]:
    """An app on the pair's primary, reading from its replica."""
    db = Database(make_engine(pair.primary_url(database_name), pool_size=2, max_overflow=2))
    db.replica = open_replica(
        pair.replica_url(database_name), pool_size=2, max_overflow=2, connect_timeout=5
    )
    where = Where()
    _watch(db.engine, where.primary)
    _watch(db.replica.engine, where.replica)
    app = create_app(make_settings(**settings), database=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Setup(GraphQLClient(http), where, db.replica)
    finally:
        await pair.resume()
        await db.dispose()


def total(name: str) -> float:
    """A counter's sum over all its labels."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name
    )


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def read(s: Setup, node: str, fence: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token()}"}
    if fence is not None:
        headers[FENCE] = fence
    response = await s.gql.http.post(
        "/graphql", json={"query": READ, "variables": {"id": node}}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return response


def writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]


async def test_queries_read_the_replica_and_mutations_write_the_primary(
    setup: Setup, pair: StreamingPair
) -> None:
    plan = await create_plan(setup.gql, target="100.00")
    assert writes(setup.where.primary) and setup.where.replica == []
    await pair.caught_up()
    setup.where.reset()
    reads_before = metric("quotatree_replica_reads_total")
    answer = await read(setup, plan["root"]["id"])
    assert answer.json()["data"]["node"] == {"target": "100.00", "locked": False}
    assert setup.where.primary == []
    assert any("data_generation" in s for s in setup.where.replica)
    assert metric("quotatree_replica_reads_total") == reads_before + 1
    # The answer tells the generation it read: the ETag's, and the fence header's.
    assert answer.headers["etag"].startswith(f'"{answer.headers[FENCE]}-')


async def test_a_fenced_read_during_lag_reads_the_primary_and_sees_the_write(
    setup: Setup, pair: StreamingPair
) -> None:
    plan = await create_plan(setup.gql, target="100.00")
    node = plan["root"]["id"]
    await pair.caught_up()
    before = await read(setup, node)  # cached under the replica's generation
    await pair.pause()
    setup.where.reset()
    locked = await setup.gql.post(LOCK, {"id": node, "r": plan["version"]["revision"]})
    body = locked.json()
    assert body["data"]["nodeLock"]["userErrors"] == []
    fence = locked.headers[FENCE]
    assert body["extensions"]["fence"] == int(fence)
    assert int(fence) > int(before.headers[FENCE])
    assert writes(setup.where.primary) and setup.where.replica == []

    # Without the fence: the replica, which has not replayed the write.
    setup.where.reset()
    stale = await read(setup, node)
    assert stale.json()["data"]["node"]["locked"] is False
    assert setup.where.primary == []
    assert stale.headers["etag"] == before.headers["etag"]  # the cache, same generation

    # With it: the replica is behind the fence, so the primary answers, with the write.
    await pair.caught_up(replayed=False)  # received, not replayed: a lag in bytes
    setup.where.reset()
    fallbacks = metric("quotatree_replica_fallbacks_total", reason="fence")
    fresh = await read(setup, node, fence)
    assert fresh.json()["data"]["node"]["locked"] is True
    assert metric("quotatree_replica_fallbacks_total", reason="fence") == fallbacks + 1
    assert [s for s in setup.where.replica if "data_generation" in s] == setup.where.replica
    assert setup.where.primary, "the fenced read ran on the primary"
    assert int(fresh.headers[FENCE]) >= int(fence)
    assert fresh.headers["etag"] != stale.headers["etag"]
    # Revalidating the primary's answer is fenced by its ETag: the lagging replica
    # does not answer with the older one.
    setup.where.reset()
    revalidated = await setup.gql.http.post(
        "/graphql",
        json={"query": READ, "variables": {"id": node}},
        headers={"Authorization": f"Bearer {token()}", "If-None-Match": fresh.headers["etag"]},
    )
    assert revalidated.status_code == 304
    assert setup.where.primary
    assert metric("quotatree_replica_replay_lag_bytes", replica=setup.replica.name) > 0

    # Replayed: the fenced read is the replica's again, and its cached answer holds.
    await pair.resume()
    await pair.caught_up()
    setup.where.reset()
    caught_up = await read(setup, node, fence)
    assert caught_up.json()["data"]["node"]["locked"] is True
    assert setup.where.primary == []
    assert caught_up.headers["etag"] == fresh.headers["etag"]  # a hit of the primary's answer
    [check] = setup.where.replica  # one statement: the fence and the cache's generation
    assert "data_generation" in check


async def test_without_the_response_cache_the_fence_is_checked_all_the_same(
    pair: StreamingPair, database_name: str
) -> None:
    async with serving(pair, database_name, response_cache_bytes=0) as s:
        plan = await create_plan(s.gql, target="100.00")
        await pair.caught_up()
        await pair.pause()
        locked = await s.gql.post(
            LOCK, {"id": plan["root"]["id"], "r": plan["version"]["revision"]}
        )
        fence = locked.headers[FENCE]
        s.where.reset()
        stale = await read(s, plan["root"]["id"])
        assert stale.json()["data"]["node"]["locked"] is False
        assert s.where.primary == [] and s.where.replica
        assert not any("data_generation" in q for q in s.where.replica)  # no cache: none read
        s.where.reset()
        fresh = await read(s, plan["root"]["id"], fence)
        assert fresh.json()["data"]["node"]["locked"] is True
        [check] = s.where.replica
        assert "data_generation" in check and s.where.primary


async def test_a_get_carries_its_fence_as_a_parameter_and_a_bad_fence_is_refused(
    setup: Setup, pair: StreamingPair
) -> None:
    plan = await create_plan(setup.gql, target="100.00")
    await pair.caught_up()
    await pair.pause()
    locked = await setup.gql.post(
        LOCK, {"id": plan["root"]["id"], "r": plan["version"]["revision"]}
    )
    fence = locked.headers[FENCE]
    auth = {"Authorization": f"Bearer {token()}"}
    params = {"query": READ, "variables": f'{{"id": "{plan["root"]["id"]}"}}'}
    fresh = await setup.gql.http.get("/graphql", params={**params, "fence": fence}, headers=auth)
    assert fresh.json()["data"]["node"]["locked"] is True
    for bad in ("-1", "soon", "1e3", str(2**63)):
        refused = await setup.gql.http.get(
            "/graphql", params={**params, "fence": bad}, headers=auth
        )
        assert refused.status_code == 400, bad
        assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_FENCE"
        posted = await setup.gql.post(READ, {"id": plan["root"]["id"]}, headers={FENCE: bad})
        assert posted.json()["errors"][0]["extensions"]["code"] == "INVALID_FENCE"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def replica_log(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The lines of the replica's logger so far."""
    caplog.set_level(logging.WARNING, logger="quotatree.replica")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "quotatree.replica"]


async def test_a_dead_replica_is_read_around_and_tried_again_after_its_backoff(
    setup: Setup, pair: StreamingPair, replica_log: Callable[[], list[str]]
) -> None:
    clock = Clock()
    setup.replica._clock = clock
    plan = await create_plan(setup.gql, target="100.00")
    node = plan["root"]["id"]
    await pair.caught_up()
    await read(setup, node)  # a pooled replica connection, which the stop kills
    pair.stop_replica()
    try:
        setup.where.reset()
        unavailable = metric("quotatree_replica_fallbacks_total", reason="unavailable")
        answer = await read(setup, node)
        assert answer.json()["data"]["node"]["target"] == "100.00"
        assert setup.where.primary, "read from the primary"
        [line] = replica_log()
        assert "read replica is unreachable" in line and "tried again in 1 s" in line
        assert (
            REGISTRY.get_sample_value("quotatree_replica_up", {"replica": setup.replica.name}) == 0
        )

        # Within the backoff the replica is not even tried: no connect, no new line.
        again = await read(setup, node)
        assert again.status_code == 200
        assert len(replica_log()) == 1
        assert metric("quotatree_replica_fallbacks_total", reason="unavailable") == unavailable + 2

        # After it, one request tries; still down, the backoff doubles. A refused
        # replica is not the database being unavailable (that alert pages).
        connect_errors = total("quotatree_db_connect_errors_total")
        clock.now += 1.5
        await read(setup, node)
        assert "tried again in 2 s" in replica_log()[-1]
        assert total("quotatree_db_connect_errors_total") == connect_errors
    finally:
        pair.start_replica()
    clock.now += 2.5
    setup.where.reset()
    back = await read(setup, node)
    assert back.json()["data"]["node"]["target"] == "100.00"
    assert setup.where.primary == []
    assert "reachable again" in replica_log()[-1]
    assert REGISTRY.get_sample_value("quotatree_replica_up", {"replica": setup.replica.name}) == 1
