"""Live updates across servers: prints figures, asserts nothing about time.

Run ``python -m tests.benchmarks.subscriptions`` from a checkout with the dev extra
(``quotatree bench subscriptions`` there does the same; ``bench http`` runs it too,
at its end).

Goal (issue 15): a change committed through one server reaches 1,000 subscribers
connected to another within one second.

Two real server processes (``python -m service.cli serve``, production
configuration, see :mod:`tests.benchmarks.http`) share a scratch database seeded
with SQL (a version of ``--nodes`` nodes). ``--subscribers`` WebSocket clients
(the ``websockets`` package, in this process) connect to server B, sign in and
subscribe to ``versionChanged`` of the version; once every one has its initial
event, a ``nodeSetTarget`` mutation goes through server A, and the time is taken
when each subscriber receives the change: from the moment A answered (the change
is committed by then) to the first, the median and the last subscriber, and from
the moment the mutation was sent to the last. ``--rounds`` mutations, one after
the other.

The floor, measured in the same run: a bare ``NOTIFY`` committed by one asyncpg
connection until another asyncpg connection's listener callback runs (the
database's own delivery, the least any server could add to), median of
``FLOOR_ROUNDS``.

Servers, clients and PostgreSQL share the machine's cores; the output says how
many there are.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from service.api.ids import encode
from service.auth import Role, mint_token
from tests.benchmarks.http import free_port, start_server, stop_server, wait_ready
from tests.benchmarks.versions import Scratch, scratch_database, seed_tree, settle

GOAL_SECONDS = 1.0
GOAL_SUBSCRIBERS = 1_000
FLOOR_ROUNDS = 20
CONNECTS_AT_ONCE = 50

SUBSCRIBE = "subscription($v: ID!) { versionChanged(versionId: $v) { revision nodeIds } }"
SET = """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
    version { revision } userErrors { code message } } }"""

Out = Any


async def notify_floor(dsn: str, rounds: int = FLOOR_ROUNDS) -> list[float]:
    """Seconds from a committed NOTIFY to the listener's callback, per round."""
    listener = await asyncpg.connect(dsn)
    sender = await asyncpg.connect(dsn)
    try:
        heard: asyncio.Queue[float] = asyncio.Queue()
        await listener.add_listener(
            "quotatree_bench_floor", lambda *_: heard.put_nowait(time.perf_counter())
        )
        seconds = []
        for i in range(rounds + 2):
            started = time.perf_counter()
            await sender.execute(f"NOTIFY quotatree_bench_floor, '{i}'")
            arrived = await asyncio.wait_for(heard.get(), 10)
            if i >= 2:  # two rounds of warm-up
                seconds.append(arrived - started)
        return seconds
    finally:
        await listener.close()
        await sender.close()


