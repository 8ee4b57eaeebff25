"""Idempotency keys across replicas: exact replays, requests still running, requests that died.

Two apps with their own connection pools stand for two replicas of the service;
they share one scratch PostgreSQL database where every request commits. The first
request is made slow deterministically: either the test holds the plan version's
row lock that its mutation needs (it is then running, nothing applied yet), or an
ASGI wrapper holds its answer back until the test lets it go (its change is then
committed and its answer not stored yet).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api import idempotency
from service.app import create_app
from service.db.engine import Database, make_engine
from tests.api.helpers import create_dimension, create_member, create_plan, split
from tests.conftest import (
    GraphQLClient,
    ServerInfo,
    create_database,
    drop_database,
    make_settings,
    migrate,
    token,
)

# Fields deliberately out of alphabetical order: a JSONB round trip would sort them.
SET = """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
    version { revision } zulu: __typename node { target id } alpha: __typename
    userErrors { code field message } } }"""


class Gate:
    """An ASGI wrapper that, once armed by ``hold``, holds the next answer back until
    ``release``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.armed = False
        self.holding = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def held_send(message: Message) -> None:
            if message["type"] == "http.response.start" and self.armed:
                self.armed = False
                self.holding.set()
                await self.released.wait()
            await send(message)

        await self.app(scope, receive, held_send)

    def hold(self) -> None:
        self.armed = True
        self.holding.clear()
        self.released.clear()

    def release(self) -> None:
        self.released.set()


@dataclass
class Replicas:
    a: GraphQLClient
    b: GraphQLClient
    gate: Gate
    """Wraps replica A's app."""
    engine: AsyncEngine


@pytest.fixture(scope="module")
async def scratch(pg_server: ServerInfo) -> AsyncIterator[str]:
    name = await create_database(pg_server, "quotatree_replicas")
    url = pg_server.url_for(name)
    engine = make_engine(url, pool_size=2, max_overflow=2)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    try:
        yield url
    finally:
        await drop_database(pg_server, name)


@pytest.fixture
async def replicas(scratch: str) -> AsyncIterator[Replicas]:
    engines = [make_engine(scratch, pool_size=5, max_overflow=5) for _ in range(3)]
    try:
        apps = [create_app(make_settings(), database=Database(e)) for e in engines[:2]]
        gate = Gate(apps[0])
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://b") as b,
        ):
            yield Replicas(GraphQLClient(a), GraphQLClient(b), gate, engines[2])
    finally:
        for engine in engines:
            await engine.dispose()


async def small_plan(gql: GraphQLClient) -> dict[str, Any]:
    plan = await create_plan(gql, target="100.00")
    regions = await create_dimension(gql, f"Regions {uuid.uuid4().hex[:8]}")  # one database
    members = [await create_member(gql, regions, c) for c in ("EAST", "WEST")]
    done = await split(gql, plan["root"]["id"], 1, regions, members)
    return {
        "input": {
            "nodeId": done["children"][0]["id"],
            "revision": done["version"]["revision"],
            "target": "60.00",
        }
    }


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def latest_version(engine: AsyncEngine) -> int:
    return int(await scalar(engine, "SELECT max(id) FROM plan_version"))


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


