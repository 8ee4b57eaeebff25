"""The FastAPI application: GraphQL, health, readiness and metrics.

``create_app`` takes the database (tests pass one bound to a rolled-back
transaction) or builds it in the lifespan from the settings: the configured
URL, or an embedded PostgreSQL when there is none.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
from cross_web import HTTPException as StrawberryHTTPException
from fastapi import FastAPI, HTTPException, Request
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse, Response
from graphql import GraphQLError, GraphQLSyntaxError
from sqlalchemy import text
from starlette.background import BackgroundTasks
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from strawberry.exceptions import MissingQueryError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET

from service import graphql_ws
from service.api.cache import (
    NOT_MODIFIED,
    PERSISTED_QUERIES,
    CacheKey,
    PersistedQueries,
    ResponseCache,
    is_query,
    operation_name,
    sha256,
)
from service.api.context import Context
from service.api.errors import RequestIdMaskErrors, is_unexpected
from service.api.idempotency import IdempotencyMiddleware
from service.api.schema import build_schema
from service.auth import AuthenticationError, Authenticator
from service.db.engine import Database, make_engine
from service.db.errors import database_unavailable
from service.db.migrate import pending_migrations
from service.db.notifications import ChangeFeed, connector
from service.fence import FENCE_HEADER, read_fence, replica_of, tell_fence
from service.graphql_http import (
    GRAPHQL_RESPONSE,
    JSON,
    REQUEST_ERROR_STATUS,
    GraphQLOutcome,
    HTTPError,
    InvalidJSON,
    check_content_type,
    clip,
    code_for_status,
    content_type,
    error_response,
    graphql_outcome,
    invalid_request,
    negotiate,
    parse_json,
    request_parameters,
)
from service.observability import (
    GRAPHQL_ERRORS,
    OPERATION_LATENCY,
    RequestContextMiddleware,
    count_operation_errors,
    current_request,
    current_request_id,
    metrics_payload,
    operation_label,
    set_build_info,
)
from service.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("quotatree")


class NotModified(Exception):
    """The client's If-None-Match names the current answer: 304."""

    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def observe_cached(operation_name: str | None, started: float) -> None:
    """An answer from the cache counts as its operation, too: on the access line and in
    the operation latency (from the cache lookup to the answer)."""
    name = operation_label(operation_name)
    info = current_request()
    if info is not None:
        info.operation, info.operation_type = name, "query"
    OPERATION_LATENCY.labels(name, "query").observe(time.perf_counter() - started)


