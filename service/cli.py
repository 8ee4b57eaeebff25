"""The ``quotatree`` command: serve, migrate, export-schema, token, import, bench.

Every failure the user can act on ends with one line on stderr and exit code 1;
bad arguments exit 2 with argparse's usage line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, cast

if TYPE_CHECKING:
    from service.db.embedded import EmbeddedPostgres
    from service.settings import Settings
    from service.shared_secret import SharedSecret

STARTED = time.perf_counter()


class CommandError(Exception):
    """Ends the command with its message as the single line of output."""


# --- stop signals ------------------------------------------------------------------------

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived: unwind so that every ``finally`` runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopSignals:
    """SIGTERM and SIGINT turned into :class:`Interrupted`, and regions they must not cut.

    Python leaves SIGTERM (what Docker, Kubernetes and systemd send) at the
    operating system's default, which ends the process on the spot: no
    ``finally`` runs, so the embedded PostgreSQL and the one-off secret were left
    behind. uvicorn catches both signals while it serves, drains the open
    requests, restores the handlers it found and raises the signal again; with
    this handler installed that second delivery unwinds the ``serve`` command
    through its clean-up instead of killing it.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._shielded = 0
        self._pending: int | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        self._pending = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._shielded:
            if self._pending is None:
                self._pending = signum
            return
        raise Interrupted(signum)

    @contextmanager
    def shielded(self, *, then_stop: bool = True) -> Iterator[None]:
        """Hold a stop until the block is done (starting PostgreSQL, cleaning up).

        With ``then_stop`` a signal that arrived meanwhile is raised when the
        block completes; without, it is dropped (the process is ending anyway).
        """
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
            if not then_stop:
                self._pending = None
        if then_stop and not self._shielded and self._pending is not None:
            signum, self._pending = self._pending, None
            raise Interrupted(signum)


STOP = StopSignals()


def _fail(message: str) -> NoReturn:
    print(f"quotatree: error: {message}", file=sys.stderr)
    raise SystemExit(1)


SECRET_SETTINGS = frozenset(
    {"jwt_secret", "jwt_public_key", "database_url", "database_password", "read_database_url"}
)
"""Settings whose value is never repeated in a message (credentials)."""


def _settings(args: argparse.Namespace) -> Settings:
    from pydantic import ValidationError

    from service.settings import Settings

    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise CommandError(_configuration_error(exc, Settings)) from None