class Subscribers:
    """``count`` WebSockets on one server, each subscribed to one version's changes."""

    def __init__(self, url: str, token: str, version: str, count: int) -> None:
        self.url, self.token, self.version, self.count = url, token, version, count
        self.sockets: list[ClientConnection] = []

    async def open(self) -> None:
        gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

        async def one() -> ClientConnection:
            async with gate:
                ws = await connect(self.url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
                init = {"type": "connection_init", "payload": {"Authorization": self.token}}
                await ws.send(orjson.dumps(init).decode())
                ack = orjson.loads(await ws.recv())
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"connection_init refused: {ack}")
                message = {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"v": self.version}},
                }
                await ws.send(orjson.dumps(message).decode())
                first = orjson.loads(await ws.recv())
                if first.get("type") != "next":
                    raise RuntimeError(f"subscription refused: {first}")
                return ws

        self.sockets = list(await asyncio.gather(*(one() for _ in range(self.count))))

    async def next_event(self) -> list[tuple[float, int]]:
        """(arrival time, revision) of each socket's next event."""

        async def one(ws: ClientConnection) -> tuple[float, int]:
            raw = await ws.recv()
            arrived = time.perf_counter()
            message = orjson.loads(raw)
            if message.get("type") != "next" or "errors" in message["payload"]:
                raise RuntimeError(f"unexpected message: {str(message)[:300]}")
            return arrived, int(message["payload"]["data"]["versionChanged"]["revision"])

        return list(await asyncio.gather(*(one(ws) for ws in self.sockets)))

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def measure(
    out: Out,
    scratch: Scratch,
    *,
    subscribers: int = GOAL_SUBSCRIBERS,
    rounds: int = 3,
    log: BinaryIO,
    workdir: Path,
    start_timeout: float = 90.0,
) -> int:
    """The benchmark over a scratch database that holds a DRAFT version; 0 when it ran."""
    conn = await asyncpg.connect(scratch.dsn)
    try:
        version_id, revision = await conn.fetchrow(
            "SELECT id, revision FROM plan_version WHERE state = 'DRAFT' ORDER BY id LIMIT 1"
        )
        leaf_key, leaf_target = await conn.fetchrow(
            "SELECT key, target FROM target_node WHERE version_id = $1 "
            "AND key NOT IN (SELECT parent_key FROM target_node WHERE version_id = $1 "
            "AND parent_key IS NOT NULL) ORDER BY sort_path DESC LIMIT 1",
            version_id,
        )
        floor = await notify_floor(scratch.dsn)
    finally:
        await conn.close()
    floor_median = statistics.median(floor)
    out(
        f"floor: a bare NOTIFY committed by one asyncpg connection reaches another's "
        f"listener in {_ms(floor_median)} (median of {len(floor)}; "
        f"min {_ms(min(floor))}, max {_ms(max(floor))})"
    )
    secret = secrets.token_urlsafe(32)
    token = mint_token(secret, subject="bench", role=Role.ADMIN, ttl_hours=1)
    ports = [free_port(), free_port()]
    processes = [
        start_server(scratch.url, secret, port, log, workdir / f"server-{i}")
        for i, port in enumerate(ports)
    ]
    crowd: Subscribers | None = None
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", headers=headers) as a,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}") as b,
        ):
            for client, process in ((a, processes[0]), (b, processes[1])):
                await wait_ready(client, process, Path(log.name), start_timeout)
            crowd = Subscribers(
                f"ws://127.0.0.1:{ports[1]}/graphql",
                f"Bearer {token}",
                encode("PlanVersion", version_id),
                subscribers,
            )
            started = time.perf_counter()
            await crowd.open()
            out(
                f"{subscribers:,} WebSocket subscribers of versionChanged on server B "
                f"(pid {processes[1].pid}), each with its initial event, in "
                f"{time.perf_counter() - started:.1f} s; mutations through server A "
                f"(pid {processes[0].pid})"
            )
            node = encode("TargetNode", version_id, leaf_key)
            lasts = []
            for round_ in range(1, rounds + 1):
                target = leaf_target + round_
                body = {
                    "query": SET,
                    "variables": {
                        "input": {
                            "nodeId": node,
                            "revision": revision,
                            "target": f"{target // 100}.{target % 100:02d}",
                        }
                    },
                }
                waiting = asyncio.create_task(crowd.next_event())
                await asyncio.sleep(0.2)  # every socket is waiting in recv
                sent = time.perf_counter()
                response = await a.post("/graphql", json=body)
                answered = time.perf_counter()
                data = response.json()
                payload = (data.get("data") or {}).get("nodeSetTarget")
                if payload is None or payload["userErrors"]:
                    waiting.cancel()
                    raise RuntimeError(f"the mutation failed: {str(data)[:500]}")
                revision = int(payload["version"]["revision"])
                arrivals = await asyncio.wait_for(waiting, 60)
                wrong = sum(1 for _, r in arrivals if r != revision)
                times = sorted(t for t, _ in arrivals)
                last = times[-1] - answered
                lasts.append(last)
                out(
                    f"round {round_}: mutation answered by A in {_ms(answered - sent)}; then "
                    f"first subscriber {_ms(times[0] - answered)}, median "
                    f"{_ms(statistics.median(times) - answered)}, last {_ms(last)} "
                    f"({last / floor_median:.0f}x the NOTIFY floor); from sending the "
                    f"mutation to the last: {_ms(times[-1] - sent)}"
                    + (f"; {wrong} with another revision" if wrong else "")
                )
            best = min(lasts)
            out(
                f"a change committed through A reached all {subscribers:,} subscribers on B "
                f"in {_ms(best)} at best, {_ms(max(lasts))} at worst (goal: under "
                f"{GOAL_SECONDS:g} s for {GOAL_SUBSCRIBERS:,}: "
                f"{'met' if max(lasts) < GOAL_SECONDS else 'NOT met'})"
            )
    finally:
        if crowd is not None:
            await crowd.close()
        for process in processes:
            code = stop_server(process)
            out(f"server pid {process.pid} stopped (exit code {code})")
    return 0


async def run(args: argparse.Namespace, out: Out) -> int:
    with tempfile.TemporaryDirectory(prefix="quotatree-subs-") as tmp:
        workdir = Path(tmp)
        log_path = Path(args.server_log) if args.server_log else workdir / "servers.log"
        async with scratch_database("quotatree_bench_subs") as scratch:
            out(
                f"quotatree subscriptions benchmark - Python {platform.python_version()}, "
                f"PostgreSQL {scratch.server_version} ({scratch.where}); {os.cpu_count()} CPU "
                "cores shared by two servers, the subscribers and PostgreSQL"
            )
            conn = await asyncpg.connect(scratch.dsn)
            try:
                seeded = await seed_tree(conn, args.nodes, name="Bench FY2027 (subscriptions)")
                await settle(conn)
            finally:
                await conn.close()
            out(f"seeded {seeded.nodes:,} nodes with SQL")
            with log_path.open("wb") as log:
                return await measure(
                    out,
                    scratch,
                    subscribers=args.subscribers,
                    rounds=args.rounds,
                    log=log,
                    workdir=workdir,
                    start_timeout=args.start_timeout,
                )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.subscriptions",
        description="A change committed through one server reaching the subscribers "
        "connected to another (prints figures), beside a bare NOTIFY's round trip.",
    )
    parser.add_argument("--nodes", type=int, default=1_111, help="nodes in the version")
    parser.add_argument(
        "--subscribers", type=int, default=GOAL_SUBSCRIBERS, help="WebSockets on server B"
    )
    parser.add_argument("--rounds", type=int, default=3, help="mutations, one after the other")
    parser.add_argument("--server-log", help="keep the servers' JSON logs in this file")
    parser.add_argument("--start-timeout", type=float, default=90.0, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.subscribers = min(args.subscribers, 20)
        args.rounds = 1
    if args.nodes < 1_111 or args.subscribers < 1 or args.rounds < 1:
        parser.error("--nodes >= 1111, --subscribers >= 1, --rounds >= 1")

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        # The subscribers stand for 1,000 browsers on other machines: the cheapest event
        # loop keeps their share of this machine's cores small.
        import uvloop

        return uvloop.run(run(args, out))
    except (RuntimeError, OSError, asyncpg.PostgresError) as exc:
        print(f"tests.benchmarks.subscriptions: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
