"""Engines and the session factory every use case opens its transaction from."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from service.db.errors import CHECKOUT_FAILURE
from service.observability import (
    POOL_CHECKOUT_WAIT,
    POOL_CONNECT_ERRORS,
    POOL_TIMEOUTS,
    POOL_WAITING,
    POOLS,
)

if TYPE_CHECKING:
    from service.db.replicas import Replica

Session = AsyncSession
"""The session type use cases receive (they never build SQL with it: repositories do)."""
SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]
T = TypeVar("T")
Fetch = Callable[[Any, Any], Awaitable[T]]
"""A read: (connection or session, keys) -> result."""


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class MeteredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, measured: how long a checkout waits, how many
    wait, how many time out, and connections the database refuses. The gauges of
    connections in use and overflow are read from the pool at scrape time
    (``service.observability.PoolCollector``)."""

    counts_connect_errors = True
    """Count refused connections in ``quotatree_db_connect_errors_total`` (the primary's
    pool; a read replica's are its own, ``service.db.replicas``)."""

    def _do_get(self) -> Any:
        POOL_WAITING.inc()
        started = time.perf_counter()
        try:
            return super()._do_get()
        except PoolTimeout:
            POOL_TIMEOUTS.inc()
            raise
        except Exception as exc:  # the database refused or could not be reached
            if self.counts_connect_errors:
                POOL_CONNECT_ERRORS.labels(exc.__class__.__name__).inc()
            setattr(exc, CHECKOUT_FAILURE, True)
            raise
        finally:
            POOL_WAITING.dec()
            POOL_CHECKOUT_WAIT.observe(time.perf_counter() - started)


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    connect_timeout: float | None = None,
    poolclass: type[MeteredPool] = MeteredPool,
) -> AsyncEngine:
    connect_args: dict[str, Any] = {"server_settings": {"application_name": "quotatree"}}
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout  # asyncpg's default is 60 s
    engine = create_async_engine(
        url,
        poolclass=poolclass,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # No ping per checkout (a round trip each): a read that meets a dropped
        # connection is retried once on a fresh one (RequestReads.run).
        pool_pre_ping=False,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args=connect_args,
    )
    POOLS.watch(engine.sync_engine.pool)
    return engine


class Database:
    """Hands out sessions. A use case writes ``async with db.session() as s, s.begin():``.

    Sessions never commit on their own: the caller's ``session.begin()`` block is
    the one owner of the transaction.
    """

    replica: Replica | None = None
    """The read replica queries read from, when one is configured (``service.db.replicas``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._factory = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Reads of one statement need no transaction of their own: in autocommit mode
        # a session costs no BEGIN and no ROLLBACK round trip.
        self._reads_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._reads = async_sessionmaker(
            self._reads_engine,
            expire_on_commit=False,
            autoflush=False,
        )

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._factory()

    def reads(self) -> RequestReads:
        """The reads of one request: one connection, opened at its first read."""
        return RequestReads(self._reads_engine)

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for one read statement (DataLoader batches): no transaction.

        Several statements in it each see their own snapshot; use ``session()``
        when they must agree.
        """
        return self._reads()

    def for_query(self, fence: int | None) -> Database:
        """The database a query reads from: this one, or with a replica a view whose reads
        go to it unless it has not replayed ``fence`` (``service.db.replicas``)."""
        if self.replica is None:
            return self
        from service.db.replicas import QueryDatabase

        return QueryDatabase(self, self.replica, fence)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.dispose()


GENERATION_SQL = text("SELECT value FROM data_generation WHERE id = 1")


_DRIVERS: weakref.WeakKeyDictionary[AsyncConnection, Any] = weakref.WeakKeyDictionary()
"""The asyncpg connection under each live AsyncConnection: finding it costs a greenlet
switch, and a request's reads ask for it once per statement."""


async def driver_connection(target: AsyncConnection | AsyncSession) -> Any:
    """The asyncpg connection under ``target`` (in its transaction, if any): for COPY,
    bulk reads and the hot reads, whose rows need no SQLAlchemy processing."""
    if isinstance(target, AsyncSession):
        target = await target.connection()
    found = _DRIVERS.get(target)
    if found is None or found.is_closed():
        found = (await target.get_raw_connection()).driver_connection
        _DRIVERS[target] = found
    return found


async def read_generation(target: AsyncConnection | AsyncSession) -> int:
    """The data generation: moves with every committed change answers can read."""
    return int((await target.execute(GENERATION_SQL)).scalar_one())


