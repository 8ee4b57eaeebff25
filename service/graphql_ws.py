"""GraphQL over WebSocket: the graphql-transport-ws protocol, signed in like HTTP.

https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md. The socket carries
subscriptions only (``service.api.subscriptions``); queries and mutations go over
HTTP, where the response cache, ETags, persisted queries and idempotency keys
live. Close codes:

- ``4400`` a message that is not of the protocol (strawberry's);
- ``4401`` ``subscribe`` before the connection was acknowledged;
- ``4403`` ``connection_init`` without a valid token (the reason says what is
  wrong: missing, malformed, expired, bad signature...), and when the token
  expires while the socket is open: reconnect with a fresh one;
- ``4406`` a subprotocol other than graphql-transport-ws; ``4408`` no
  ``connection_init`` within ``INIT_TIMEOUT``; ``4409`` a subscription id used
  twice; ``4429`` a second ``connection_init`` (strawberry's);
- ``1013`` (try again later) a subscriber that fell ``QUEUE_SIZE`` events behind
  (``service.db.notifications``); clients reconnect, and the first event of each
  subscription tells them the current revision.

The token comes in ``connection_init``'s payload as ``{"Authorization": "Bearer
<jwt>"}`` (what browsers can send; ``authorization`` is accepted too), or else in
the handshake's ``Authorization`` header. An operation that is not a subscription
is answered with an ``error`` message (``OPERATION_NOT_SUPPORTED``), the socket
left open. An unknown or malformed id is an ``error`` message for that
subscription (``NOT_FOUND``, ``INVALID_ID``), the socket left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from datetime import timedelta
from typing import Any

import orjson
from graphql import OperationDefinitionNode, OperationType
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from service.api.cache import parsed_document
from service.api.context import Context
from service.auth import AuthenticationError, Authenticator
from service.db.notifications import QUEUE_SIZE, Subscriber
from service.observability import GRAPHQL_ERRORS

log = logging.getLogger("quotatree.ws")

INIT_TIMEOUT = timedelta(seconds=10)
"""How long a socket may stay open without ``connection_init``."""
TOO_SLOW = 1013
EXPIRED = 4403
_closing: set[asyncio.Task[None]] = set()


class Rejected(Exception):
    """``connection_init`` refused: the socket closes with 4403 and this reason."""


def authenticate(authenticator: Authenticator, context: Context) -> None:
    """Sign the socket in from ``connection_init``'s payload or the handshake header."""
    params = context.connection_params or {}
    authorization = params.get("Authorization", params.get("authorization"))
    if authorization is None and context.request is not None:
        authorization = context.request.headers.get("authorization")
    if authorization is not None and not isinstance(authorization, str):
        raise Rejected("connection_init payload's Authorization must be a string")
    try:
        context.principal = authenticator.authenticate(authorization)
    except AuthenticationError as exc:
        GRAPHQL_ERRORS.labels(kind="authentication").inc()
        message = str(exc)
        if authorization is None:
            message = 'send {"Authorization": "Bearer <jwt>"} as connection_init payload'
        raise Rejected(_clip(message)) from None
    expires = context.principal.claims.get("exp")
    websocket = context.request
    if isinstance(expires, int | float) and isinstance(websocket, WebSocket):
        delay = max(0.0, float(expires) - time.time())
        handle = asyncio.get_running_loop().call_later(
            delay, close_soon, websocket, EXPIRED, "the token expired; reconnect with a fresh one"
        )
        context.expiry = handle


def close_soon(websocket: WebSocket, code: int, reason: str) -> None:
    """Close ``websocket`` from a callback (a task; a closed socket is left alone)."""

    async def close() -> None:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason)

    task = asyncio.get_running_loop().create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


def overflow_closer(websocket: WebSocket) -> Any:
    """The ``on_overflow`` of a socket's subscribers: close the socket, say why."""

    def too_slow(subscriber: Subscriber) -> None:
        log.warning(
            "closing a WebSocket: a subscriber of version %s fell %s events behind",
            subscriber.version_id,
            QUEUE_SIZE,
        )
        close_soon(
            websocket,
            TOO_SLOW,
            f"too slow: {QUEUE_SIZE} events waited unread; reconnect and refetch",
        )

    return too_slow


def _clip(reason: str) -> str:
    """A close reason fits in 123 bytes (RFC 6455)."""
    data = reason.encode()
    return reason if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


def is_subscription(query: Any, operation_name: Any) -> bool | None:
    """Whether the document's operation to run is a subscription (None: it does not
    parse or names no one operation; GraphQL then says why)."""
    if not isinstance(query, str):
        return None
    document = parsed_document(query)
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if isinstance(operation_name, str):
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return None
    return operations[0].operation is OperationType.SUBSCRIPTION


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Messages as text frames (the protocol's; the HTTP side encodes JSON to bytes),
    read with a plain JSON parser (a message that is not JSON closes with 4400)."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                try:
                    yield orjson.loads(text)
                except orjson.JSONDecodeError as exc:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class SubscriptionHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """strawberry's graphql-transport-ws handler with a reason for a refused sign-in and
    subscriptions only."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Rejected as exc:
            await self.websocket.close(code=4403, reason=f"Forbidden: {exc}")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        if (
            self.connection_acknowledged
            and isinstance(payload, dict)
            and is_subscription(payload.get("query"), payload.get("operationName")) is False
        ):
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [
                        {
                            "message": "This socket carries subscriptions only; send queries "
                            "and mutations over HTTP (POST /graphql).",
                            "extensions": {"code": "OPERATION_NOT_SUPPORTED"},
                        }
                    ],
                }
            )
            return
        await super().handle_subscribe(message)
