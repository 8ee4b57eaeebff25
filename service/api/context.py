"""The per-request context: database, caller, DataLoaders, request id."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.fastapi import BaseContext

from service.api.loaders import Loaders
from service.auth import Principal
from service.db.engine import Database
from service.settings import Settings


@dataclass
class Context(BaseContext):
    db: Database
    settings: Settings
    principal: Principal | None
    request_id: str
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        # Built fresh per request: a shared DataLoader would cache across users.
        self.loaders = Loaders(self.db)

    @property
    def caller(self) -> Principal:
        if self.principal is None:  # only GraphiQL's page is served without a token
            raise PermissionError("no authenticated caller")
        return self.principal