class GraphQLHTTPRouter(GraphQLRouter[Context, None]):
    """strawberry's router, answering by the GraphQL-over-HTTP specification.

    Request bodies are parsed strictly (``service.graphql_http.parse_json``); every
    error answer is a GraphQL response with ``extensions.code`` and
    ``extensions.requestId``, in the media type the client accepts, with the status
    that media type asks for (see ``service.graphql_http``).
    """

    cache: ResponseCache | None = None
    """Answers of queries (``service.api.cache``); None when turned off."""
    persisted: PersistedQueries = PersistedQueries()
    authenticator: Authenticator | None = None
    """Signs WebSockets in at ``connection_init`` (``service.graphql_ws``)."""
    graphql_transport_ws_handler_class = graphql_ws.SubscriptionHandler
    websocket_adapter_class = graphql_ws.TextWebSocketAdapter

    async def on_ws_connect(self, context: Context) -> Any:
        assert self.authenticator is not None
        graphql_ws.authenticate(self.authenticator, context)
        return UNSET  # a plain connection_ack

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET of a persisted query has no "query" either: it is not GraphiQL's page.
        if request.query_params.get("extensions"):
            return False
        return super().should_render_graphql_ide(request)

    async def get_sub_response(self, request: Request) -> Response:
        """The request's own sub-response (``graphql_post``); strawberry's handlers keep
        theirs on the router, shared by the requests in flight."""
        own: Response | None = request.scope.get("state", {}).get("graphql_sub_response")
        return own if own is not None else await super().get_sub_response(request)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return parse_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return parse_json(data)
        except InvalidJSON as exc:
            raise HTTPError(400, "INVALID_JSON", f"The request body is not JSON: {exc}.") from None

    async def parse_http_body(self, request: Any) -> GraphQLRequestData:
        transport = self._get_stream_transport_from_headers(request.headers)
        if request.method == "GET":
            params = request.query_params
            data: Any = {
                "query": params.get("query"),
                "operationName": params.get("operationName"),
                "variables": self._json_parameter(params.get("variables"), "variables"),
                "extensions": self._json_parameter(params.get("extensions"), "extensions"),
            }
            where = "query string"
        else:
            check_content_type(request.content_type)
            data = self.parse_json(await request.get_body())
            where = "request body"
        self._persisted_query(data)
        query, operation, variables, extensions = request_parameters(data, where)
        return GraphQLRequestData(
            query=query,
            variables=variables,
            operation_name=operation,
            extensions=extensions,
            protocol=transport.protocol if transport else "http",
        )

    def _persisted_query(self, data: Any) -> None:
        """Automatic persisted queries: the document of a known hash, or keep a new one."""
        if not isinstance(data, dict):
            return
        extensions = data.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            return
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(digest, str) or persisted.get("version") != 1:
            raise invalid_request(
                'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<hex>"}'
            )
        query = data.get("query")
        if query is None or query == "":
            document = self.persisted.get(digest)
            if document is None:
                PERSISTED_QUERIES.labels("miss").inc()
                raise HTTPError(200, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
            PERSISTED_QUERIES.labels("hit").inc()
            data["query"] = document
        elif isinstance(query, str):
            if sha256(query) != digest:
                raise HTTPError(
                    400,
                    "PERSISTED_QUERY_HASH_MISMATCH",
                    "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                )
            PERSISTED_QUERIES.labels("registered").inc()
            self.persisted.put(digest, query)

    @staticmethod
    def _json_parameter(value: Any, name: str) -> Any:
        if value is None or value == "":
            return None
        try:
            return parse_json(value)
        except InvalidJSON as exc:
            raise HTTPError(
                400, "INVALID_JSON", f"The {name} parameter is not JSON: {exc}."
            ) from None

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        if request_data.query and _TOO_MANY_DIGITS and _TOO_MANY_DIGITS.search(request_data.query):
            # graphql-core reads an Int literal with int(), which refuses this many digits.
            message = f"A number in the document has more than {_MAX_DIGITS} digits."
            error = GraphQLError(message, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
            return PreExecutionError(data=None, errors=[error])
        if graphql_ws.is_subscription(request_data.query, request_data.operation_name):
            error = GraphQLError(
                "Subscriptions run over WebSocket: open /graphql with the "
                "graphql-transport-ws protocol (see the README).",
                extensions={"code": "OPERATION_NOT_SUPPORTED"},
            )
            return PreExecutionError(data=None, errors=[error])
        fence = read_fence(request)
        cache = self.cache
        document = request_data.query
        query = is_query(document, request_data.operation_name) if document else False
        replicated = context.db.replica is not None
        if replicated and query:
            context.read_from(context.db.for_query(fence))
        if cache is None or not document or not query:
            result = await self._execute(
                request, request_adapter, sub_response, context, root_value, request_data
            )
            if replicated:
                await tell_fence(request, context, result, mutation=not query)
            return result
        started = time.perf_counter()
        key = CacheKey.of(
            document,
            request_data.operation_name,
            request_data.variables,
            context.principal,
        )
        reads = context.reads
        state = request.scope.setdefault("state", {})
        if cache.known(key) or request.headers.get("if-none-match"):
            try:
                generation: int | None = await reads.current_generation()
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                generation = None  # the execution meets the outage too and reports it
            if generation is not None:
                etag = key.etag(generation)
                if request.headers.get("if-none-match") == etag:
                    NOT_MODIFIED.inc()
                    raise NotModified(etag)
                entry = cache.get(key, generation)
                if entry is not None:
                    state["graphql_etag"] = etag
                    if replicated:
                        state["graphql_fence"] = generation
                    observe_cached(entry.operation_name, started)
                    return ExecutionResult(
                        data=entry.data, errors=None, extensions=entry.extensions
                    )
        # Otherwise the generation is read first thing in the execution, once validation
        # and the cost check have passed (service.api.cache.ReadGenerationFirst).
        reads.want_generation = True
        result = await self._execute(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if not result.errors and reads.generation is not None and result.data is not None:
            cache.put(
                key,
                reads.generation,
                result.data,
                result.extensions,
                operation_name(document, request_data.operation_name),
            )
            state["graphql_etag"] = key.etag(reads.generation)
        if replicated:
            await tell_fence(request, context, result, mutation=False)
        return result

    async def _execute(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except StrawberryHTTPException as exc:
            cause = exc.__cause__
            if isinstance(cause, InvalidOperationTypeError):
                kind = cause.operation_type.value
                raise HTTPError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"A {kind} cannot be sent with GET; send it with POST.",
                    {"Allow": "POST"},
                ) from None
            if isinstance(cause, CannotGetOperationTypeError):
                error = GraphQLError(
                    cause.as_http_error_reason(),
                    extensions={"code": "OPERATION_RESOLUTION_FAILURE"},
                )
                return PreExecutionError(data=None, errors=[error])
            if isinstance(cause, MissingQueryError):
                raise invalid_request('the request has no GraphQL document in "query"') from None
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        errors = result.errors or []
        # An error raised before execution began (GraphQL spec 7.1.2): no "data" entry.
        request_error = bool(errors) and result.data is None and all(e.path is None for e in errors)
        rid = current_request_id()
        response: GraphQLHTTPResponse = {} if request_error else {"data": result.data}
        if errors:
            formatted = [_format_error(e, result, request_error, rid) for e in errors]
            response["errors"] = formatted  # type: ignore[typeddict-item]
            count_operation_errors([str(e["extensions"]["code"]) for e in formatted])
        if result.extensions:
            response["extensions"] = result.extensions
        request.scope.setdefault("state", {})["graphql_outcome"] = GraphQLOutcome(
            request_error=request_error, has_errors=bool(errors)
        )
        return response

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            if self.is_websocket_request(request):
                return await super().run(request, context=context, root_value=root_value)
            return await self._run_http(request, context, root_value)
        finally:
            if isinstance(context, Context):
                await context.close()  # the request's read connection back to the pool

    async def _run_http(self, request: Any, context: Any, root_value: Any) -> Any:
        accept = request.headers.get("accept")
        media = negotiate(accept)
        try:
            if media is None and not self.should_render_graphql_ide(
                self.request_adapter_class(request)
            ):
                raise HTTPError(
                    406,
                    "NOT_ACCEPTABLE",
                    f"No media type of Accept: {clip(accept or '', 80)} can be served; "
                    f"accept {GRAPHQL_RESPONSE} or {JSON}.",
                )
            response = await super().run(request, context=context, root_value=root_value)
        except NotModified as exc:
            return Response(status_code=304, headers={"ETag": exc.etag, "Cache-Control": "private"})
        except HTTPError as exc:
            return error_response(exc, accept, current_request_id())
        except StrawberryHTTPException as exc:  # e.g. GraphiQL asked for when it is off
            error = HTTPError(exc.status_code, code_for_status(exc.status_code), exc.reason)
            return error_response(error, accept, current_request_id())
        etag = request.scope.get("state", {}).get("graphql_etag")
        if etag is not None and response.status_code == 200:
            response.headers["etag"] = etag
            response.headers["cache-control"] = "private"
        fence = request.scope.get("state", {}).get("graphql_fence")
        if fence is not None:
            response.headers[FENCE_HEADER] = str(fence)
        outcome = graphql_outcome(request.scope)
        if outcome is not None and media is not None:
            if outcome.request_error:
                response.status_code = REQUEST_ERROR_STATUS[media]
            response.headers["content-type"] = content_type(media).decode()
        return response


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    generated_secret: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """Build the app. Without ``database`` the lifespan opens one from ``settings``.

    Traced when ``tracer_provider`` is given (tests) or the process set up tracing
    from its OTEL_* variables (``service.tracing.configure_tracing``).
    """
    from service import __version__
    from service.tracing import configured_provider

    set_build_info(__version__, settings.build_commit)
    provider = tracer_provider or configured_provider()
    authenticator = Authenticator(settings, generated_secret=generated_secret)
    state: dict[str, Any] = {"db": database}
    if provider is not None:
        from service.tracing import instrument_sql

        instrument_sql(provider)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        embedded = None
        if state["db"] is None:
            url = settings.database_url
            if url is None:
                from service.db.embedded import start_embedded

                embedded = start_embedded(settings.data_dir)
                url = embedded.url
            db = Database(
                make_engine(url, pool_size=settings.pool_size, max_overflow=settings.max_overflow)
            )
            db.replica = replica_of(settings)
            state["db"] = db
            state["owned"] = True
        # The one listening connection of this process (service.db.notifications).
        feed = state["feed"] = ChangeFeed(connector(state["db"].engine))
        feed.start()
        try:
            yield
        finally:
            state["feed"] = None
            await feed.stop()
            if state.get("owned"):
                await state["db"].dispose()
                state["db"] = None
            if embedded is not None:
                embedded.stop()

    async def get_context(request: HTTPConnection) -> Context:
        """The request's context; ``GraphQLHTTPRouter.run`` closes it when the request
        (or the WebSocket) ends. A plain function, not a generator: FastAPI's cleanup
        machinery for generator dependencies cost more than the rest of this."""
        if request.scope["type"] == "websocket":
            # Signed in by connection_init (service.graphql_ws), not by this handshake.
            return Context(
                db=state["db"],
                settings=settings,
                principal=None,
                request_id=uuid.uuid4().hex,
                feed=state.get("feed"),
                on_overflow=graphql_ws.overflow_closer(request),  # type: ignore[arg-type]
            )
        principal = None
        graphiql_page = (
            request.scope["method"] == "GET"
            and "query" not in request.query_params
            and "extensions" not in request.query_params
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
        info = current_request()
        if info is not None and principal is not None:
            info.subject = principal.subject
        return Context(
            db=state["db"],
            settings=settings,
            principal=principal,
            request_id=current_request_id(),
            idempotency=getattr(request.state, "idempotency", None),
            idempotency_attempt=getattr(request.state, "idempotency_attempt", None),
        )

    tracing: list[Any] = []
    if provider is not None:
        from service.tracing import graphql_extension

        tracing.append(graphql_extension(provider))
    schema = build_schema(settings, tracing)
    router = GraphQLHTTPRouter(
        schema,
        context_getter=get_context,
        graphql_ide=None if settings.production else "graphiql",
        multipart_uploads_enabled=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=graphql_ws.INIT_TIMEOUT,
    )
    router.authenticator = authenticator

    if settings.response_cache_bytes > 0:
        router.cache = ResponseCache(settings.response_cache_bytes)
    router.persisted = PersistedQueries()

    app = FastAPI(
        title="quotatree",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.quotatree = state  # the database and the change feed (tests reach them)
    app.include_router(router, prefix="/graphql")

    async def graphql_post(request: Request) -> Response:
        """``POST /graphql``: strawberry's own POST handler, without FastAPI's dependency
        solving (a third of a cached answer's server time). What that handler's
        dependencies gave the view, this gives it: the context with the request, a
        sub-response and background tasks, run after the answer is sent."""
        context = await get_context(request)
        sub_response = Response()
        sub_response.status_code = None  # type: ignore[assignment]  # as FastAPI's
        del sub_response.headers["content-length"]
        tasks = BackgroundTasks()
        context.request, context.response, context.background_tasks = (
            request,
            sub_response,
            tasks,
        )
        request.scope.setdefault("state", {})["graphql_sub_response"] = sub_response
        response: Response = await router.run(request=request, context=context, root_value=None)
        if tasks.tasks:
            response.background = tasks
        return response

    # First, so that it answers POST /graphql before the router's route does; the
    # router still serves GET and the WebSocket.
    app.router.routes.insert(0, Route("/graphql", graphql_post, methods=["POST"]))
    if not settings.production:
        _serve_graphiql(app, router, settings, generated_secret)
    if settings.explorer:
        _serve_explorer(app, settings, generated_secret)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """401 from get_context, 404 and 405 from routing: as GraphQL responses."""
        headers = dict(exc.headers or {})
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"There is nothing at {clip(request.url.path, 80)}; GraphQL is at /graphql."
        elif exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed here; use {' or '.join(allowed)}."
        error = HTTPError(exc.status_code, code_for_status(exc.status_code), message, headers)
        return error_response(error, request.headers.get("accept"), current_request_id())

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
    if provider is not None:
        from service.tracing import instrument_app

        instrument_app(app, provider)
    return app


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route takes at this path (routing names only the first route's)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]


def _format_error(
    error: GraphQLError, result: ExecutionResult, request_error: bool, rid: str
) -> dict[str, Any]:
    """The error as sent: with a code and the request id; unexpected ones masked."""
    if request_error:
        error = _document_too_big(error)
    if is_unexpected(error):  # raised outside a resolver, past the masking extension
        error = RequestIdMaskErrors().anonymise_error(error)
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    if "code" not in extensions:
        if not request_error:
            extensions["code"] = "INTERNAL"
        elif isinstance(error, GraphQLSyntaxError):
            extensions["code"] = "GRAPHQL_PARSE_FAILED"
        elif isinstance(result, PreExecutionError):
            extensions["code"] = "GRAPHQL_VALIDATION_FAILED"
        else:  # graphql-core refused the variables before executing
            extensions["code"] = "BAD_USER_INPUT"
    extensions["requestId"] = rid
    formatted["extensions"] = extensions
    return formatted


def _document_too_big(error: GraphQLError) -> GraphQLError:
    """Name the problem when validating a document exhausted the stack.

    strawberry's depth and alias rules recurse through fragment spreads, so a long
    chain of fragments overflows; the error escapes the validation as a plain
    RecursionError.
    """
    if not isinstance(error.original_error, RecursionError):
        return error
    return GraphQLError(
        "The document nests too deeply to be validated (fragments spread within "
        "fragments); nest it less.",
        extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
    )


_MAX_DIGITS = sys.get_int_max_str_digits()
_TOO_MANY_DIGITS = re.compile(rf"\d{{{_MAX_DIGITS + 1},}}") if _MAX_DIGITS else None


def _dev_token(settings: Settings, generated_secret: str | None, role: Any) -> str | None:
    """A fresh token when the server signs with its one-off development secret."""
    if generated_secret is None:
        return None
    from service.auth import mint_token

    return mint_token(
        generated_secret,
        subject=role.value,
        role=role,
        ttl_hours=settings.token_ttl_hours,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        roles_claim=settings.jwt_roles_claim,
    )


def _serve_explorer(app: FastAPI, settings: Settings, generated_secret: str | None) -> None:
    """The read-only explorer (``service.explorer``): a viewer's development token
    when the server signs with its one-off secret, never in production."""
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    from service import explorer
    from service.auth import Role

    secret = None if settings.production else generated_secret

    @app.get(explorer.PATH, include_in_schema=False)
    async def explorer_page() -> HTMLResponse:
        token = _dev_token(settings, secret, Role.VIEWER)
        return HTMLResponse(explorer.page(token), headers={"Cache-Control": "no-store"})

    app.mount(explorer.ASSETS_PATH, StaticFiles(directory=explorer.ASSETS), name="explorer")


def _serve_graphiql(
    app: FastAPI, router: Any, settings: Settings, generated_secret: str | None
) -> None:
    """GraphiQL from the vendored assets (offline), with a development token when the
    server signs with its one-off secret; see ``service.graphiql``."""
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    from service import graphiql
    from service.auth import Role, mint_token

    async def render(request: Request) -> HTMLResponse:
        token = None
        if generated_secret is not None:
            token = mint_token(
                generated_secret,
                subject="admin",
                role=Role.ADMIN,
                ttl_hours=settings.token_ttl_hours,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                roles_claim=settings.jwt_roles_claim,
            )
        return HTMLResponse(graphiql.page(token))

    router.render_graphql_ide = render
    app.mount(graphiql.ASSETS_PATH, StaticFiles(directory=graphiql.ASSETS), name="graphiql")
