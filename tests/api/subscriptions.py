"""Real servers for subscription tests: apps served by uvicorn on loopback ports.

Two apps with their own pools and change feeds stand for two servers; they share
one scratch database where every request commits (subscriptions hear only
committed changes).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from service.app import create_app
from service.db.engine import Database, make_engine
from service.db.notifications import ChangeFeed
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

PROTOCOL = "graphql-transport-ws"


@dataclass
class Served:
    app: FastAPI
    port: int
    http: GraphQLClient

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def feed(self) -> ChangeFeed:
        feed = self.app.state.quotatree["feed"]
        assert isinstance(feed, ChangeFeed)
        return feed


@asynccontextmanager
async def serve(url: str) -> AsyncIterator[Served]:
    """One server (its own engine, pool and change feed) listening on a free port."""
    engine = make_engine(url, pool_size=3, max_overflow=3)
    app = create_app(make_settings(), database=Database(engine))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        served_feed = app.state.quotatree["feed"]
        await served_feed.wait_listening(10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            yield Served(app, port, GraphQLClient(http))
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        await engine.dispose()


class Socket:
    """A graphql-transport-ws client over a real WebSocket."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), seconds)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def init(self, authorization: str | None = None) -> dict[str, Any]:
        if authorization is None:
            authorization = f"Bearer {token()}"
        await self.send({"type": "connection_init", "payload": {"Authorization": authorization}})
        return await self.receive()

    async def subscribe(self, id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.send(
            {"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    async def next(self, id: str, seconds: float = 10) -> dict[str, Any]:
        """The next ``next`` payload of subscription ``id`` (fails on anything else)."""
        message = await self.receive(seconds)
        assert message.get("id") == id and message["type"] == "next", message
        payload: dict[str, Any] = message["payload"]
        assert "errors" not in payload, payload
        return payload["data"]  # type: ignore[no-any-return]

    async def closed(self, seconds: float = 10) -> tuple[int | None, str | None]:
        """Wait for the server to close; (code, reason)."""
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), seconds)
        except Exception:  # ConnectionClosed: the end we wait for
            pass
        frame = self.connection.protocol.close_rcvd
        return (frame.code, frame.reason) if frame else (None, None)


@asynccontextmanager
async def socket(served: Served, *, init: bool = True) -> AsyncIterator[Socket]:
    async with connect(served.ws_url, subprotocols=[PROTOCOL]) as connection:  # type: ignore[list-item]
        client = Socket(connection)
        if init:
            ack = await client.init()
            assert ack == {"type": "connection_ack"}, ack
        yield client


@pytest.fixture(scope="module")
async def scratch(pg_server: ServerInfo) -> AsyncIterator[str]:
    name = await create_database(pg_server, "quotatree_subs")
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
async def servers(scratch: str) -> AsyncIterator[tuple[Served, Served]]:
    async with serve(scratch) as a, serve(scratch) as b:
        yield a, b


async def small_plan(gql: GraphQLClient) -> dict[str, Any]:
    plan = await create_plan(gql, target="100.00")
    regions = await create_dimension(gql, f"Regions {uuid.uuid4().hex[:8]}")
    members = [await create_member(gql, regions, c) for c in ("EAST", "WEST")]
    done = await split(gql, plan["root"]["id"], 1, regions, members)
    return {
        "version": plan["version"]["id"],
        "revision": done["version"]["revision"],
        "children": [c["id"] for c in done["children"]],
    }
