"""Live updates: GraphQL subscriptions over WebSocket (the graphql-transport-ws protocol).

A client opens ``/graphql`` as a WebSocket with the subprotocol
``graphql-transport-ws`` and signs in with its ``connection_init`` payload
(``{"Authorization": "Bearer <jwt>"}``, see ``service.app``). It may then
subscribe to

- ``versionChanged(versionId)``: every committed change of a version's tree, with
  the ids of the nodes that moved and the version's new revision;
- ``nodeChanged(id)``: every committed change of one node (its new state, or that
  it was removed).

Each subscription opens with an event of the current state (``initial: true``),
sent once the server listens for the subscription's changes, so a client that reads
after it misses nothing. Events come from the database's own notifications
(``service.db.notifications``), so a change made through any server reaches
subscribers on every server. Reads are open to every signed-in role, as for
queries, so any signed-in caller may subscribe to any version or node that
exists; an unknown id is refused with an ``error`` message (``NOT_FOUND``).

While it waits for events a subscription holds no database connection: each event
is read on a connection of its own (``Context.renew_reads``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from functools import lru_cache
from typing import Annotated

import strawberry
from strawberry.types import Info

from service.api import ids
from service.api.context import Context
from service.api.errors import PublicError
from service.api.nodes import TargetNode
from service.api.versions import PlanVersion
from service.db.notifications import ChangeFeed, Subscriber, SubscriberTooSlow, VersionEvent
from service.domain.tree import InvalidInputError

MAX_NODE_IDS = 10_000
"""Most node ids one event lists; a bigger change says refetch instead."""


@strawberry.type(
    description="A committed change of a plan version: which nodes moved and the new revision."
)
class VersionChangeEvent:
    version_id: strawberry.ID = strawberry.field(description="The version's id.")
    revision: int = strawberry.field(
        description="The version's revision after the change (the one to send with the next edit)."
    )
    node_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the nodes the change added, changed or removed, in key order; "
        f"empty in the initial event and when refetch is true (also for a change of more "
        f"than {MAX_NODE_IDS:,} nodes)."
    )
    initial: bool = strawberry.field(
        description="True for the first event of a subscription: the state when it began "
        "to listen, not a change."
    )
    refetch: bool = strawberry.field(
        description="True when nodeIds cannot tell what moved: the server may have missed "
        "changes (its connection to the database dropped and came back, and the revision "
        f"moved meanwhile), or more than {MAX_NODE_IDS:,} nodes moved. Read the version "
        "again."
    )

    @strawberry.field(description="The version as it is now (read when the event is sent).")
    async def version(self, info: Info[Context, None]) -> PlanVersion | None:
        version_id = ids.decode(self.version_id, "PlanVersion", "versionId")
        row = await info.context.loaders.version_by_id.load(version_id)
        return PlanVersion(row=row) if row else None


@strawberry.type(description="A committed change of one target node.")
class NodeChangeEvent:
    node_id: strawberry.ID = strawberry.field(description="The node's id.")
    revision: int = strawberry.field(description="Its version's revision after the change.")
    removed: bool = strawberry.field(description="True when the change removed the node.")
    initial: bool = strawberry.field(
        description="True for the first event of a subscription: the state when it began "
        "to listen, not a change."
    )
    refetch: bool = strawberry.field(
        description="True when the server may have missed changes (see "
        "VersionChangeEvent.refetch): read the node again."
    )

    @strawberry.field(
        description="The node as it is now (read when the event is sent); null once removed."
    )
    async def node(self, info: Info[Context, None]) -> TargetNode | None:
        version_id, key = ids.decode_node(self.node_id, "id")
        row = await info.context.loaders.node_by_id.load((version_id, key))
        return TargetNode(row=row) if row else None


def _feed(context: Context) -> ChangeFeed:
    context.caller  # noqa: B018 - raises UNAUTHENTICATED without a principal
    if context.feed is None:
        raise PublicError(
            "Subscriptions are not available here: the server runs without its change "
            "feed. Connect to /graphql with the graphql-transport-ws protocol.",
            code="UNAVAILABLE",
        )
    return context.feed


async def _current_revision(context: Context, version_id: int) -> int | None:
    row = await context.loaders.version_by_id.load(version_id)
    return row.revision if row else None


async def _events(
    context: Context, subscriber: Subscriber, revision: int
) -> AsyncGenerator[tuple[VersionEvent, int], None]:
    """(event, revision) for each change after ``revision``; resyncs that missed
    nothing are swallowed, those that may have are passed on as such."""
    last = revision
    while True:
        await context.renew_reads()  # no connection held while waiting
        try:
            event = await subscriber.next()
        except SubscriberTooSlow:
            return  # its socket is being closed with the reason (service.graphql_ws)
        current = event.revision
        if current is None:
            current = await _current_revision(context, subscriber.version_id)
            if current is None:  # the version is gone: nothing more will come
                return
        if event.resync and current == last:
            continue  # every change moves the revision: nothing was missed
        last = current
        yield event, current


@strawberry.type(
    description="Live updates, over WebSocket with the graphql-transport-ws protocol "
    '(connection_init payload: {"Authorization": "Bearer <jwt>"}).'
)
class Subscription:
    @strawberry.subscription(
        description="Committed changes of one plan version's tree, made through any "
        "server: the nodes that moved and the new revision. Opens with the current "
        "revision (initial: true)."
    )
    async def version_changed(
        self,
        info: Info[Context, None],
        version_id: Annotated[
            strawberry.ID, strawberry.argument(description="The version to follow.")
        ],
    ) -> AsyncGenerator[VersionChangeEvent, None]:
        context = info.context
        feed = _feed(context)
        number = ids.decode(version_id, "PlanVersion", "versionId")
        if await _current_revision(context, number) is None:
            raise InvalidInputError("NOT_FOUND", "versionId names no plan version", "versionId")
        return _version_events(context, feed, version_id, number)

    @strawberry.subscription(
        description="Committed changes of one target node, made through any server: its "
        "new state, or that it was removed. Opens with the current state (initial: true)."
    )
    async def node_changed(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The node to follow.")],
    ) -> AsyncGenerator[NodeChangeEvent, None]:
        context = info.context
        feed = _feed(context)
        version_id, key = ids.decode_node(id, "id")
        if await context.loaders.node_by_id.load((version_id, key)) is None:
            raise InvalidInputError("NOT_FOUND", "id names no target node", "id")
        return _node_events(context, feed, id, version_id, key)


@lru_cache(maxsize=64)
def _node_ids(version_id: int, keys: frozenset[int]) -> tuple[strawberry.ID, ...]:
    """The global ids of an event's nodes: built once per event, not per subscriber."""
    return tuple(strawberry.ID(ids.encode("TargetNode", version_id, k)) for k in sorted(keys))


