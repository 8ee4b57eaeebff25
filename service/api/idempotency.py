"""Idempotent retries: ``Idempotency-Key`` on POST /graphql.

A client that may retry (timeouts, a reorg script) sends a key it chose, unique
per change, in the ``Idempotency-Key`` header (1 to 200 printable characters).
Per token subject and key:

- the first request runs, and its answer is stored byte for byte, with its status
  and content type, beside a hash of the request body; a retry with the same key
  and the same body gets exactly that answer back (header
  ``Idempotent-Replayed: true``; ``X-Request-ID`` is the retry's own) and changes
  nothing;
- the same key with a different body is refused (HTTP 422,
  ``IDEMPOTENCY_KEY_REUSED``);
- while the first request is still running, on this replica or any other, a
  retry gets HTTP 409 (``IDEMPOTENCY_IN_PROGRESS``, ``Retry-After: 1``): the
  running request holds a lease in the database that it renews every
  ``RENEW_SECONDS`` until it has stored its answer;
- a request that died (its process crashed or froze) stops renewing, and its
  lease lapses after at most ``LEASE_SECONDS``. Whether its change was applied is
  written in the change's own transaction (``service.plans.uow``): if it was, a
  retry gets HTTP 409 (``IDEMPOTENCY_RESULT_LOST``: reload the data instead of
  retrying); if not, the retry takes the key over and runs. Only the attempt
  holding the key may mark it applied, so a frozen request that wakes up after a
  retry took its key over has its change rolled back: a change is never applied
  twice.

Answers that changed nothing and are not final (an unexpected error, a request
refused before GraphQL ran) are not kept: the key is forgotten and a retry runs
afresh. Keys are kept for at least 24 hours (rows older than 48 hours are
removed as new keys arrive). Every refusal is a GraphQL response with
``extensions.code`` and the request id (``service.graphql_http``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import AuthenticationError, Authenticator
from service.db.engine import Database
from service.graphql_http import HTTPError, graphql_outcome, header, send_error
from service.observability import current_request_id
from service.plans import idempotency as store

MAX_KEY_LENGTH = 200
LEASE_SECONDS = 30.0
"""How long a request is taken for alive without renewing its lease."""
RENEW_SECONDS = 10.0
"""How often a running request renews its lease."""
KEEP_HOURS = 48

log = logging.getLogger("quotatree.idempotency")


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
        headers = scope.get("headers") or []
        raw_key = header(headers, b"idempotency-key")
        db = self.database()
        if raw_key is None or db is None:
            await self.app(scope, receive, send)
            return
        accept = header(headers, b"accept")
        key = raw_key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            await _refuse(
                send,
                accept,
                400,
                "IDEMPOTENCY_KEY_INVALID",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            )
            return
        try:
            principal = self.authenticator.authenticate(header(headers, b"authorization"))
        except AuthenticationError:
            await self.app(scope, receive, send)  # the router answers 401
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        subject = principal.subject
        claim = await store.claim(
            db,
            subject=subject,
            key=key,
            request_hash=hashlib.sha256(body).hexdigest(),
            lease=timedelta(seconds=LEASE_SECONDS),
            keep=timedelta(hours=KEEP_HOURS),
        )
        if claim.state is store.ClaimState.RUN:
            assert claim.attempt is not None
            await self._run(scope, receive, send, db, subject, key, claim.attempt, body)
        elif claim.state is store.ClaimState.REPLAY:
            assert claim.body is not None and claim.content_type is not None
            await send(
                {
                    "type": "http.response.start",
                    "status": claim.status or 200,
                    "headers": [
                        (b"content-type", claim.content_type.encode("latin-1")),
                        (b"content-length", str(len(claim.body)).encode()),
                        (b"idempotent-replayed", b"true"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": claim.body})
        elif claim.state is store.ClaimState.REUSED:
            await _refuse(
                send,
                accept,
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used for a different request; use a new key.",
            )
        elif claim.state is store.ClaimState.IN_PROGRESS:
            await _refuse(
                send,
                accept,
                409,
                "IDEMPOTENCY_IN_PROGRESS",
                "A request with this Idempotency-Key is still running; retry in a second "
                "to get its answer.",
                {"Retry-After": "1"},
            )
        else:
            await _refuse(
                send,
                accept,
                409,
                "IDEMPOTENCY_RESULT_LOST",
                "The request with this Idempotency-Key was applied but its answer was lost; "
                "reload the data instead of retrying.",
            )

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        db: Database,
        subject: str,
        key: str,
        attempt: uuid.UUID,
        body: bytes,
    ) -> None:
        """Run the request as the attempt holding the key; keep its answer."""
        status = 500
        content_type = "application/json"
        chunks: list[bytes] = []
        complete = False
        delivered = False

        async def replay_receive() -> Message:
            nonlocal delivered
            if delivered:  # after the body: wait for the client to go away, as usual
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, content_type, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                content_type = header(message.get("headers"), b"content-type") or content_type
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        # The key and the attempt reach the change's unit of work (service.plans.uow)
        # through the request's state: the GraphQL context passes them on.
        state = scope.setdefault("state", {})
        state["idempotency"] = (subject, key)
        state["idempotency_attempt"] = attempt
        stopped = asyncio.Event()
        keeper = asyncio.create_task(_keep_alive(db, subject, key, attempt, stopped))
        try:
            await self.app(scope, replay_receive, capture)
        finally:
            stopped.set()
            await keeper
            outcome = graphql_outcome(scope)
            answer = store.Answer(status, content_type, b"".join(chunks)) if complete else None
            final = (
                answer is not None
                and 200 <= status < 300
                and outcome is not None
                and not outcome.has_errors
            )
            try:
                await store.finish(
                    db,
                    subject=subject,
                    key=key,
                    attempt=attempt,
                    answer=answer,
                    keep_unapplied=final,
                )
            except Exception:
                # The lease lapses by itself: a retry then hears the request is lost or reruns it.
                log.error("could not store the answer of idempotency key %r", key, exc_info=True)


async def _keep_alive(
    db: Database, subject: str, key: str, attempt: uuid.UUID, stopped: asyncio.Event
) -> None:
    """Renew the attempt's lease every RENEW_SECONDS until ``stopped`` is set."""
    while True:
        try:
            await asyncio.wait_for(stopped.wait(), RENEW_SECONDS)
            return
        except TimeoutError:
            pass
        try:
            held = await store.renew(
                db,
                subject=subject,
                key=key,
                attempt=attempt,
                lease=timedelta(seconds=LEASE_SECONDS),
            )
        except Exception:
            log.warning("could not renew the lease of idempotency key %r", key, exc_info=True)
            continue
        if not held:
            log.warning("idempotency key %r was taken over by a retry", key)
            return


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _refuse(
    send: Send,
    accept: str | None,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> None:
    await send_error(send, HTTPError(status, code, message, headers), accept, current_request_id())
