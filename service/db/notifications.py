"""The change feed: what the database announces at commit, fanned out to subscribers.

Migration 0009's triggers ``NOTIFY`` the channel ``quotatree_changes`` whenever
target nodes or a version's revision change, whatever server or code path made
the change; PostgreSQL delivers the notifications at commit, in commit order,
those of one transaction together. Each server process holds **one** dedicated
connection that ``LISTEN``s (asyncpg's ``add_listener``), opened outside the
SQLAlchemy pool and counted in the connection budget (``service.settings``).

The notifications of one transaction (several node chunks, the revision) are
merged into one ``VersionEvent`` per version: the keys of the nodes that moved and
the version's new revision. They are merged when they arrive together; a very
large change whose notifications straddle network reads may reach subscribers as
a few events, the last one with the new revision.

Each subscriber has a bounded queue (``QUEUE_SIZE`` events). A subscriber that
does not keep up (its client reads too slowly) is not allowed to grow the
server's memory: when its queue is full it is dropped and its ``on_overflow``
closes its connection with a reason that says so; the client reconnects and
refetches.

When the listening connection drops (a restarted or failed-over database, a
network fault) the feed reconnects with exponential backoff (``BACKOFF``) and then
sends every subscriber a ``resync`` event: changes committed while it was away
were not heard. The subscription compares the version's current revision with
the last one it sent: unchanged means nothing was lost (every change of a
version's tree moves its revision) and the client hears nothing; moved means the
client is told to refetch (``refetch: true``). A connection that stops answering
without closing is found by a ping every ``PING_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("quotatree.notifications")

CHANNEL = "quotatree_changes"
"""The channel of migration 0009's triggers."""
QUEUE_SIZE = 64
"""Events one subscriber may have waiting; past that it is dropped as too slow."""
BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
"""Seconds between reconnection attempts (the last repeats), with +-20 % jitter."""
PING_SECONDS = 15.0
"""How often the listening connection is checked with a round trip."""
MERGE_SECONDS = 0.005
"""How long notifications of one transaction are gathered before they are sent."""

NOTIFICATIONS = Counter(
    "quotatree_change_notifications_total",
    "Change notifications heard from the database (migration 0009), by kind.",
    ["kind"],
)
SUBSCRIBERS = Gauge("quotatree_subscribers", "Subscriptions listening for changes.")
DROPPED = Counter(
    "quotatree_subscribers_dropped_total",
    "Subscribers closed because they fell QUEUE_SIZE events behind.",
)
LISTENING = Gauge(
    "quotatree_change_listener_up",
    "1 while the change feed's connection listens; 0 while it is down (subscribers then "
    "hear nothing until it is back and they resync).",
)
RECONNECTS = Counter(
    "quotatree_change_listener_reconnects_total",
    "Times the listening connection was lost and opened again.",
)


@dataclass(frozen=True, slots=True)
class VersionEvent:
    """One committed change of one version (or a resync: changes may have been missed)."""

    version_id: int
    revision: int | None = None
    """The version's revision after the change; None when the change did not move it
    (node rows written without the version's, e.g. by hand in psql)."""
    state: str | None = None
    keys: frozenset[int] = frozenset()
    """Keys of the nodes inserted, updated or deleted."""
    resync: bool = False
    """The feed may have missed changes (its connection dropped, or a TRUNCATE)."""


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed: it was dropped."""


@dataclass(eq=False)
class Subscriber:
    """One subscription's queue: events of one version, or of one node of it."""

    feed: ChangeFeed
    version_id: int
    key: int | None = None
    """Only events that touch this node (and resyncs)."""
    on_overflow: Callable[[Subscriber], None] | None = None
    queue: asyncio.Queue[VersionEvent] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )
    dropped: bool = False

    def offer(self, event: VersionEvent) -> None:
        if self.dropped:
            return
        if self.key is not None and not event.resync and self.key not in event.keys:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            DROPPED.inc()
            self.feed.unsubscribe(self)
            if self.on_overflow is not None:
                self.on_overflow(self)

    async def next(self) -> VersionEvent:
        if self.dropped:
            raise SubscriberTooSlow
        return await self.queue.get()

    def close(self) -> None:
        self.feed.unsubscribe(self)


@dataclass
class _Group:
    """Notifications of one transaction, merged per version."""

    source: tuple[int, int]
    """(backend pid, transaction id)."""
    keys: dict[int, set[int]] = field(default_factory=dict)
    revisions: dict[int, tuple[int, str | None]] = field(default_factory=dict)
    everything: bool = False


