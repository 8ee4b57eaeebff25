"""GraphQL subscriptions over graphql-transport-ws, with a real WebSocket client.

Two servers share one database: a change made through A reaches subscribers of B
(PostgreSQL LISTEN/NOTIFY, migration 0009). Sign-in, refusals, a dropped listening
connection and a subscriber that falls behind are checked on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from service.api import ids, subscriptions
from service.db import notifications
from service.db.notifications import VersionEvent
from tests.api.subscriptions import Served, scratch, servers, small_plan, socket
from tests.conftest import GraphQLClient, token

__all__ = ["scratch", "servers"]  # fixtures

VERSION_CHANGED = """subscription($v: ID!) { versionChanged(versionId: $v) {
    versionId revision nodeIds initial refetch version { revision state } } }"""
NODE_CHANGED = """subscription($id: ID!) { nodeChanged(id: $id) {
    nodeId revision removed initial refetch node { target } } }"""
SET = """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
    version { revision } node { id target } userErrors { code message } } }"""


async def set_target(gql: GraphQLClient, node: str, revision: int, target: str) -> int:
    data = await gql(SET, {"input": {"nodeId": node, "revision": revision, "target": target}})
    assert data["nodeSetTarget"]["userErrors"] == [], data
    return int(data["nodeSetTarget"]["version"]["revision"])


async def test_a_change_through_one_server_reaches_subscribers_on_the_other(
    servers: tuple[Served, Served],
) -> None:
    a, b = servers
    plan = await small_plan(a.http)
    east, west = plan["children"]
    async with socket(b) as ws:
        await ws.subscribe("v", VERSION_CHANGED, {"v": plan["version"]})
        await ws.subscribe("n", NODE_CHANGED, {"id": east})
        first = {}
        for _ in range(2):
            message = await ws.receive()
            first[message["id"]] = message["payload"]["data"]
        assert first["v"]["versionChanged"] == {
            "versionId": plan["version"],
            "revision": plan["revision"],
            "nodeIds": [],
            "initial": True,
            "refetch": False,
            "version": {"revision": plan["revision"], "state": "DRAFT"},
        }
        assert first["n"]["nodeChanged"]["initial"] is True
        assert first["n"]["nodeChanged"]["node"] == {"target": "50.00"}

        revision = await set_target(a.http, east, plan["revision"], "60.00")

        got = {}
        for _ in range(2):
            message = await ws.receive()
            assert message["type"] == "next", message
            got[message["id"]] = message["payload"]["data"]
        event = got["v"]["versionChanged"]
        assert event["revision"] == revision
        assert event["initial"] is False and event["refetch"] is False
        assert east in event["nodeIds"]
        assert event["version"] == {"revision": revision, "state": "DRAFT"}
        node = got["n"]["nodeChanged"]
        assert node == {
            "nodeId": east,
            "revision": revision,
            "removed": False,
            "initial": False,
            "refetch": False,
            "node": {"target": "60.00"},
        }
        # A change of a node the node subscription does not follow: only the version hears.
        if west not in event["nodeIds"]:
            revision = await set_target(a.http, west, revision, "45.00")
            data = await ws.next("v")
            assert west in data["versionChanged"]["nodeIds"]


async def test_many_subscribers_on_one_socket_and_unsubscribe(
    servers: tuple[Served, Served],
) -> None:
    a, b = servers
    plan = await small_plan(a.http)
    async with socket(b) as ws:
        for i in range(5):
            await ws.subscribe(f"s{i}", VERSION_CHANGED, {"v": plan["version"]})
        for _ in range(5):
            assert (await ws.receive())["type"] == "next"
        assert b.feed.subscriber_count >= 5
        await ws.send({"id": "s0", "type": "complete"})
        revision = await set_target(a.http, plan["children"][0], plan["revision"], "10.00")
        heard = set()
        for _ in range(4):
            message = await ws.receive()
            assert message["payload"]["data"]["versionChanged"]["revision"] == revision
            heard.add(message["id"])
        assert heard == {"s1", "s2", "s3", "s4"}
    for _ in range(100):  # the server lets go of a closed socket's subscribers
        if b.feed.subscriber_count == 0:
            break
        await asyncio.sleep(0.05)
    assert b.feed.subscriber_count == 0


async def test_a_big_change_arrives_whole(
    servers: tuple[Served, Served], scratch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 nodes written in one transaction: four chunks of keys, one event."""
    a, b = servers
    plan = await small_plan(a.http)
    version = ids.parse(plan["version"])
    assert version is not None
    version_id = version[1][0]
    async with socket(b) as ws:
        await ws.subscribe("v", VERSION_CHANGED, {"v": plan["version"]})
        await ws.next("v")
        conn = await asyncpg.connect(scratch.replace("postgresql+asyncpg", "postgresql"))
        try:
            async with conn.transaction():
                # Copies of a child (same slice, zero target), as a bulk import would add.
                await conn.execute(
                    """INSERT INTO target_node (version_id, key, plan_id, parent_key, path,
                           sort_path, depth, target, coordinates, dimension_id, member_id)
                       SELECT version_id, 1000000 + g, plan_id, parent_key,
                              path || g || '/', sort_path || g || '/', depth, 0, coordinates,
                              dimension_id, member_id
                       FROM (SELECT * FROM target_node WHERE version_id = $1 AND depth = 1
                             LIMIT 1) child, generate_series(1, 1000) g""",
                    version_id,
                )
                revision = await conn.fetchval(
                    "UPDATE plan_version SET revision = revision + 1 WHERE id = $1 "
                    "RETURNING revision",
                    version_id,
                )
        finally:
            await conn.close()
        event = (await ws.next("v"))["versionChanged"]
        assert event["revision"] == revision
        assert len(event["nodeIds"]) == 1000
        assert event["nodeIds"][0] == ids.encode("TargetNode", version_id, 1000001)

        # Past MAX_NODE_IDS an event lists none and says refetch.
        monkeypatch.setattr(subscriptions, "MAX_NODE_IDS", 999)
        conn = await asyncpg.connect(scratch.replace("postgresql+asyncpg", "postgresql"))
        try:
            async with conn.transaction():
                await conn.execute(
                    "UPDATE target_node SET target = 1 WHERE version_id = $1 AND key > 1000000",
                    version_id,
                )
                revision = await conn.fetchval(
                    "UPDATE plan_version SET revision = revision + 1 WHERE id = $1 "
                    "RETURNING revision",
                    version_id,
                )
        finally:
            await conn.close()
        event = (await ws.next("v"))["versionChanged"]
        assert (event["revision"], event["nodeIds"], event["refetch"]) == (revision, [], True)