async def _generation(target: Any, _: Any) -> int:
    return await read_generation(target)


class RequestReads:
    """The reads of one request on one pooled connection, in autocommit mode.

    Opened lazily at the first read (a request answered from the cache, or that
    fails validation, takes no connection) and given back by ``close()`` at the
    end of the request: one checkout per request instead of one per DataLoader
    batch. Batches of one request run concurrently, so they take turns on the
    connection (asyncpg runs one statement at a time). Each statement sees its own
    snapshot, as with one session per batch.

    The pool does not ping connections on checkout; a read that finds its
    connection dropped (a restarted or failed-over database) is run once more on
    a fresh one. Reads change nothing, so running one again is safe.
    """

    generation: int | None = None
    """The data generation read first on the connection (see ``want_generation``)."""
    want_generation: bool = False
    """Read the data generation (migration 0008) before any other statement: an answer
    read after it is at least as new as it, so the answer may be cached under it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock()
        self._connection: AsyncConnection | None = None
        self._session: AsyncSession | None = None

    async def current_generation(self) -> int:
        """The data generation, read once per request before anything else is."""
        if self.generation is None:
            self.want_generation = False  # read here, not a second time as the connection opens
            self.generation = await self.run(_generation, None)
        return self.generation

    async def run(self, fetch: Fetch[T], keys: Any, *, orm: bool = False) -> T:
        """``fetch(connection, keys)``; with ``orm``, ``fetch(session, keys)``."""
        async with self._lock:
            for attempt in (1, 2):
                try:
                    return await fetch(await self._target(orm), keys)
                except DBAPIError as exc:
                    if attempt == 2 or not exc.connection_invalidated:
                        raise
                    await self._release()
            raise AssertionError("unreachable")

    async def _open(self) -> AsyncConnection:
        """The request's connection, the data generation read first on it when wanted."""
        connection = await self._engine.connect()
        if self.want_generation and self.generation is None:
            try:
                self.generation = await read_generation(connection)
            except BaseException:
                await connection.close()
                raise
        return connection

    async def _target(self, orm: bool) -> AsyncConnection | AsyncSession:
        if self._connection is None:
            self._connection = await self._open()
        if not orm:
            return self._connection
        if self._session is None:
            self._session = AsyncSession(
                bind=self._connection, expire_on_commit=False, autoflush=False
            )
        return self._session

    async def _release(self) -> None:
        session, connection = self._session, self._connection
        self._session = self._connection = None
        try:
            if session is not None:
                await session.close()
        finally:
            if connection is not None:
                await connection.close()

    async def close(self) -> None:
        async with self._lock:
            await self._release()

    @property
    def idle(self) -> bool:
        """No connection taken since the last ``close`` (nothing read, nothing to give
        back): a subscription keeps such reads and their empty DataLoaders."""
        return self._connection is None and self.generation is None


class BoundReads(RequestReads):
    """A test's reads: on its one connection, taking turns with its sessions."""

    def __init__(self, database: ConnectionBoundDatabase) -> None:
        self._database = database

    async def run(self, fetch: Fetch[T], keys: Any, *, orm: bool = False) -> T:
        db = self._database
        if self.want_generation and self.generation is None:
            async with db._lock:
                self.generation = await read_generation(db._connection)
        if orm:
            async with db._locked_session() as session:
                return await fetch(session, keys)
        async with db._lock:
            return await fetch(db._connection, keys)

    async def close(self) -> None:
        return None

    @property
    def idle(self) -> bool:
        return False  # the test's connection is shared: renew to drop cached rows


class ConnectionBoundDatabase(Database):
    """Every session joins one outer transaction on one connection (tests).

    Each ``session.begin()`` becomes a SAVEPOINT, so a use case that fails rolls
    back only its own work, and the test rolls everything back at the end. The
    lock serialises sessions because one asyncpg connection runs one statement
    at a time, whereas resolvers and DataLoaders run concurrently.
    """

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection) -> None:
        self.engine = engine
        self._connection = connection
        self._lock = asyncio.Lock()
        self._bound = async_sessionmaker(
            bind=connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._locked_session()

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._locked_session()  # must see the test's uncommitted rows

    def reads(self) -> RequestReads:
        return BoundReads(self)

    @asynccontextmanager
    async def _locked_session(self) -> AsyncIterator[AsyncSession]:
        async with self._lock, self._bound() as session:
            yield session

    async def dispose(self) -> None:  # the test fixture owns the engine
        return None
