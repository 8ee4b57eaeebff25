"""The per-request context: database, caller, DataLoaders, request id, idempotency key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from strawberry.fastapi import BaseContext

from service.api.errors import PublicError
from service.api.loaders import Loaders
from service.auth import Principal
from service.db.engine import Database, RequestReads
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
        await self.reads.close()

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
