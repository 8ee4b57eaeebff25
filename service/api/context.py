"""The per-request context: database, caller, DataLoaders, request id, idempotency key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from strawberry.fastapi import BaseContext

from service.api.errors import PublicError
from service.api.loaders import Loaders
from service.auth import Principal
from service.db.engine import Database, RequestReads
from service.db.notifications import ChangeFeed, Subscriber
from service.plans.uow import Change
from service.settings import Settings


@dataclass
class Context(BaseContext):
    db: Database
    settings: Settings
    principal: Principal | None
    request_id: str
    idempotency: tuple[str, str] | None = None
    """(subject, key) of the request's ``Idempotency-Key`` header, when it has one."""
    idempotency_attempt: uuid.UUID | None = None
    """The attempt holding that key (only it may mark the key applied)."""
    feed: ChangeFeed | None = None
    """The server's change feed (subscriptions); None where the app's lifespan did not run."""
    connection_params: dict[str, Any] | None = None
    """A WebSocket's ``connection_init`` payload (strawberry sets it)."""
    on_overflow: Callable[[Subscriber], None] | None = None
    """What to do with a subscriber that fell too far behind (close its WebSocket)."""
    expiry: asyncio.TimerHandle | None = None
    """Closes a WebSocket when its token expires."""
    reads: RequestReads = field(init=False)
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        # Built fresh per request: a shared DataLoader would cache across users.
        self.reads = self.db.reads()
        self.loaders = Loaders(self.reads)

    def read_from(self, db: Database) -> None:
        """Read this request from ``db`` (a query's, with a read replica: see
        ``Database.for_query``); called before anything is read."""
        self.db = db
        self.reads = db.reads()
        self.loaders = Loaders(self.reads)

    async def close(self) -> None:
        """Give back the request's connection (see ``RequestReads``)."""
        if self.expiry is not None:
            self.expiry.cancel()
        await self.reads.close()

    async def renew_reads(self) -> None:
        """Give back the connection and start afresh: a subscription's next event
        reads on a connection of its own and with empty DataLoaders (never holding a
        connection, nor stale rows, while it waits)."""
        if self.reads.idle:
            return  # the event read nothing (its fields are the event's own)
        await self.reads.close()
        self.reads = self.db.reads()
        self.loaders = Loaders(self.reads)

    @property
    def caller(self) -> Principal:
        if self.principal is None:  # only GraphiQL's page is served without a token
            raise PublicError("sign in: send a bearer token", code="UNAUTHENTICATED")
        return self.principal

    def change(self, reason: str | None) -> Change:
        """Who asks for a change, why and under which request: what a use case is given."""
        return Change(
            principal=self.caller,
            reason=reason,
            request_id=self.request_id,
            idempotency=self.idempotency,
            idempotency_attempt=self.idempotency_attempt,
        )