async def test_sign_in_refusals_close_with_the_spec_codes(
    servers: tuple[Served, Served],
) -> None:
    _, b = servers
    async with socket(b, init=False) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": "Bearer x"}})
        code, reason = await ws.closed()
        assert code == 4403 and reason is not None and "invalid token" in reason, reason
    async with socket(b, init=False) as ws:
        await ws.send({"type": "connection_init", "payload": {}})
        code, reason = await ws.closed()
        assert code == 4403 and reason is not None and "Authorization" in reason, reason
    async with socket(b, init=False) as ws:
        await ws.subscribe("x", VERSION_CHANGED, {"v": "UGxhblZlcnNpb246MQ=="})
        code, _ = await ws.closed()
        assert code == 4401
    async with socket(b, init=False) as ws:
        await ws.send({"type": "what"})
        code, _ = await ws.closed()
        assert code == 4400


async def test_unknown_or_malformed_ids_and_queries_are_error_messages(
    servers: tuple[Served, Served],
) -> None:
    _, b = servers
    async with socket(b) as ws:
        await ws.subscribe("a", VERSION_CHANGED, {"v": ids.encode("PlanVersion", 999999)})
        message = await ws.receive()
        assert message["type"] == "error" and message["id"] == "a", message
        assert message["payload"][0]["extensions"]["code"] == "NOT_FOUND", message
        await ws.subscribe("b", NODE_CHANGED, {"id": "nonsense"})
        message = await ws.receive()
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "INVALID_ID", message
        await ws.subscribe("c", "{ plans(first: 1) { totalCount } }")
        message = await ws.receive()
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "OPERATION_NOT_SUPPORTED"
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}  # the socket stays open