Connect = Callable[[], Awaitable[asyncpg.Connection]]


def connector(engine: AsyncEngine) -> Connect:
    """Opens a plain asyncpg connection to the engine's database, outside its pool."""
    _, options = engine.dialect.create_connect_args(engine.url)
    options = {k: v for k, v in options.items() if not k.startswith(("prepared_", "async_"))}

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            **options, server_settings={"application_name": "quotatree-listener"}
        )

    return connect


class ChangeFeed:
    """The process's one listening connection and its subscribers."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._subscribers: dict[int, set[Subscriber]] = {}
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._group: _Group | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._connection: asyncpg.Connection | None = None
        self.connections = 0
        """Connections opened so far (1 + reconnections)."""

    # --- subscribers -------------------------------------------------------------------

    def subscribe(
        self,
        version_id: int,
        key: int | None = None,
        on_overflow: Callable[[Subscriber], None] | None = None,
    ) -> Subscriber:
        subscriber = Subscriber(self, version_id, key, on_overflow)
        self._subscribers.setdefault(version_id, set()).add(subscriber)
        SUBSCRIBERS.inc()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        group = self._subscribers.get(subscriber.version_id)
        if group is not None and subscriber in group:
            group.discard(subscriber)
            SUBSCRIBERS.dec()
            if not group:
                del self._subscribers[subscriber.version_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def publish(self, event: VersionEvent) -> None:
        for subscriber in list(self._subscribers.get(event.version_id, ())):
            subscriber.offer(event)

    def resync_all(self) -> None:
        for version_id in list(self._subscribers):
            self.publish(VersionEvent(version_id, resync=True))

    # --- the listening connection ---------------------------------------------------------

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def wait_listening(self, seconds: float) -> None:
        """Wait until the connection listens (tests, benchmarks)."""
        await asyncio.wait_for(self._listening.wait(), seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="quotatree-change-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    async def drop_connection(self) -> None:
        """Close the listening connection as a fault would (tests: the reconnection)."""
        if self._connection is not None:
            self._connection.terminate()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                connection = await self._connect()
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)] * random.uniform(0.8, 1.2)
                failures += 1
                log.warning(
                    "change feed: cannot connect (%s); retrying in %.1f s",
                    exc.__class__.__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            try:
                await self._listen(connection, reconnected=self.connections > 0)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("change feed: connection lost (%s)", exc.__class__.__name__)
            finally:
                self._listening.clear()
                LISTENING.set(0)
                self._connection = None
                if not connection.is_closed():
                    connection.terminate()
            failures = 0
            RECONNECTS.inc()

    async def _listen(self, connection: asyncpg.Connection, *, reconnected: bool) -> None:
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _: closed.set())
        await connection.add_listener(CHANNEL, self._on_notification)
        self._connection = connection
        self.connections += 1
        self._listening.set()
        LISTENING.set(1)
        if reconnected:
            log.info("change feed: listening again; subscribers resync")
            self._send_group()
            self.resync_all()
        while not closed.is_set():
            try:
                await asyncio.wait_for(closed.wait(), PING_SECONDS)
            except TimeoutError:
                await connection.fetchval("SELECT 1", timeout=5)

    def _on_notification(self, _: Any, pid: int, channel: str, payload: str) -> None:
        try:
            message = orjson.loads(payload)
            source = (pid, int(message["x"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            NOTIFICATIONS.labels("malformed").inc()
            log.warning("change feed: malformed notification %.200r", payload)
            return
        if self._group is not None and self._group.source != source:
            self._send_group()
        group = self._group
        if group is None:
            group = self._group = _Group(source)
        if message.get("all"):
            NOTIFICATIONS.labels("truncate").inc()
            group.everything = True
        elif "k" in message:
            NOTIFICATIONS.labels("nodes").inc()
            group.keys.setdefault(int(message["v"]), set()).update(message["k"])
        elif "r" in message:
            NOTIFICATIONS.labels("version").inc()
            group.revisions[int(message["v"])] = (int(message["r"]), message.get("s"))
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(MERGE_SECONDS, self._send_group)

    def _send_group(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        group, self._group = self._group, None
        if group is None:
            return
        if group.everything:
            self.resync_all()
            return
        for version_id in group.keys.keys() | group.revisions.keys():
            revision, state = group.revisions.get(version_id, (None, None))
            keys = frozenset(group.keys.get(version_id, ()))
            self.publish(VersionEvent(version_id, revision, state, keys))
