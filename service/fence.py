"""The fence of read replicas at the HTTP edge: what a client sends, what it is told.

See ``service.db.replicas`` for the routing and README "Read replicas" for clients.
"""

from __future__ import annotations

import re

from fastapi import Request
from strawberry.types import ExecutionResult

from service.api.context import Context
from service.db.replicas import Replica, open_replica
from service.graphql_http import HTTPError, clip
from service.settings import Settings

FENCE_HEADER = "x-quotatree-fence"
"""The data generation a response's answer read (a query) or its write made (a
mutation), and what a client sends back so as never to read older data
(``service.db.replicas``). Sent, and acted on, only when a read replica is configured
(without one every read is on the primary); a malformed one is refused always."""
_MAX_FENCE = 2**63 - 1


_OUR_ETAG = re.compile(r'"(\d{1,18})-[0-9a-f]{32}"')
"""An ETag this server gave (``service.api.cache.CacheKey.etag``): its generation first."""


def read_fence(request: Request) -> int | None:
    """The client's fence: its ``X-Quotatree-Fence`` header, or a GET's ``fence``
    parameter, and the generation of an ETag of ours in ``If-None-Match`` (a client
    revalidating an answer has seen it: a lagging replica must not answer older);
    the largest of them."""
    sent = [request.headers.get(FENCE_HEADER)]
    if request.method == "GET":
        sent.append(request.query_params.get("fence"))
    fences = []
    for value in sent:
        if value is None:
            continue
        value = value.strip()
        if not (value.isascii() and value.isdigit() and int(value) <= _MAX_FENCE):
            raise HTTPError(
                400,
                "INVALID_FENCE",
                f"The fence {clip(value, 24)!r} is not one this server gave: send back the "
                "X-Quotatree-Fence header (or extensions.fence) of a response as it came, "
                "a non-negative integer.",
            )
        fences.append(int(value))
    seen = _OUR_ETAG.fullmatch((request.headers.get("if-none-match") or "").strip())
    if seen is not None:
        fences.append(int(seen[1]))
    return max(fences) if fences else None


async def tell_fence(
    request: Request, context: Context, result: ExecutionResult, *, mutation: bool
) -> None:
    """The response's fence: for a query the generation it read (when it read one),
    for a mutation the primary's generation after its commit (one statement), also in
    ``extensions.fence`` (an idempotent replay returns the stored body with it)."""
    state = request.scope.setdefault("state", {})
    if not mutation:
        if context.reads.generation is not None:
            state["graphql_fence"] = context.reads.generation
        return
    if result.data is None:  # not executed (a request error): nothing was written
        return
    generation = await context.reads.current_generation()
    state["graphql_fence"] = generation
    result.extensions = {**(result.extensions or {}), "fence": generation}


def replica_of(settings: Settings) -> Replica | None:
    """The read replica the settings name, if any."""
    if settings.read_database_url is None:
        return None
    return open_replica(
        settings.read_database_url,
        pool_size=settings.read_pool_size or settings.pool_size,
        max_overflow=(
            settings.max_overflow
            if settings.read_max_overflow is None
            else settings.read_max_overflow
        ),
        connect_timeout=settings.read_database_connect_timeout,
    )
