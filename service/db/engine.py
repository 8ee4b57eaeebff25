"""Engines and the session factory every use case opens its transaction from."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson
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

Session = AsyncSession
"""The session type use cases receive (they never build SQL with it: repositories do)."""
SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class MeteredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, measured: how long a checkout waits, how many
    wait, how many time out, and connections the database refuses. The gauges of
    connections in use and overflow are read from the pool at scrape time
    (``service.observability.PoolCollector``)."""

    def _do_get(self) -> Any:
        POOL_WAITING.inc()
        started = time.perf_counter()
        try:
            return super()._do_get()
        except PoolTimeout:
            POOL_TIMEOUTS.inc()
            raise
        except Exception as exc:  # the database refused or could not be reached
            POOL_CONNECT_ERRORS.labels(exc.__class__.__name__).inc()
            setattr(exc, CHECKOUT_FAILURE, True)
            raise
        finally:
            POOL_WAITING.dec()
            POOL_CHECKOUT_WAIT.observe(time.perf_counter() - started)


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, pool_timeout: float = 30.0
) -> AsyncEngine:
    engine = create_async_engine(
        url,
        poolclass=MeteredPool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={"server_settings": {"application_name": "quotatree"}},
    )
    POOLS.watch(engine.sync_engine.pool)
    return engine


class Database:
    """Hands out sessions. A use case writes ``async with db.session() as s, s.begin():``.

    Sessions never commit on their own: the caller's ``session.begin()`` block is
    the one owner of the transaction.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._factory = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Reads of one statement need no transaction of their own: in autocommit mode
        # a session costs no BEGIN and no ROLLBACK round trip.
        self._reads = async_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            autoflush=False,
        )

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._factory()

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for one read statement (DataLoader batches): no transaction.

        Several statements in it each see their own snapshot; use ``session()``
        when they must agree.
        """
        return self._reads()

    async def dispose(self) -> None:
        await self.engine.dispose()


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

    @asynccontextmanager
    async def _locked_session(self) -> AsyncIterator[AsyncSession]:
        async with self._lock, self._bound() as session:
            yield session

    async def dispose(self) -> None:  # the test fixture owns the engine
        return None