@asynccontextmanager
async def version_locked(engine: AsyncEngine, version_id: int) -> AsyncIterator[None]:
    """Hold the version's row lock, which every change to it takes first."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(
            text("SELECT id FROM plan_version WHERE id = :id FOR UPDATE"), {"id": version_id}
        )
        try:
            yield
        finally:
            await transaction.rollback()


async def waiting_on_locks(engine: AsyncEngine) -> int:
    return int(
        await scalar(
            engine,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    )


async def applied_edits(engine: AsyncEngine, version_id: int) -> int:
    return int(
        await scalar(
            engine,
            f"SELECT count(*) FROM audit_entry WHERE action = 'nodeSetTarget' "
            f"AND version_id = {version_id}",
        )
    )


def error_code(response: httpx.Response) -> str:
    [error] = response.json()["errors"]
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    return error["extensions"]["code"]  # type: ignore[no-any-return]


async def test_a_replay_is_byte_identical_to_the_first_answer(replicas: Replicas) -> None:
    body = await small_plan(replicas.a)
    for accept in ("application/json", "application/graphql-response+json"):
        headers = {"Idempotency-Key": f"replay-{accept}", "Accept": accept}
        first = await replicas.a.post(SET, body, headers=headers)
        assert first.status_code == 200, first.text
        payload = first.json()["data"]["nodeSetTarget"]
        assert payload["userErrors"] == []
        assert list(payload) == ["version", "zulu", "node", "alpha", "userErrors"]
        assert list(payload["node"]) == ["target", "id"]
        for replica in (replicas.a, replicas.b):
            retry = await replica.post(SET, body, headers=headers)
            assert retry.status_code == first.status_code
            assert retry.headers["idempotent-replayed"] == "true"
            assert retry.headers["content-type"] == first.headers["content-type"]
            assert retry.content == first.content
        body["input"] = {**body["input"], "revision": payload["version"]["revision"]}
        body["input"]["target"] = "70.00"
    version_id = await latest_version(replicas.engine)
    assert await applied_edits(replicas.engine, version_id) == 2 * 2  # two edits, 2 nodes each


async def test_a_retry_while_the_first_is_waiting_for_a_lock_is_in_progress(
    replicas: Replicas,
) -> None:
    body = await small_plan(replicas.a)
    headers = {"Idempotency-Key": "slow-before-applying"}
    version_id = await latest_version(replicas.engine)
    async with version_locked(replicas.engine, version_id):
        first = asyncio.create_task(replicas.a.post(SET, body, headers=headers))
        await eventually(lambda: _is_waiting(replicas), "the first request waits for the lock")
        retry = await replicas.b.post(SET, body, headers=headers)
        assert retry.status_code == 409, retry.text
        assert error_code(retry) == "IDEMPOTENCY_IN_PROGRESS"
        assert retry.headers["retry-after"] == "1"
        assert not first.done()
    answer = await first
    assert answer.status_code == 200
    assert answer.json()["data"]["nodeSetTarget"]["userErrors"] == []
    replay = await replicas.b.post(SET, body, headers=headers)
    assert replay.status_code == 200
    assert replay.content == answer.content
    assert await applied_edits(replicas.engine, version_id) == 2


async def _is_waiting(replicas: Replicas) -> bool:
    return await waiting_on_locks(replicas.engine) > 0


async def test_a_retry_after_the_change_committed_but_before_the_answer_is_in_progress(
    replicas: Replicas,
) -> None:
    """The reported bug: this window answered IDEMPOTENCY_RESULT_LOST."""
    body = await small_plan(replicas.a)
    headers = {"Idempotency-Key": "slow-after-applying"}
    version_id = await latest_version(replicas.engine)
    replicas.gate.hold()
    first = asyncio.create_task(replicas.a.post(SET, body, headers=headers))
    await asyncio.wait_for(replicas.gate.holding.wait(), 10)
    assert await applied_edits(replicas.engine, version_id) == 2  # committed, not answered
    for replica in (replicas.b, replicas.a):
        retry = await replica.post(SET, body, headers=headers)
        assert retry.status_code == 409, retry.text
        assert error_code(retry) == "IDEMPOTENCY_IN_PROGRESS"
    replicas.gate.release()
    answer = await first
    assert answer.status_code == 200
    replay = await replicas.b.post(SET, body, headers=headers)
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == answer.content
    assert await applied_edits(replicas.engine, version_id) == 2


async def test_a_running_request_renews_its_lease(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running longer than the lease is still running: the lease is renewed meanwhile."""
    monkeypatch.setattr(idempotency, "LEASE_SECONDS", 0.6)
    monkeypatch.setattr(idempotency, "RENEW_SECONDS", 0.1)
    body = await small_plan(replicas.a)
    headers = {"Idempotency-Key": "long-runner"}
    replicas.gate.hold()
    first = asyncio.create_task(replicas.a.post(SET, body, headers=headers))
    await asyncio.wait_for(replicas.gate.holding.wait(), 10)
    await asyncio.sleep(1.5)  # well past the lease
    retry = await replicas.b.post(SET, body, headers=headers)
    assert error_code(retry) == "IDEMPOTENCY_IN_PROGRESS"
    replicas.gate.release()
    answer = await first
    replay = await replicas.b.post(SET, body, headers=headers)
    assert replay.content == answer.content