def _configuration_error(exc: Any, settings_class: Any) -> str:
    """One line for the first invalid setting: which variable, what is wrong, the fix."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    name = f"QUOTATREE_{field.upper()}" if field else "the configuration"
    shown = name
    if field and field not in SECRET_SETTINGS and isinstance(first.get("input"), str):
        shown = f"{name}={first['input']!r}"
    hint = "fix it in the environment"
    info = settings_class.model_fields.get(field)
    if info is not None and not info.is_required():
        default = info.get_default(call_default_factory=True)
        if default is not None and field not in SECRET_SETTINGS:
            hint = f"fix or unset it (default {default})"
        else:
            hint = "fix or unset it"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"bad configuration: {shown}: {message}; {hint}{more}"


# --- database --------------------------------------------------------------------------


def _database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """(url, embedded handle or None) for the configured or embedded database."""
    if settings.database_url:
        return settings.database_url, None
    from service.db.embedded import EmbeddedDatabaseError, start_embedded

    try:
        embedded = start_embedded(settings.data_dir)
    except EmbeddedDatabaseError as exc:
        raise CommandError(str(exc)) from None
    return embedded.url, embedded


def _describe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return "the configured database"
    where = parsed.query.get("host") or f"{parsed.host}:{parsed.port or 5432}"
    return f"{where}/{parsed.database}"


# What to do about the errors PostgreSQL answers a connection with (asyncpg's classes).
_REFUSALS = {
    "InvalidCatalogNameError": "create it, or fix the database name in QUOTATREE_DATABASE_URL",
    "InvalidPasswordError": "fix the user or password in QUOTATREE_DATABASE_URL",
    "InvalidAuthorizationSpecificationError": (
        "fix the user in QUOTATREE_DATABASE_URL (or the server's pg_hba.conf)"
    ),
    "InsufficientPrivilegeError": "grant the role what it needs, or use another role",
    "TooManyConnectionsError": "lower QUOTATREE_POOL_SIZE or raise max_connections",
    "CannotConnectNowError": "the server is starting or stopping; try again",
}


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: SQLAlchemy's ``orig``, causes and contexts."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def _db_errors(url: str, action: Callable[[], object]) -> object:
    """Run ``action``; turn a database that cannot be reached or used into one line."""
    import sqlalchemy.exc

    from service.db.migrate import MigrationsNotFoundError

    try:
        return action()
    except MigrationsNotFoundError as exc:
        raise CommandError(str(exc)) from None
    except Exception as exc:
        where = _describe(url)
        for cause in _causes(exc):
            name = cause.__class__.__name__
            if name == "ClientConfigurationError":  # asyncpg's check of the URL's options
                raise CommandError(
                    f"QUOTATREE_DATABASE_URL has a bad option: {_first_line(cause)}"
                ) from None
            if cause.__class__.__module__.startswith("asyncpg"):
                hint = _REFUSALS.get(name)
                raise CommandError(
                    f"the database at {where} refused: {_first_line(cause)}"
                    + (f"; {hint}" if hint else "")
                ) from None
            if isinstance(cause, TimeoutError):
                raise CommandError(
                    f"cannot reach the database at {where}: timed out; check the host and "
                    "port in QUOTATREE_DATABASE_URL and the network between"
                ) from None
            if isinstance(cause, OSError) and "SSL" in str(cause):
                raise CommandError(
                    f"cannot reach the database at {where}: {_first_line(cause)}; drop ssl= "
                    "from QUOTATREE_DATABASE_URL or enable TLS on the server"
                ) from None
            if isinstance(cause, OSError):
                raise CommandError(
                    f"cannot reach the database at {where}: {_first_line(cause)}; check that "
                    "PostgreSQL runs there and the host and port in QUOTATREE_DATABASE_URL"
                ) from None
            if isinstance(cause, TypeError) and "unexpected keyword argument" in str(cause):
                option = str(cause).rpartition("argument")[2].strip(" '\"")
                raise CommandError(
                    f"QUOTATREE_DATABASE_URL has the option {option!r}, which asyncpg does "
                    "not take; remove it (TLS: ?ssl=require)"
                ) from None
            if isinstance(cause, sqlalchemy.exc.ArgumentError):
                raise CommandError(
                    "QUOTATREE_DATABASE_URL is not a database URL; expected "
                    "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
                ) from None
        raise


MIGRATION_LOCK = 0x71756F7461  # "quota": one PostgreSQL advisory lock for migrations


def _upgrade(url: str, revision: str = "head") -> str | None:
    """Upgrade under an advisory lock, so that pods migrating at once take turns.

    To ``head``, a database already at a revision this code does not know (a newer
    release migrated it: a rollback) is left alone; returns that sentence.
    """
    from alembic import command
    from sqlalchemy import text

    from service.db.engine import make_engine
    from service.db.migrate import alembic_config, current_revisions, known_revisions

    async def locked() -> str | None:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
                try:
                    newer = (await current_revisions(conn)) - known_revisions()
                    if revision == "head" and newer:
                        return (
                            f"the database is at revision {', '.join(sorted(newer))}, newer "
                            "than this release knows; left as it is (migrations are backward "
                            "compatible, so this release runs on it)"
                        )
                    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
                    return None
                finally:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK}
                    )
        finally:
            await engine.dispose()

    return cast("str | None", _db_errors(url, lambda: asyncio.run(locked())))


def _pending(url: str) -> str | None:
    from service.db.engine import make_engine
    from service.db.migrate import pending_migrations

    async def check() -> str | None:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            return await pending_migrations(engine)
        finally:
            await engine.dispose()

    return _db_errors(url, lambda: asyncio.run(check()))  # type: ignore[return-value]


# --- commands ----------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT: drain the open requests, then clean up and exit 0."""
    settings = _settings(args)
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    if settings.production and not settings.database_url:
        raise CommandError(
            "QUOTATREE_ENV=production needs QUOTATREE_DATABASE_URL; the embedded database "
            "is for development"
        )
    if settings.production and not settings.jwt_configured:
        from service.auth import PRODUCTION_NEEDS_A_KEY

        raise CommandError(PRODUCTION_NEEDS_A_KEY)
    metrics_port = settings.metrics_port
    if metrics_port == port:
        raise CommandError(
            f"QUOTATREE_METRICS_PORT is the API's port {port}: metrics need a port of their "
            "own; pick another"
        )
    _check_port_free(host, port)
    if metrics_port is not None:
        _check_port_free(host, metrics_port, "QUOTATREE_METRICS_PORT")

    from service.observability import configure_logging
    from service.tracing import TracingConfigError, configure_tracing, shutdown_tracing

    configure_logging(settings.log_level)
    try:
        configure_tracing()
    except TracingConfigError as exc:
        raise CommandError(str(exc)) from None
    embedded: EmbeddedPostgres | None = None
    secret: SharedSecret | None = None
    metrics: Any = None
    schema_problem: str | None = None
    try:
        # A stop signal during start-up waits for these steps to finish, so that
        # what they started is known to the clean-up below.
        with STOP.shielded():
            url, embedded = _database_url(settings)
        if embedded is not None:
            _upgrade(url)
        else:
            # An older schema (or none yet): serve, unready, until the migration runs.
            # /readyz checks again at every probe and says why; Kubernetes keeps the
            # pod out of the Service instead of restarting it.
            schema_problem = _pending(url)

        generated = None
        if not settings.jwt_configured:
            from service.shared_secret import SharedSecret

            shared = SharedSecret(settings.data_dir)
            with STOP.shielded():
                try:
                    generated = shared.join()
                    secret = shared
                except OSError as exc:
                    raise CommandError(
                        f"cannot keep the one-off secret in {shared.folder}: {exc.strerror}; "
                        "choose another folder with --data-dir or QUOTATREE_DATA_DIR, or set "
                        "QUOTATREE_JWT_SECRET"
                    ) from None

        import uvicorn

        from service.app import create_app

        runtime = settings.model_copy(update={"database_url": url})
        app = create_app(runtime, generated_secret=generated)
        if metrics_port is not None:
            metrics = _serve_metrics(host, metrics_port)
        _banner(settings, host, port, generated, embedded is not None, schema_problem)
        # What start-up built (modules, the schema, the app) lives as long as the
        # process: keep it out of the collector's full passes, which otherwise
        # walk it again and again and stall requests (bench http's bulk reads).
        gc.collect()
        gc.freeze()
        # uvicorn handles SIGTERM and SIGINT itself while it runs: it stops
        # accepting, lets the requests in flight finish (at most
        # QUOTATREE_SHUTDOWN_TIMEOUT seconds), then raises the signal again, which
        # STOP turns into Interrupted.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_timeout,
            # The client address of access lines: X-Forwarded-For from these only.
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            # GraphQL subscriptions (service.graphql_ws); on shutdown uvicorn closes
            # open sockets with 1012 (service restart) and clients reconnect.
            ws="websockets-sansio",
        )
    except Interrupted:
        pass  # stopped on request: a normal end
    finally:
        with STOP.shielded(then_stop=False):
            shutdown_tracing()
            if metrics is not None:
                metrics.shutdown()
            if secret is not None:
                secret.leave()
            if embedded is not None:
                embedded.stop()
    return 0