async def test_the_token_may_come_in_the_handshake_header(servers: tuple[Served, Served]) -> None:
    from websockets.asyncio.client import connect

    _, b = servers
    headers = {"Authorization": f"Bearer {token()}"}
    async with connect(
        b.ws_url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers=headers,
    ) as connection:
        await connection.send('{"type": "connection_init"}')
        assert await asyncio.wait_for(connection.recv(), 10) == '{"type":"connection_ack"}'


class Gate:
    """Holds the feed's reconnection until opened."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self.inner = connect
        self.open = asyncio.Event()

    async def __call__(self) -> asyncpg.Connection:
        await self.open.wait()
        return await self.inner()


async def test_a_dropped_listener_reconnects_and_subscribers_refetch_only_if_they_missed(
    servers: tuple[Served, Served],
) -> None:
    a, b = servers
    plan = await small_plan(a.http)
    east = plan["children"][0]
    async with socket(b) as ws:
        await ws.subscribe("v", VERSION_CHANGED, {"v": plan["version"]})
        await ws.next("v")
        feed = b.feed
        gate = Gate(feed._connect)
        feed._connect = gate

        # Dropped while nothing changed: reconnected, nothing was missed, nothing sent.
        gate.open.set()
        await feed.drop_connection()
        await asyncio.sleep(0.3)
        await feed.wait_listening(10)
        revision = await set_target(a.http, east, plan["revision"], "55.00")
        event = (await ws.next("v"))["versionChanged"]
        assert (event["revision"], event["refetch"]) == (revision, False)

        # Dropped while a change is committed: on reconnection the subscriber refetches.
        gate.open.clear()
        await feed.drop_connection()
        for _ in range(100):
            if not feed.listening:
                break
            await asyncio.sleep(0.02)
        revision = await set_target(a.http, east, revision, "57.00")
        gate.open.set()
        event = (await ws.next("v"))["versionChanged"]
        assert event == {
            "versionId": plan["version"],
            "revision": revision,
            "nodeIds": [],
            "initial": False,
            "refetch": True,
            "version": {"revision": revision, "state": "DRAFT"},
        }
        feed._connect = gate.inner


async def test_a_subscriber_that_falls_behind_is_closed_with_a_reason(
    servers: tuple[Served, Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    plan = await small_plan(a.http)
    monkeypatch.setattr(notifications, "QUEUE_SIZE", 3)
    version = ids.parse(plan["version"])
    assert version is not None
    async with socket(b) as ws:
        await ws.subscribe("v", VERSION_CHANGED, {"v": plan["version"]})
        await ws.next("v")
        for revision in range(100, 110):  # at once: the subscription cannot keep up
            b.feed.publish(VersionEvent(version[1][0], revision, "DRAFT", frozenset({1})))
        code, reason = await ws.closed()
        assert code == 1013, (code, reason)
        assert reason is not None and "too slow" in reason
    assert b.feed.subscriber_count == 0


async def test_a_subscription_sent_over_http_is_refused(servers: tuple[Served, Served]) -> None:
    a, _ = servers
    response = await a.http.post(VERSION_CHANGED, {"v": ids.encode("PlanVersion", 1)})
    body = response.json()
    assert "errors" in body, body
    assert body["errors"][0]["extensions"]["code"] == "OPERATION_NOT_SUPPORTED", body
    assert "WebSocket" in body["errors"][0]["message"]


async def test_the_socket_closes_when_its_token_expires(servers: tuple[Served, Served]) -> None:
    from service.auth import Role, mint_token
    from tests.conftest import TEST_SECRET

    _, b = servers
    short = mint_token(TEST_SECRET, subject="brief", role=Role.VIEWER, ttl_hours=2 / 3600)
    async with socket(b, init=False) as ws:
        assert await ws.init(f"Bearer {short}") == {"type": "connection_ack"}
        code, reason = await ws.closed(seconds=15)
        assert code == 4403 and reason is not None and "token expired" in reason, reason
