"""Idempotent retries: ``Idempotency-Key`` on POST /graphql.

A client that may retry (timeouts, a reorg script) sends a key it chose, unique
per change, in the ``Idempotency-Key`` header (1 to 200 printable characters).
Per token subject and key:

- the first request runs, and its HTTP response is stored with a hash of its
  body; a retry with the same key and the same body gets the stored response
  back (header ``Idempotent-Replayed: true``) and changes nothing;
- the same key with a different body is refused (HTTP 422,
  ``IDEMPOTENCY_KEY_REUSED``);
- while the first request is still running a retry gets HTTP 409
  (``IDEMPOTENCY_IN_PROGRESS``); retry a little later;
- whether the change was applied is written in the change's own transaction
  (``service.plans.uow``, told of the key through the request's state), so a
  request that died before answering is never applied twice: if it was applied
  the retry gets HTTP 409 (``IDEMPOTENCY_RESULT_LOST``: reload), otherwise, after
  60 seconds, the retry runs it.

Keys are kept for at least 24 hours (rows older than 48 hours are removed as
new keys arrive).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import AuthenticationError, Authenticator
from service.db.engine import Database
from service.db.models import IdempotencyKey

MAX_KEY_LENGTH = 200
STALE_SECONDS = 60
KEEP_HOURS = 48


class IdempotencyMiddleware:
    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, database: Callable[[], Database | None]
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_key = headers.get(b"idempotency-key")
        db = self.database()
        if raw_key is None or db is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            await _json(
                send,
                400,
                "IDEMPOTENCY_KEY_INVALID",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            )
            return
        try:
            principal = self.authenticator.authenticate(
                headers.get(b"authorization", b"").decode("latin-1") or None
            )
        except AuthenticationError:
            await self.app(scope, receive, send)  # the router answers 401
            return
        body = await _read_body(receive)
        digest = hashlib.sha256(body).hexdigest()
        subject = principal.subject

        outcome = await _claim(db, subject, key, digest)
        if outcome is not None:
            await _answer(send, *outcome)
            return

        status = 500
        chunks: list[bytes] = []
        response_headers: list[tuple[bytes, bytes]] = []

        async def replay_receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers") or [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        # The unit of work of the change marks the key applied in its own commit.
        scope.setdefault("state", {})["idempotency"] = (subject, key)
        try:
            await self.app(scope, replay_receive, capture)
        finally:
            await _finish(db, subject, key, status, b"".join(chunks), response_headers)


async def _read_body(receive: Receive) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def _claim(
    db: Database, subject: str, key: str, digest: str
) -> tuple[int, bytes, bool] | None:
    """None when this request may run; else (status, body, replayed) to answer with."""
    async with db.session() as session, session.begin():
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.created_at < func.now() - text(f"interval '{KEEP_HOURS} hours'")
            )
        )
        inserted = await session.execute(
            insert(IdempotencyKey)
            .values(subject=subject, key=key, request_hash=digest)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if inserted.first() is not None:
            return None
        row = (
            await session.execute(
                select(
                    IdempotencyKey.request_hash,
                    IdempotencyKey.applied,
                    IdempotencyKey.status_code,
                    IdempotencyKey.response,
                    func.extract("epoch", func.now() - IdempotencyKey.created_at),
                )
                .where(IdempotencyKey.subject == subject, IdempotencyKey.key == key)
                .with_for_update()
            )
        ).one()
        request_hash, applied, status_code, response, age = row
        if request_hash != digest:
            return _error(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used for a different request; use a new key",
            )
        if response is not None:
            return int(status_code or 200), orjson.dumps(response), True
        if applied:
            return _error(
                409,
                "IDEMPOTENCY_RESULT_LOST",
                "the request with this key was applied but its answer was lost; "
                "reload the data instead of retrying",
            )
        if float(age) < STALE_SECONDS:
            return _error(
                409,
                "IDEMPOTENCY_IN_PROGRESS",
                "a request with this key is still running; retry in a few seconds",
            )
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.subject == subject, IdempotencyKey.key == key)
            .values(created_at=func.now())
        )
        return None


async def _finish(
    db: Database, subject: str, key: str, status: int, body: bytes, headers: list[Any]
) -> None:
    """Store the answer; forget a key whose request failed before changing anything."""
    async with db.session() as session, session.begin():
        where = (IdempotencyKey.subject == subject, IdempotencyKey.key == key)
        stored: Any = None
        if status == 200:
            try:
                stored = orjson.loads(body)
            except orjson.JSONDecodeError:
                stored = None
        if stored is not None:
            await session.execute(
                update(IdempotencyKey).where(*where).values(response=stored, status_code=status)
            )
        else:
            await session.execute(
                delete(IdempotencyKey).where(*where, IdempotencyKey.applied.is_(False))
            )


def _error(status: int, code: str, message: str) -> tuple[int, bytes, bool]:
    return (
        status,
        orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}),
        False,
    )


async def _answer(send: Send, status: int, body: bytes, replayed: bool) -> None:
    headers = [(b"content-type", b"application/json")]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, code: str, message: str) -> None:
    await _answer(send, *_error(status, code, message)[:2], False)
