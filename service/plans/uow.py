"""The unit of work every change runs in: one transaction, its audit entries, and the
idempotency key of the request that asked for it.

``async with transaction(db, principal, "nodeSplit") as uow:`` opens the
transaction; ``uow.record(...)`` adds audit entries; leaving the block writes
them and, when the HTTP request carried an ``Idempotency-Key``, marks that key
as applied, all in the same commit. So a change, its audit trail and the fact
that it was applied can never disagree.

The reason a caller gave and the request's idempotency key reach here through
``change_context`` (a context variable the API layer sets per mutation), the
way the request id reaches the logs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal
from service.db.engine import Database
from service.db.idempotency import mark_applied
from service.db.models import AuditEntry
from service.domain.tree import InvalidInputError

MAX_REASON_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class ChangeContext:
    reason: str | None = None
    request_id: str | None = None
    idempotency: tuple[str, str] | None = None
    """(subject, key) of the request's Idempotency-Key, when it has one."""
    idempotency_attempt: uuid.UUID | None = None
    """The attempt holding that key: only it may mark the key applied."""


NO_CONTEXT = ChangeContext()  # frozen, so sharing it as the default is safe
change_context: ContextVar[ChangeContext] = ContextVar("change_context", default=NO_CONTEXT)


def clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    cleaned = reason.strip()
    if len(cleaned) > MAX_REASON_LENGTH:
        raise InvalidInputError(
            "TOO_LONG",
            f"reason has {len(cleaned)} characters; at most {MAX_REASON_LENGTH}",
            "reason",
        )
    return cleaned or None


@dataclass
class UnitOfWork:
    session: AsyncSession
    principal: Principal
    action: str
    context: ChangeContext
    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self,
        *,
        plan_id: int | None = None,
        version_id: int | None = None,
        node_key: int | None = None,
        owner_id: int | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        self.entries.append(
            {
                "actor": self.principal.subject,
                "action": self.action,
                "plan_id": plan_id,
                "version_id": version_id,
                "node_key": node_key,
                "owner_id": owner_id,
                "before": before,
                "after": after,
                "reason": reason if reason is not None else self.context.reason,
                "request_id": self.context.request_id,
            }
        )

    async def _finish(self) -> None:
        if self.entries:
            await self.session.execute(insert(AuditEntry), self.entries)
        if self.context.idempotency is not None:
            subject, key = self.context.idempotency
            await mark_applied(
                self.session, subject=subject, key=key, attempt=self.context.idempotency_attempt
            )


@asynccontextmanager
async def transaction(db: Database, principal: Principal, action: str) -> AsyncIterator[UnitOfWork]:
    """One transaction for one change, with its audit entries; see the module docstring."""
    async with db.session() as session, session.begin():
        uow = UnitOfWork(session, principal, action, change_context.get())
        yield uow
        await uow._finish()
