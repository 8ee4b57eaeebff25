"""Idempotency keys as use cases: each step its own short transaction.

The HTTP middleware (``service.api.idempotency``) claims a key before the request
runs, renews its lease while it runs and stores the answer after; the change's own
unit of work marks the key applied (``service.plans.uow``). The rules live in
``service.db.idempotency``; this module owns the transactions around them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from service.db import idempotency as store
from service.db.engine import Database
from service.db.idempotency import Answer, Claim, ClaimState

__all__ = ["Answer", "Claim", "ClaimState", "claim", "finish", "renew"]


async def claim(
    db: Database,
    *,
    subject: str,
    key: str,
    request_hash: str,
    lease: timedelta,
    keep: timedelta,
) -> Claim:
    """Take the key for this request, or say why not (replay, reused, in progress, lost)."""
    async with db.session() as session, session.begin():
        return await store.claim(
            session, subject=subject, key=key, request_hash=request_hash, lease=lease, keep=keep
        )


async def renew(
    db: Database, *, subject: str, key: str, attempt: uuid.UUID, lease: timedelta
) -> bool:
    """Extend the running attempt's lease; False when another attempt holds the key."""
    async with db.session() as session, session.begin():
        return await store.renew(session, subject=subject, key=key, attempt=attempt, lease=lease)


async def finish(
    db: Database,
    *,
    subject: str,
    key: str,
    attempt: uuid.UUID,
    answer: Answer | None,
    keep_unapplied: bool,
) -> None:
    """Store the answer of the attempt (or forget a key whose request changed nothing)."""
    async with db.session() as session, session.begin():
        await store.finish(
            session,
            subject=subject,
            key=key,
            attempt=attempt,
            answer=answer,
            keep_unapplied=keep_unapplied,
        )
