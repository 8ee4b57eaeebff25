"""Read replicas: queries read from a streaming replica, mutations write to the primary.

The fence is the data generation (migration 0008): a counter that triggers move in
every transaction that changes anything an answer reads, so its value on a server
says how far that server's data goes. A mutation's response carries the primary's
generation after its commit (``X-Quotatree-Fence``, ``extensions.fence``); the
client sends the highest fence it has seen with its next reads. A query then reads
from the replica only if the replica has replayed at least that generation (one
statement, the one the response cache reads anyway); otherwise from the primary.
So a client never reads older data than its own last write, and, since every
response tells the generation it read, never data older than a generation it was told
(an answer is at least as new as its generation, and may hold newer changes).

A replica that cannot be reached is left alone for a backoff (1 s, doubling to
30 s) during which queries read from the primary; then one request tries it again
(the others keep to the primary until that one has its answer), so a dead replica
costs one connect timeout per backoff, not one per request. Each change of state
is logged (``quotatree.replica``) and shown by ``quotatree_replica_up``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from service.db.engine import Database, MeteredPool, RequestReads, make_engine

log = logging.getLogger("quotatree.replica")

REPLICA_READS = Counter(
    "quotatree_replica_reads_total",
    "Query requests that read from the read replica.",
)
REPLICA_FALLBACKS = Counter(
    "quotatree_replica_fallbacks_total",
    "Query requests that read from the primary although a replica is configured, by "
    "reason: fence (the replica had not replayed the client's fence yet) or unavailable "
    "(it could not be reached, or is left alone for its backoff).",
    ["reason"],
)
REPLICA_UP = Gauge(
    "quotatree_replica_up",
    "1 while the read replica (host:port) is reachable, 0 during its backoff; no series "
    "without a replica.",
    ["replica"],
)
REPLICA_LAG_BYTES = Gauge(
    "quotatree_replica_replay_lag_bytes",
    "WAL the replica had received but not yet replayed when its generation was last read.",
    ["replica"],
)

MIN_BACKOFF = 1.0
MAX_BACKOFF = 30.0

REPLICA_STATE_SQL = text(
    "SELECT value, pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) "
    "FROM data_generation WHERE id = 1"
)
"""The replica's data generation and its replay lag, in one statement (the lag is NULL
on a server that is not a standby)."""

UNREACHABLE = (DBAPIError, OSError, TimeoutError)
"""What connecting to an unreachable or refusing server raises (a full replica pool
raises SQLAlchemy's own TimeoutError, which is none of these: it is not a fallback)."""


class ReplicaPool(MeteredPool):
    """The replica's pool: its refused connections are fallbacks to the primary
    (``quotatree_replica_fallbacks_total``, ``quotatree_replica_up``), not the
    database being unavailable (``quotatree_db_connect_errors_total``, which pages)."""

    counts_connect_errors = False


class Replica:
    """The read replica: its engine and whether to try it (a circuit breaker)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.name = f"{engine.url.host or 'localhost'}:{engine.url.port or 5432}"
        self.up_gauge = REPLICA_UP.labels(self.name)
        self.lag_gauge = REPLICA_LAG_BYTES.labels(self.name)
        self.database = Database(engine)
        self._clock = clock
        self._backoff = 0.0
        self._down_until = 0.0
        self._probing = False
        self.up_gauge.set(1)

    @property
    def up(self) -> bool:
        return self._backoff == 0.0

    def acquire(self) -> bool:
        """May this request try the replica? While it is up, yes; while it is down, only
        the first request after the backoff (the probe), which must report back with
        ``succeeded`` or ``failed``."""
        if self._backoff == 0.0:
            return True
        if self._probing or self._clock() < self._down_until:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        self._probing = False
        if self._backoff:
            log.warning("the read replica is reachable again; queries read from it")
            self._backoff = 0.0
            self.up_gauge.set(1)

    def release(self) -> None:
        """The probe was cut off before it found out (its request was cancelled): the
        next request tries again."""
        self._probing = False

    def failed(self, exc: BaseException) -> None:
        """Leave the replica alone for the next backoff."""
        self._probing = False
        self._backoff = min(MAX_BACKOFF, self._backoff * 2 or MIN_BACKOFF)
        self._down_until = self._clock() + self._backoff
        self.up_gauge.set(0)
        log.warning(
            "the read replica is unreachable (%s: %s); queries read from the primary, "
            "the replica is tried again in %.0f s",
            exc.__class__.__name__,
            (str(exc).splitlines() or [""])[0],
            self._backoff,
        )

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_replica(url: str, *, pool_size: int, max_overflow: int, connect_timeout: float) -> Replica:
    """The replica at ``url`` (no connection is opened yet)."""
    log.info(
        "queries read from the replica at %s",
        make_url(url).render_as_string(hide_password=True),
    )
    engine = make_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_timeout=connect_timeout,
        poolclass=ReplicaPool,
    )
    return Replica(engine)


class RoutedReads(RequestReads):
    """The reads of one query request: on the replica, unless it has not replayed the
    request's fence or cannot be reached; then on the primary.

    Decided when the request's connection opens (its first read): the replica's
    generation is read first on it whenever there is a fence or the response cache
    wants it, so the generation an answer is cached and tagged under is always the
    one read where the answer was read.
    """

    def __init__(self, primary: Database, replica: Replica, fence: int | None) -> None:
        super().__init__(primary._reads_engine)
        self._primary = primary
        self._replica = replica
        self.fence = fence
        self.on_replica: bool | None = None
        """None until the first read; then where the request reads."""

    async def current_generation(self) -> int:
        # Read where the request reads, as the first statement there: on the replica
        # the statement that checks the fence is the one that gives the generation.
        if self.generation is None and self._connection is None:
            self.want_generation = True
            await self.route()
        return await super().current_generation()

    async def route(self) -> Database:
        """Where this request reads (decided now if it is not yet)."""
        async with self._lock:
            if self._connection is None:
                self._connection = await self._open()
        return self._replica.database if self.on_replica else self._primary

    async def _open(self) -> AsyncConnection:
        first = self.on_replica is None
        if self.on_replica is not False:
            if self._replica.acquire():
                connection = await self._on_replica()
                if connection is not None:
                    self.on_replica = True
                    if first:
                        REPLICA_READS.inc()
                    return connection
            else:
                REPLICA_FALLBACKS.labels("unavailable").inc()
            self.on_replica = False
        self._engine = self._primary._reads_engine
        return await super()._open()

    async def _on_replica(self) -> AsyncConnection | None:
        """A replica connection that has replayed the fence, or None (counted, logged)."""
        replica = self._replica
        connection: AsyncConnection | None = None
        try:
            connection = await replica.database._reads_engine.connect()
            if self.fence is not None or (self.want_generation and self.generation is None):
                generation, lag = (await connection.execute(REPLICA_STATE_SQL)).one()
                if lag is not None:
                    replica.lag_gauge.set(float(lag))
                if self.fence is not None and generation < self.fence:
                    replica.succeeded()
                    REPLICA_FALLBACKS.labels("fence").inc()
                    await connection.close()
                    return None
                if self.generation is None:
                    self.generation = int(generation)
        except UNREACHABLE as exc:
            if isinstance(exc, DBAPIError) and not (
                exc.connection_invalidated or connection is None
            ):
                # The replica answered with an error (not a lost connection): not a
                # reason to stop reading from it.
                replica.succeeded()
                if connection is not None:
                    await connection.close()
                raise
            replica.failed(exc)
            REPLICA_FALLBACKS.labels("unavailable").inc()
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            return None
        except BaseException:  # cancelled: a probe cut off did not find out
            replica.release()
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            raise
        replica.succeeded()
        return connection


class QueryDatabase(Database):
    """The database of one query request: every read (the DataLoaders' connection and
    the use cases' sessions) goes where ``RoutedReads`` decided."""

    def __init__(self, primary: Database, replica: Replica, fence: int | None) -> None:
        self.engine = primary.engine
        self.replica = replica
        self._routed = RoutedReads(primary, replica, fence)

    def reads(self) -> RequestReads:
        return self._routed

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._routed_session(read_only=False)

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._routed_session(read_only=True)

    @asynccontextmanager
    async def _routed_session(self, *, read_only: bool) -> AsyncIterator[AsyncSession]:
        # The route (and the generation) first: a session's reads come after it.
        target = await self._routed.route()
        opened = target.read_session() if read_only else target.session()
        async with opened as session:
            yield session

    def for_query(self, fence: int | None) -> Database:
        return self

    async def dispose(self) -> None:  # a view: the primary's Database owns the engines
        return None