async def _version_events(
    context: Context, feed: ChangeFeed, version_id: str, number: int
) -> AsyncGenerator[VersionChangeEvent, None]:
    # Listening first, then reading: a change committed in between is heard.
    subscriber = feed.subscribe(number, on_overflow=context.on_overflow)
    try:
        await context.renew_reads()  # the resolver's read is older than the listening
        revision = await _current_revision(context, number)
        if revision is None:
            return  # removed since the resolver looked
        yield VersionChangeEvent(
            version_id=strawberry.ID(version_id),
            revision=revision,
            node_ids=[],
            initial=True,
            refetch=False,
        )
        async for event, current in _events(context, subscriber, revision):
            many = len(event.keys) > MAX_NODE_IDS
            yield VersionChangeEvent(
                version_id=strawberry.ID(version_id),
                revision=current,
                node_ids=[] if many else list(_node_ids(number, event.keys)),
                initial=False,
                refetch=event.resync or many,
            )
    finally:
        subscriber.close()
        await context.renew_reads()


async def _node_events(
    context: Context, feed: ChangeFeed, node_id: str, version_id: int, key: int
) -> AsyncGenerator[NodeChangeEvent, None]:
    subscriber = feed.subscribe(version_id, key, on_overflow=context.on_overflow)
    try:
        await context.renew_reads()
        revision = await _current_revision(context, version_id)
        row = await context.loaders.node_by_id.load((version_id, key))
        if revision is None:
            return
        yield NodeChangeEvent(
            node_id=strawberry.ID(node_id),
            revision=revision,
            removed=row is None,
            initial=True,
            refetch=False,
        )
        async for event, current in _events(context, subscriber, revision):
            row = await context.loaders.node_by_id.load((version_id, key))
            yield NodeChangeEvent(
                node_id=strawberry.ID(node_id),
                revision=current,
                removed=row is None,
                initial=False,
                refetch=event.resync,
            )
    finally:
        subscriber.close()
        await context.renew_reads()
