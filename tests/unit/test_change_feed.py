"""The change feed's merging and fan-out, fed notifications by hand (no database).

The wire (triggers, LISTEN, reconnection, two servers) is tested in
tests/api/test_subscriptions.py.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from service.db import notifications
from service.db.notifications import ChangeFeed, Subscriber, VersionEvent


async def _never() -> object:
    raise AssertionError("no connection in these tests")


def feed() -> ChangeFeed:
    return ChangeFeed(_never)  # type: ignore[arg-type]


def notify(f: ChangeFeed, pid: int, **message: object) -> None:
    f._on_notification(None, pid, notifications.CHANNEL, orjson.dumps(message).decode())


async def drained(subscriber: Subscriber) -> list[VersionEvent]:
    await asyncio.sleep(notifications.MERGE_SECONDS * 4)
    events = []
    while not subscriber.queue.empty():
        events.append(subscriber.queue.get_nowait())
    return events


async def test_one_transactions_notifications_make_one_event_per_version() -> None:
    f = feed()
    seven, eight = f.subscribe(7), f.subscribe(8)
    notify(f, 100, x=1, v=7, k=[1, 2])
    notify(f, 100, x=1, v=8, k=[5])
    notify(f, 100, x=1, v=7, k=[3])
    notify(f, 100, x=1, v=7, r=4, s="DRAFT")
    assert await drained(seven) == [VersionEvent(7, 4, "DRAFT", frozenset({1, 2, 3}))]
    assert await drained(eight) == [VersionEvent(8, None, None, frozenset({5}))]


async def test_another_transaction_starts_another_event() -> None:
    f = feed()
    seven = f.subscribe(7)
    notify(f, 100, x=1, v=7, k=[1])
    notify(f, 100, x=1, v=7, r=2)
    notify(f, 101, x=2, v=7, k=[9])
    notify(f, 101, x=2, v=7, r=3)
    assert await drained(seven) == [
        VersionEvent(7, 2, None, frozenset({1})),
        VersionEvent(7, 3, None, frozenset({9})),
    ]


async def test_node_subscribers_hear_only_their_node_and_resyncs() -> None:
    f = feed()
    node = f.subscribe(7, key=2)
    notify(f, 100, x=1, v=7, k=[1])
    notify(f, 101, x=2, v=7, k=[2, 3])
    notify(f, 102, x=3, all=True)
    events = await drained(node)
    assert [e.keys for e in events] == [frozenset({2, 3}), frozenset()]
    assert events[1].resync


async def test_a_malformed_notification_is_counted_and_skipped() -> None:
    f = feed()
    seven = f.subscribe(7)
    f._on_notification(None, 100, notifications.CHANNEL, "not json")
    notify(f, 100, v=7, k=[1])  # no transaction id
    assert await drained(seven) == []


async def test_a_subscriber_that_falls_behind_is_dropped_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notifications, "QUEUE_SIZE", 2)
    f = feed()
    dropped: list[Subscriber] = []
    slow = f.subscribe(7, on_overflow=dropped.append)
    for revision in range(5):
        f.publish(VersionEvent(7, revision))
    assert dropped == [slow] and f.subscriber_count == 0
    with pytest.raises(notifications.SubscriberTooSlow):
        await slow.next()