async def test_a_request_that_died_after_applying_is_reported_lost(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica that froze (it stopped renewing): once its lease lapsed, the retry hears
    the change was applied and its answer lost."""
    monkeypatch.setattr(idempotency, "LEASE_SECONDS", 0.3)
    monkeypatch.setattr(idempotency, "RENEW_SECONDS", 3600)
    body = await small_plan(replicas.a)
    headers = {"Idempotency-Key": "died-after-applying"}
    version_id = await latest_version(replicas.engine)
    replicas.gate.hold()
    first = asyncio.create_task(replicas.a.post(SET, body, headers=headers))
    await asyncio.wait_for(replicas.gate.holding.wait(), 10)
    await asyncio.sleep(0.5)
    retry = await replicas.b.post(SET, body, headers=headers)
    assert retry.status_code == 409
    assert error_code(retry) == "IDEMPOTENCY_RESULT_LOST"
    assert await applied_edits(replicas.engine, version_id) == 2
    replicas.gate.release()  # it wakes up: its answer is kept after all
    answer = await first
    replay = await replicas.b.post(SET, body, headers=headers)
    assert replay.content == answer.content
    assert await applied_edits(replicas.engine, version_id) == 2


async def test_a_request_that_died_before_applying_is_rerun_and_never_applied_twice(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request froze before its change (it stopped renewing its lease): a retry
    takes the key over and runs. When the first wakes up its change is rolled back, so
    the change is applied once, and the retry's answer is the one kept."""
    monkeypatch.setattr(idempotency, "LEASE_SECONDS", 0.3)
    monkeypatch.setattr(idempotency, "RENEW_SECONDS", 3600)
    body = await small_plan(replicas.a)
    headers = {"Idempotency-Key": "died-before-applying"}
    version_id = await latest_version(replicas.engine)
    async with version_locked(replicas.engine, version_id):
        first = asyncio.create_task(replicas.a.post(SET, body, headers=headers))
        await eventually(lambda: _is_waiting(replicas), "the first request waits for the lock")
        await asyncio.sleep(0.5)  # its lease lapses
        second = asyncio.create_task(replicas.b.post(SET, body, headers=headers))
        await eventually(
            lambda: _waiting_count_is(replicas, 2), "the retry runs and waits for the lock too"
        )
    first_answer, second_answer = await first, await second
    assert second_answer.status_code == 200
    assert second_answer.json()["data"]["nodeSetTarget"]["userErrors"] == []
    # the first got the lock first: its claim was lost, so its change was rolled back
    [error] = first_answer.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert await applied_edits(replicas.engine, version_id) == 2
    replay = await replicas.a.post(SET, body, headers=headers)
    assert replay.content == second_answer.content


async def _waiting_count_is(replicas: Replicas, count: int) -> bool:
    return await waiting_on_locks(replicas.engine) >= count


async def test_a_failed_request_that_changed_nothing_frees_its_key(replicas: Replicas) -> None:
    body = await small_plan(replicas.a)
    headers = {"Idempotency-Key": "bad-then-good"}
    broken = await replicas.a.http.post(
        "/graphql",
        content=b'{"query": "mutation {", "variables": {}}',
        headers={
            **headers,
            "Authorization": f"Bearer {token()}",
            "Content-Type": "application/json",
        },
    )
    assert broken.status_code == 200  # a GraphQL request error, application/json
    assert error_code(broken) == "GRAPHQL_PARSE_FAILED"
    fixed = await replicas.b.post(SET, body, headers=headers)
    assert fixed.status_code == 200
    assert fixed.json()["data"]["nodeSetTarget"]["userErrors"] == []