def _serve_metrics(host: str, port: int) -> Any:
    """Prometheus' own HTTP server for ``/metrics``, in a thread, on its own port.

    Kept off the API's port so that whatever publishes the API (an Ingress, a load
    balancer) never publishes the metrics; Prometheus scrapes the pods directly.
    """
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {host}:{port} for metrics: {exc.strerror}; pick another "
            "with QUOTATREE_METRICS_PORT"
        ) from None
    return server


def _check_port_free(host: str, port: int, setting: str = "--port") -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CommandError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port}: {exc.strerror}; pick another with {setting}"
            ) from None


def _banner(
    settings: Settings,
    host: str,
    port: int,
    secret: str | None,
    embedded: bool,
    schema_problem: str | None = None,
) -> None:
    """What started where: a log record (JSON) in production, text on stderr elsewhere."""
    from service import __version__

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/graphql"
    database = (
        f"embedded PostgreSQL in {settings.data_dir}"
        if embedded
        else _describe(settings.database_url or "")
    )
    if settings.read_database_url:
        database += f", queries read from the replica {_describe(settings.read_database_url)}"
    metrics = (
        f"http://{shown}:{settings.metrics_port}/metrics"
        if settings.metrics_port is not None
        else None
    )
    unready = f"unready until the schema is migrated: {schema_problem}" if schema_problem else None
    if settings.production:
        import logging

        log = logging.getLogger("quotatree")
        log.info(
            "quotatree %s is up in %.2f s: %s",
            __version__,
            time.perf_counter() - STARTED,
            url,
            extra={
                "version": __version__,
                "url": url,
                "database": database,
                "metrics": metrics,
                "startup_seconds": round(time.perf_counter() - STARTED, 3),
            },
        )
        if unready:
            log.warning(unready, extra={"reason": schema_problem})
        return
    lines = [
        "",
        f"  quotatree {__version__} is up in {time.perf_counter() - STARTED:.2f} s: {url}",
        f"  database: {database}",
    ]
    if unready:
        lines.append(f"  {unready}")
    if metrics is not None:
        lines.append(f"  metrics: {metrics}")
    if secret is not None and not settings.production:  # never a credential in production logs
        from service.auth import Role, mint_token

        token = mint_token(
            secret,
            subject="admin",
            role=Role.ADMIN,
            ttl_hours=settings.token_ttl_hours,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            roles_claim=settings.jwt_roles_claim,
        )
        lines += [
            "  No JWT key is configured, so the servers on this data folder share a one-off",
            f"  secret. An admin token valid {settings.token_ttl_hours:g} h (until the last of "
            "them stops):",
            "",
            f"      export QUOTATREE_TOKEN={token}",
            "",
            "  Try it (paste both lines as they are):",
            "",
            f'      curl -s {url} -H "Authorization: Bearer $QUOTATREE_TOKEN" \\',
            "           -H 'Content-Type: application/json' "
            '-d \'{"query": "{ plans { totalCount } }"}\'',
            "",
            "  More tokens: .venv/bin/quotatree token --role viewer|planner|admin",
            f"  GraphiQL: {url} (opens with this kind of token in its headers, offline)",
        ]
    elif not settings.production:
        lines.append(f"  GraphiQL: {url} (put your token in its Authorization header)")
    print("\n".join(lines) + "\n", file=sys.stderr, flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    embedded: EmbeddedPostgres | None = None
    try:
        with STOP.shielded():
            url, embedded = _database_url(settings)
        if args.action == "upgrade":
            newer = _upgrade(url, args.revision or "head")
            if newer is not None:
                print(f"database at {_describe(url)}: {newer}")
            else:
                print(f"database at {_describe(url)} upgraded to {args.revision or 'head'}")
        elif args.action == "downgrade":
            if not args.revision:
                raise CommandError(
                    "downgrade needs a target revision, e.g. `quotatree migrate downgrade -1` "
                    "or `... downgrade base`"
                )
            from alembic import command

            from service.db.migrate import alembic_config

            _db_errors(url, lambda: command.downgrade(alembic_config(url), args.revision))
            print(f"database at {_describe(url)} downgraded to {args.revision}")
        else:
            problem = _pending(url)
            from service.db.engine import make_engine
            from service.db.migrate import current_revisions

            async def current() -> set[str]:
                engine = make_engine(url, pool_size=1, max_overflow=0)
                try:
                    async with engine.connect() as conn:
                        return await current_revisions(conn)
                finally:
                    await engine.dispose()

            revs = _db_errors(url, lambda: asyncio.run(current()))
            shown = ", ".join(sorted(revs)) or "none"  # type: ignore[call-overload]
            print(f"{shown} ({'at head' if problem is None else problem})")
        return 0
    finally:
        if embedded is not None:
            with STOP.shielded(then_stop=False):
                embedded.stop()


def cmd_export_schema(args: argparse.Namespace) -> int:
    from service.api.schema import build_schema
    from service.settings import Settings

    sdl = build_schema(Settings(database_url=None)).as_str() + "\n"
    if args.output:
        Path(args.output).write_text(sdl)
    else:
        sys.stdout.write(sdl)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from service.auth import Role, mint_token

    settings = _settings(args)
    if settings.jwt_public_key or settings.jwks_url:
        raise CommandError(
            "tokens for RS256 keys come from your identity provider; this command signs "
            "HS256 tokens with QUOTATREE_JWT_SECRET"
        )
    secret = settings.jwt_secret
    if not secret:
        from service.shared_secret import SharedSecret

        shared = SharedSecret(settings.data_dir)
        try:
            secret = shared.current()
        except OSError as exc:
            raise CommandError(
                f"cannot read the one-off secret in {shared.folder}: {exc.strerror}"
            ) from None
        if secret is None:
            raise CommandError(
                "no key to sign with: set QUOTATREE_JWT_SECRET, or start `quotatree serve` "
                f"first (it keeps its one-off secret in {shared.file} while it runs)"
            )
    ttl = args.ttl_hours if args.ttl_hours is not None else settings.token_ttl_hours
    if ttl <= 0:
        raise CommandError("--ttl-hours must be above zero")
    print(
        mint_token(
            secret,
            subject=args.subject,
            role=Role(args.role),
            ttl_hours=ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            roles_claim=settings.jwt_roles_claim,
        )
    )
    return 0


def cmd_import_members(args: argparse.Namespace) -> int:
    """Bulk-load members from CSV or XLSX, all or nothing, with a progress bar."""
    import getpass

    from tqdm import tqdm

    from service.auth import Principal, Role
    from service.domain.errors import DomainError
    from service.domain.hierarchy import BulkLoadError
    from service.files import MemberFileError, read_member_file
    from service.plans.dimensions import LoadResult, MembersLoad, load_members
    from service.plans.uow import Change

    started = time.perf_counter()
    settings = _settings(args)  # a configuration mistake is reported before any work
    try:
        rows = read_member_file(Path(args.file))
    except MemberFileError as exc:
        raise CommandError(str(exc)) from None
    except BulkLoadError as exc:
        _print_row_errors(args.file, exc)
        return 1

    embedded: EmbeddedPostgres | None = None
    try:
        with STOP.shielded():
            url, embedded = _database_url(settings)
        problem = _pending(url)
        if problem is not None:
            raise CommandError(problem)
        print(f"read {len(rows)} rows from {args.file}", file=sys.stderr)
        principal = Principal(subject=f"cli:{getpass.getuser()}", roles=frozenset({Role.ADMIN}))

        async def load() -> LoadResult:
            from service.db import repositories as repo
            from service.db.engine import Database, make_engine

            db = Database(make_engine(url, pool_size=1, max_overflow=0))
            bar = tqdm(total=len(rows), unit="row", file=sys.stderr, disable=None, leave=False)

            def progress(phase: str, done: int, total: int) -> None:
                bar.set_description(phase)
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                async with db.session() as session:
                    dimension = await repo.dimension_by_name(session, args.dimension)
                if dimension is None:
                    raise CommandError(
                        f"no dimension named {args.dimension!r}; create it first "
                        "(dimensionCreate) or check the spelling"
                    )
                return await load_members(
                    db, Change(principal), MembersLoad(dimension.id, rows, progress)
                )
            finally:
                bar.close()
                await db.dispose()

        try:
            result = cast(LoadResult, _db_errors(url, lambda: asyncio.run(load())))
        except BulkLoadError as exc:
            _print_row_errors(args.file, exc)
            return 1
        except DomainError as exc:
            raise CommandError(exc.message) from None
        print(
            f"{args.dimension}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged in {time.perf_counter() - started:.2f} s"
        )
        return 0
    finally:
        if embedded is not None:
            with STOP.shielded(then_stop=False):
                embedded.stop()


FACT_KINDS = {
    "actuals": "SALES",
    "opportunities": "OPPORTUNITY",
    "market-sizes": "MARKET_SIZE",
}


def _plan_id(value: str) -> int:
    """A plan's global id (from the API) or its number."""
    if value.isdigit():
        return int(value)
    from service.api import ids
    from service.domain.errors import DomainError

    try:
        return ids.decode(value, "Plan", "--plan")
    except DomainError:
        raise CommandError(f"--plan {value!r} is neither a plan's id nor its number") from None


def cmd_import_facts(args: argparse.Namespace) -> int:
    """Import sales, opportunities or market sizes from CSV or XLSX: streamed, all or
    nothing, idempotent (the default batch key is the file's digest)."""
    import getpass

    from tqdm import tqdm

    from service.auth import Principal, Role
    from service.domain.errors import DomainError
    from service.domain.facts import FactKind, RowsRejected
    from service.fact_files import FactFileError, digest, file_chunks, open_rows
    from service.plans.imports import USE_CASES, FactsImport, ImportResult, content_hash
    from service.plans.uow import Change

    started = time.perf_counter()
    settings = _settings(args)
    kind = FactKind(FACT_KINDS[args.what])
    path = Path(args.file)
    plan_id = _plan_id(args.plan)
    try:
        summary = digest(path)
        header, rows = open_rows(path)
    except FactFileError as exc:
        raise CommandError(str(exc)) from None
    key = args.batch_key or f"file:{summary.sha256}"
    request_hash = content_hash(kind, plan_id, file_chunks(path))

    embedded: EmbeddedPostgres | None = None
    try:
        with STOP.shielded():
            url, embedded = _database_url(settings)
        problem = _pending(url)
        if problem is not None:
            raise CommandError(problem)
        principal = Principal(subject=f"cli:{getpass.getuser()}", roles=frozenset({Role.ADMIN}))

        async def load() -> ImportResult:
            from service.db.engine import Database, make_engine

            db = Database(make_engine(url, pool_size=1, max_overflow=0))
            bar = tqdm(
                total=max(summary.lines - 1, 0) or None,
                unit=" rows",
                unit_scale=True,
                file=sys.stderr,
                disable=None,
                leave=False,
            )

            def progress(phase: str, done: int) -> None:
                bar.set_description(phase)
                bar.n = done
                bar.refresh()

            try:
                return await USE_CASES[kind](
                    db,
                    Change(principal),
                    FactsImport(
                        kind=kind,
                        plan_id=plan_id,
                        batch_key=key,
                        request_hash=request_hash,
                        rows=rows,
                        header=header,
                        source=path.name,
                        progress=progress,
                    ),
                )
            finally:
                bar.close()
                await db.dispose()

        try:
            result = cast(ImportResult, _db_errors(url, lambda: asyncio.run(load())))
        except FactFileError as exc:
            raise CommandError(f"{exc}; nothing was written") from None
        except RowsRejected as exc:
            _print_fact_errors(args.file, exc)
            return 1
        except DomainError as exc:
            raise CommandError(exc.message) from None
        batch = result.batch
        if result.replayed:
            print(
                f"{args.file}: imported before as batch {batch.id} ({batch.key}); "
                f"nothing changed ({batch.row_count} rows)"
            )
        else:
            elapsed = time.perf_counter() - started
            print(
                f"{args.file}: batch {batch.id}: {result.stored} rows stored, "
                f"{result.skipped} stored before (identical) in {elapsed:.2f} s "
                f"({batch.row_count / max(elapsed, 1e-9):,.0f} rows/s)"
            )
        return 0
    finally:
        if embedded is not None:
            with STOP.shielded(then_stop=False):
                embedded.stop()


def _print_fact_errors(file: str, exc: Any) -> None:
    for error in exc.errors[:200]:
        where = "header" if error.row == 0 else f"row {error.row}"
        print(f"{file}: {where}, {error.column}: {error.message} [{error.code}]", file=sys.stderr)
    if exc.total > 200:
        print(f"{file}: ... and {exc.total - 200} more", file=sys.stderr)
    print(
        f"quotatree: error: {exc.total} bad value(s); nothing was written "
        "(rows are numbered from 1 under the header)",
        file=sys.stderr,
    )


def _print_row_errors(file: str, exc: Exception) -> None:
    errors = getattr(exc, "errors", [])
    for error in errors[:100]:
        print(
            f"{file}: row {error.row}, {error.column}: {error.message} [{error.code}]",
            file=sys.stderr,
        )
    if len(errors) > 100:
        print(f"{file}: ... and {len(errors) - 100} more bad rows", file=sys.stderr)
    print(f"quotatree: error: {len(errors)} bad row(s); nothing was written", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the demo company and build next year's plan on it, then print a summary."""
    from service.auth import Principal, Role
    from service.domain.errors import DomainError
    from service.plans.demo import DemoLoaded, load_demo

    started = time.perf_counter()
    settings = _settings(args)
    embedded: EmbeddedPostgres | None = None
    try:
        with STOP.shielded():
            url, embedded = _database_url(settings)
        if embedded is not None:
            _upgrade(url)
        problem = _pending(url)
        if problem is not None:
            raise CommandError(problem)
        principal = Principal(subject="demo", roles=frozenset({Role.ADMIN}))

        def step(text: str) -> None:
            print(f"  [{time.perf_counter() - started:5.1f} s] {text}", file=sys.stderr, flush=True)

        async def load() -> tuple[DemoLoaded, list[str]]:
            from service.db.engine import Database, make_engine
            from service.plans.demo_summary import summary

            db = Database(make_engine(url, pool_size=2, max_overflow=0))
            try:
                loaded = await load_demo(db, principal, args.seed, step)
                return loaded, await summary(db, loaded)
            finally:
                await db.dispose()

        print(f"quotatree demo (seed {args.seed}) into {_describe(url)}", file=sys.stderr)
        try:
            loaded, lines = cast(
                "tuple[DemoLoaded, list[str]]", _db_errors(url, lambda: asyncio.run(load()))
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        elapsed = time.perf_counter() - started
        print("\n".join(lines))
        print(
            f"\nDemo loaded in {elapsed:.1f} s: {loaded.facts:,} facts, {loaded.nodes:,} nodes "
            "in version 1, and a re-plan draft."
        )
        print(_next_steps(settings, loaded))
        return 0
    finally:
        if embedded is not None:
            with STOP.shielded(then_stop=False):
                embedded.stop()


def _next_steps(settings: Settings, loaded: Any) -> str:
    from service.api import ids

    plan = ids.encode("Plan", loaded.plan_id)
    url = f"http://{settings.host}:{settings.port}/graphql"
    data_dir = "" if settings.database_url else f" --data-dir {settings.data_dir}"
    return "\n".join(
        [
            "",
            "Next:",
            f"  .venv/bin/quotatree serve{data_dir}     # then open {url}",
            f"  plan id: {plan}   (quotatree export plan --version "
            f"{loaded.version_id} --format xlsx)",
        ]
    )


def _version_id(value: str) -> int:
    """A version's global id (from the API) or its database id."""
    if value.isdigit():
        return int(value)
    from service.api import ids
    from service.domain.errors import DomainError

    try:
        return ids.decode(value, "PlanVersion", "--version")
    except DomainError:
        raise CommandError(
            f"--version {value!r} is neither a version's id nor its number"
        ) from None


def _with_database(args: argparse.Namespace, work: Callable[[Any], Any]) -> Any:
    """Run ``work(db)`` (a coroutine function) on the configured database."""
    settings = _settings(args)
    embedded: EmbeddedPostgres | None = None
    try:
        with STOP.shielded():
            url, embedded = _database_url(settings)
        problem = _pending(url)
        if problem is not None:
            raise CommandError(problem)

        async def run() -> Any:
            from service.db.engine import Database, make_engine

            db = Database(make_engine(url, pool_size=2, max_overflow=0))
            try:
                return await work(db)
            finally:
                await db.dispose()

        from service.domain.errors import DomainError

        try:
            return _db_errors(url, lambda: asyncio.run(run()))
        except DomainError as exc:
            raise CommandError(exc.message) from None
    finally:
        if embedded is not None:
            with STOP.shielded(then_stop=False):
                embedded.stop()


def cmd_export_plan(args: argparse.Namespace) -> int:
    """A version as XLSX (a sheet per level path, a flat sheet of every node) or CSV."""
    from datetime import date

    from service.plan_files import write_csv, write_xlsx
    from service.plans.export import PlanTable, plan_table

    version_id = _version_id(args.version)
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    except ValueError:
        raise CommandError(f"--as-of {args.as_of!r} is not a date (YYYY-MM-DD)") from None
    table = cast(PlanTable, _with_database(args, lambda db: plan_table(db, version_id, as_of)))
    path = Path(args.output or f"plan-version-{version_id}.{args.format}")
    try:
        (write_xlsx if args.format == "xlsx" else write_csv)(table, path)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
    print(
        f"{path}: {table.plan_name}, version {table.version_number} ({table.version_state}), "
        f"{len(table.rows)} nodes, attainment as of {as_of.isoformat()}"
    )
    return 0


def cmd_import_plan(args: argparse.Namespace) -> int:
    """Edited leaf targets of an exported flat sheet into a new draft of the version."""
    import getpass

    from service.auth import Principal, Role
    from service.plan_files import PlanFileError, read_targets
    from service.plans.export import ImportReport, import_targets

    version_id = _version_id(args.version)
    path = Path(args.file)
    try:
        edits = read_targets(path)
    except PlanFileError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    principal = Principal(subject=f"cli:{getpass.getuser()}", roles=frozenset({Role.ADMIN}))
    report = cast(
        ImportReport,
        _with_database(
            args, lambda db: import_targets(db, principal, version_id, edits, path.name)
        ),
    )
    for line, key, before, after in report.changed:
        print(f"{path.name}: row {line}, key {key}: target {before} -> {after}")
    for line, refused_key, reason in report.refused:
        print(f"{path.name}: row {line}, key {refused_key}: refused: {reason}", file=sys.stderr)
    if report.draft_id is None:
        print(f"{path.name}: no target differs from version {version_id}'s; no draft made")
    else:
        from service.api import ids

        print(
            f"draft version {report.draft_number} ({ids.encode('PlanVersion', report.draft_id)}): "
            f"{len(report.changed)} target(s) changed, {report.moved} other node(s) moved "
            f"with them, {len(report.refused)} refused"
        )
    return 1 if report.refused else 0


BENCHMARKS = (
    "allocation",
    "versions",
    "http",
    "imports",
    "attainment",
    "diagnostics",
    "history",
    "subscriptions",
)


def _checkout() -> Path:
    """The source checkout this package runs from (an editable install), if it is one."""
    return Path(__file__).resolve().parents[1]


def cmd_bench(args: argparse.Namespace) -> int:
    """Run a benchmark of ``tests/benchmarks``: a development tool, not shipped.

    The benchmarks use the test suite's helpers and the dev extra (httpx), so they
    live beside the tests; from a checkout this command runs them, elsewhere (the
    image, a wheel) it says where to get them.
    """
    import importlib

    root = _checkout()
    if not (root / "tests" / "benchmarks" / f"{args.suite}.py").is_file():
        raise CommandError(
            "the benchmarks are not part of the installed package; from a checkout of the "
            "repository with the dev extra (pip install -e '.[dev]'), run "
            f"`python -m tests.benchmarks.{args.suite}`"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(f"tests.benchmarks.{args.suite}")
    except ModuleNotFoundError as exc:
        raise CommandError(
            f"the benchmarks need the dev extra ({exc.name} is missing): pip install -e '.[dev]'"
        ) from None
    return int(module.main(args.rest))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quotatree", description="Versioned sales target trees over GraphQL."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir",
            help="folder of the embedded PostgreSQL (default: QUOTATREE_DATA_DIR or the "
            "user data directory); ignored with QUOTATREE_DATABASE_URL",
        )

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    data_dir(serve)
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply or inspect database migrations")
    migrate.add_argument("action", choices=["upgrade", "downgrade", "current"])
    migrate.add_argument("revision", nargs="?", help="target revision (default: head)")
    data_dir(migrate)
    migrate.set_defaults(func=cmd_migrate)

    export = sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", "-o", help="write to this file instead of stdout")
    export.set_defaults(func=cmd_export_schema)

    token = sub.add_parser("token", help="print a bearer token (HS256)")
    token.add_argument("--role", required=True, choices=["viewer", "planner", "admin"])
    token.add_argument("--subject", default="local-user", help="the token's sub claim")
    token.add_argument("--ttl-hours", type=float, help="lifetime (default 24)")
    data_dir(token)
    token.set_defaults(func=cmd_token)

    importer = sub.add_parser("import", help="bulk-load data from files")
    what = importer.add_subparsers(dest="what", required=True, metavar="WHAT")
    members = what.add_parser(
        "members",
        help="members of a dimension from CSV or XLSX (code, name, parent code, attributes)",
    )
    members.add_argument("--dimension", required=True, help="the dimension's name")
    members.add_argument("file", help="a .csv or .xlsx file with a header row")
    data_dir(members)
    members.set_defaults(func=cmd_import_members)
    plan_in = what.add_parser(
        "plan", help="edited leaf targets of an exported plan into a new draft of the version"
    )
    plan_in.add_argument("file", help="a .xlsx or .csv written by `quotatree export plan`")
    plan_in.add_argument("--version", required=True, help="the version it was exported from")
    data_dir(plan_in)
    plan_in.set_defaults(func=cmd_import_plan)
    for name, text in (
        ("actuals", "sales (date, amount, external id, one column per dimension ...)"),
        ("opportunities", "opportunity outcomes (external id, date, outcome, amount ...)"),
        ("market-sizes", "market sizes (dimension, member, period, amount)"),
    ):
        facts = what.add_parser(name, help=f"{text} from CSV or XLSX; see the README")
        facts.add_argument("file", help="a .csv or .xlsx file with a header row")
        facts.add_argument(
            "--plan", required=True, help="the plan (its id, or number) the rows are checked by"
        )
        facts.add_argument(
            "--batch-key",
            help="the batch's key (default: a digest of the file, so importing the same "
            "file again changes nothing)",
        )
        data_dir(facts)
        facts.set_defaults(func=cmd_import_facts)

    exporter = sub.add_parser("export", help="write data to files")
    out = exporter.add_subparsers(dest="what", required=True, metavar="WHAT")
    plan_out = out.add_parser("plan", help="a version as XLSX or CSV (targets, owners, attainment)")
    plan_out.add_argument("--version", required=True, help="the version's id (or database id)")
    plan_out.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    plan_out.add_argument("--output", "-o", help="file to write (default plan-version-ID.FORMAT)")
    plan_out.add_argument("--as-of", help="attainment as of this date (default today)")
    data_dir(plan_out)
    plan_out.set_defaults(func=cmd_export_plan)

    demo = sub.add_parser(
        "demo", help="load a demo company and build next year's plan on it (see the README)"
    )
    demo.add_argument("--seed", type=int, default=2027, help="the company's seed (default 2027)")
    data_dir(demo)
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser(
        "bench",
        help="run a benchmark and print its figures (from a checkout with the dev extra; "
        "same as python -m tests.benchmarks.SUITE)",
    )
    bench.add_argument("suite", choices=BENCHMARKS)
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    STOP.install()
    try:
        return int(args.func(args))
    except CommandError as exc:
        _fail(str(exc))
    except Interrupted as exc:  # a command other than serve was stopped half-way
        return 128 + exc.signum
    except KeyboardInterrupt:
        return 130
    finally:
        STOP.restore()


if __name__ == "__main__":
    raise SystemExit(main())
