"""Test harness: one real PostgreSQL database per run, one rolled-back transaction per test.

Without ``QUOTATREE_DATABASE_URL`` an embedded PostgreSQL starts in a temporary
folder; with it, a fresh database is created on that server for the run and
dropped at the end. The schema comes from running the real Alembic migrations.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from service.app import create_app
from service.auth import Role, mint_token
from service.db.engine import ConnectionBoundDatabase, make_engine
from service.settings import Settings
from tests.databases import (  # also imported from here by tests
    ServerInfo,
    create_database,
    drop_database,
    migrate,
    postgres_server,
)

TEST_SECRET = "test-secret-" + "x" * 32


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ServerInfo]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
async def engine(pg_server: ServerInfo) -> AsyncIterator[AsyncEngine]:
    name = await create_database(pg_server)
    url = pg_server.url_for(name)
    eng = make_engine(url, pool_size=5, max_overflow=5)
    event.listen(eng.sync_engine.pool, "connect", _log_driver_statements)
    try:
        await migrate(eng)
        yield eng
    finally:
        await eng.dispose()
        await drop_database(pg_server, name)


_GENERATION_READ = "SELECT value FROM data_generation"
_COUNTERS: list[StatementCounter] = []
"""The active ``statements`` fixtures: they also count what runs on the driver."""
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_DRIVER_INTROSPECTION = ("typeinfo_tree", "set_config('jit'")
"""asyncpg's own statements: the first time a connection meets a type it reads the
type's codec (with JIT off meanwhile), once per connection, not per request."""


def driver_statements(into: Callable[[str], None]) -> Callable[[Any, Any], None]:
    """A pool ``connect`` listener: ``into`` gets each statement run on the asyncpg
    connection itself (the hot and bulk reads, which fire no SQLAlchemy event), from
    asyncpg's query logger. SQLAlchemy's own statements are prepared ones, which asyncpg
    does not log: its ``before_cursor_execute`` event tells those, so none is told twice.
    """

    def logged(query: Any) -> None:
        text = query.query.lstrip().upper()
        if not text.startswith(_TRANSACTION_CONTROL) and not any(
            marker in query.query for marker in _DRIVER_INTROSPECTION
        ):
            into(query.query)

    def connected(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(logged)

    return connected


def _to_counters(statement: str) -> None:
    for counter in _COUNTERS:
        counter.statements.append(statement)


_log_driver_statements = driver_statements(_to_counters)


@dataclass
class StatementCounter:
    statements: list[str] = field(default_factory=list)
    active: bool = False

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def generation_reads(self) -> int:
        """Reads of the data generation: one per cacheable query (service.api.cache)."""
        return sum(1 for s in self.statements if s.lstrip().startswith(_GENERATION_READ))

    @property
    def data_count(self) -> int:
        """The statements that read or write data: all but the generation reads."""
        return self.count - self.generation_reads


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[ConnectionBoundDatabase]:
    """A database whose every session joins one transaction, rolled back after the test."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        database = ConnectionBoundDatabase(engine, conn)
        try:
            yield database
        finally:
            await outer.rollback()


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[StatementCounter]:
    counter = StatementCounter()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            counter.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    _COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _COUNTERS.remove(counter)
        event.remove(engine.sync_engine, "before_cursor_execute", before)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "jwt_secret": TEST_SECRET,
        "database_url": None,
        "max_query_depth": 12,
        "max_aliases": 20,
        # The production budget (5 s) is for a server's own machine; the suite's
        # setup mutations (1,000 nodes, 5,000 members) passed it on a shared, loaded
        # machine late in a full run. The budget itself is tested with its own value
        # (tests/api/test_cost.py sets 2 s).
        "request_timeout_seconds": 30.0,
        **overrides,
    }
    return Settings(**values)


def token(role: Role = Role.ADMIN, subject: str = "tester", owners: list[str] | None = None) -> str:
    return mint_token(TEST_SECRET, subject=subject, role=role, ttl_hours=1, owners=owners)


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        role: Role | None = Role.ADMIN,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if role is not None:
            sent.setdefault("Authorization", f"Bearer {token(role)}")
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
        )
        # asyncpg tells its query loggers with call_soon: let them run, so that the
        # ``statements`` fixture has counted the request's driver statements too.
        await asyncio.sleep(0)
        return response

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, role: Role = Role.ADMIN
    ) -> dict[str, Any]:
        """Execute and return ``data``; fails the test on top-level errors."""
        response = await self.post(query, variables, role=role)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
async def client(db: ConnectionBoundDatabase) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(), database=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QUOTATREE_MIGRATIONS_DIR", str(REPO_ROOT / "migrations"))


# The demo company (session-scoped, ~30 s): one load shared by tests/demo and
# tests/explorer. Imported last: it builds on the fixtures above.
from tests.demo.company import demo  # noqa: E402, F401
