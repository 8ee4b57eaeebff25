"""The FastAPI application: GraphQL, health, readiness and metrics.

``create_app`` takes the database (tests pass one bound to a rolled-back
transaction) or builds it in the lifespan from the settings: the configured
URL, or an embedded PostgreSQL when there is none.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from strawberry.fastapi import GraphQLRouter

from service.api.context import Context
from service.api.idempotency import IdempotencyMiddleware
from service.api.schema import build_schema
from service.auth import AuthenticationError, Authenticator
from service.db.engine import Database, make_engine
from service.db.migrate import pending_migrations
from service.observability import (
    GRAPHQL_ERRORS,
    RequestContextMiddleware,
    current_request_id,
    metrics_payload,
)
from service.settings import Settings

log = logging.getLogger("quotatree")


class OrjsonGraphQLRouter(GraphQLRouter[Context, None]):
    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    generated_secret: str | None = None,
) -> FastAPI:
    """Build the app. Without ``database`` the lifespan opens one from ``settings``."""
    authenticator = Authenticator(settings, generated_secret=generated_secret)
    state: dict[str, Any] = {"db": database}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        embedded = None
        if state["db"] is None:
            url = settings.database_url
            if url is None:
                from service.db.embedded import start_embedded

                embedded = start_embedded(settings.data_dir)
                url = embedded.url
            state["db"] = Database(
                make_engine(url, pool_size=settings.pool_size, max_overflow=settings.max_overflow)
            )
            state["owned"] = True
        try:
            yield
        finally:
            if state.get("owned"):
                await state["db"].dispose()
                state["db"] = None
            if embedded is not None:
                embedded.stop()

    async def get_context(request: Request) -> Context:
        principal = None
        graphiql_page = (
            request.method == "GET"
            and "query" not in request.query_params
            and not settings.production
        )
        if not graphiql_page:
            try:
                principal = authenticator.authenticate(request.headers.get("authorization"))
            except AuthenticationError as exc:
                GRAPHQL_ERRORS.labels(kind="authentication").inc()
                raise HTTPException(
                    status_code=401,
                    detail=str(exc),
                    headers={"WWW-Authenticate": 'Bearer realm="quotatree"'},
                ) from None
        return Context(
            db=state["db"],
            settings=settings,
            principal=principal,
            request_id=current_request_id(),
            idempotency=getattr(request.state, "idempotency", None),
        )

    schema = build_schema(settings)
    router = OrjsonGraphQLRouter(
        schema,
        context_getter=get_context,
        graphql_ide=None if settings.production else "graphiql",
        multipart_uploads_enabled=False,
    )

    app = FastAPI(
        title="quotatree",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(router, prefix="/graphql")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"errors": [{"message": exc.detail, "extensions": {"code": _code(exc.status_code)}}]},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        db: Database | None = state["db"]
        if db is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            problem = await pending_migrations(db.engine)
        except Exception as exc:  # the reason goes to the prober, the trace to the log
            log.warning("readiness check failed: %s", exc)
            return JSONResponse(
                {
                    "status": "unavailable",
                    "reason": f"database unreachable: {exc.__class__.__name__}",
                },
                status_code=503,
            )
        if problem is not None:
            return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    if settings.metrics_port is None:
        # Development and tests only: production serves metrics on their own port
        # (QUOTATREE_METRICS_PORT, see service.cli), never beside the API.
        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            payload, content_type = metrics_payload()
            return Response(payload, media_type=content_type)

    app.add_middleware(
        IdempotencyMiddleware, authenticator=authenticator, database=lambda: state["db"]
    )
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


def _code(status: int) -> str:
    return {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND", 413: "TOO_LARGE"}.get(
        status, "BAD_REQUEST"
    )
