"""SQL of idempotency keys: claim a key, renew its lease, mark it applied, keep the answer.

A row per (token subject, key). The request that holds it is named by ``attempt``
and is alive while ``lease_until`` (on the database's clock, so every replica
agrees) lies ahead: it renews the lease while it runs. A lease that lapsed means
the request died (its process crashed or froze). ``applied`` is set in the
change's own transaction and only by the attempt that holds the key, so a
request whose key was taken over after its lease lapsed cannot apply its change
as well. See ``service.api.idempotency`` for the protocol.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import IdempotencyKey


class ClaimLost(RuntimeError):
    """This request's key was taken over by a retry: its change must not be applied."""


class ClaimState(enum.Enum):
    RUN = "run"
    """This request runs: a new key, or one whose earlier attempt died before applying."""
    REPLAY = "replay"
    """The first request's answer is stored: send it again."""
    REUSED = "reused"
    """The key was used for a different request."""
    IN_PROGRESS = "in_progress"
    """The request holding the key is still running."""
    LOST = "lost"
    """The request holding the key applied its change and died before storing its answer."""


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    attempt: uuid.UUID | None = None
    status: int | None = None
    content_type: str | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def _row(subject: str, key: str) -> list[ColumnElement[bool]]:
    return [IdempotencyKey.subject == subject, IdempotencyKey.key == key]


async def claim(
    session: AsyncSession,
    *,
    subject: str,
    key: str,
    request_hash: str,
    lease: timedelta,
    keep: timedelta,
) -> Claim:
    """Take the key for a new attempt, or say why not. Run inside a transaction."""
    await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < func.now() - keep)
    )
    for _ in range(3):  # the row may vanish between the insert and the select
        attempt = uuid.uuid4()
        inserted = await session.execute(
            insert(IdempotencyKey)
            .values(
                subject=subject,
                key=key,
                request_hash=request_hash,
                attempt=attempt,
                lease_until=func.clock_timestamp() + lease,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if inserted.first() is not None:
            return Claim(ClaimState.RUN, attempt=attempt)
        row = (
            await session.execute(
                select(
                    IdempotencyKey.request_hash,
                    IdempotencyKey.applied,
                    IdempotencyKey.status_code,
                    IdempotencyKey.content_type,
                    IdempotencyKey.body,
                    IdempotencyKey.lease_until > func.clock_timestamp(),
                )
                .where(*_row(subject, key))
                .with_for_update()
            )
        ).one_or_none()
        if row is None:
            continue
        stored_hash, applied, status, content_type, body, alive = row
        if stored_hash != request_hash:
            return Claim(ClaimState.REUSED)
        if body is not None:
            return Claim(
                ClaimState.REPLAY,
                status=status,
                content_type=content_type or "application/json",
                body=bytes(body),
            )
        if alive:
            return Claim(ClaimState.IN_PROGRESS)
        if applied:
            return Claim(ClaimState.LOST)
        await session.execute(
            update(IdempotencyKey)
            .where(*_row(subject, key))
            .values(attempt=attempt, lease_until=func.clock_timestamp() + lease)
        )
        return Claim(ClaimState.RUN, attempt=attempt)
    raise RuntimeError(f"idempotency key {key!r} kept vanishing while being claimed")


async def renew(
    session: AsyncSession, *, subject: str, key: str, attempt: uuid.UUID, lease: timedelta
) -> bool:
    """Extend the running attempt's lease; False when it no longer holds the key."""
    renewed = await session.execute(
        update(IdempotencyKey)
        .where(*_row(subject, key), IdempotencyKey.attempt == attempt)
        .values(lease_until=func.clock_timestamp() + lease)
        .returning(IdempotencyKey.key)
    )
    return renewed.first() is not None


async def mark_applied(
    session: AsyncSession, *, subject: str, key: str, attempt: uuid.UUID | None
) -> None:
    """In the change's transaction: the change under this key is applied.

    Raises ClaimLost when another attempt holds the key now (this one's lease lapsed
    and a retry took it over), so that the caller's transaction rolls back.
    """
    where = _row(subject, key)
    if attempt is not None:
        where.append(IdempotencyKey.attempt == attempt)
    marked = await session.execute(
        update(IdempotencyKey).where(*where).values(applied=True).returning(IdempotencyKey.key)
    )
    if marked.first() is None and attempt is not None:
        raise ClaimLost(
            f"idempotency key {key!r} was taken over by a retry after this request's lease "
            "lapsed; its change is rolled back"
        )


async def finish(
    session: AsyncSession,
    *,
    subject: str,
    key: str,
    attempt: uuid.UUID,
    answer: Answer | None,
    keep_unapplied: bool,
) -> None:
    """Store the attempt's answer, or give the key up.

    The answer is kept when the change was applied, or when ``keep_unapplied`` (a
    final answer that changed nothing, e.g. user errors). Otherwise a key whose
    change was not applied is forgotten (a retry runs afresh), and one whose change
    was applied without an answer loses its lease at once (a retry hears it is lost).
    """
    mine = [*_row(subject, key), IdempotencyKey.attempt == attempt]
    if answer is not None:
        condition = mine if keep_unapplied else [*mine, IdempotencyKey.applied.is_(True)]
        stored = await session.execute(
            update(IdempotencyKey)
            .where(*condition)
            .values(
                status_code=answer.status,
                content_type=answer.content_type,
                body=answer.body,
                lease_until=None,
            )
            .returning(IdempotencyKey.key)
        )
        if stored.first() is not None:
            return
    await session.execute(delete(IdempotencyKey).where(*mine, IdempotencyKey.applied.is_(False)))
    await session.execute(update(IdempotencyKey).where(*mine).values(lease_until=None))
