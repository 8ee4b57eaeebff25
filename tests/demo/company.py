"""The demo company, loaded once per run into a database of its own (smaller history
than ``quotatree demo``'s default, same company and plan).

A plain module, not a conftest: ``tests/conftest.py`` registers the ``demo`` fixture
once for the whole suite, so tests/demo and tests/explorer share one load (~30 s)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from service.app import create_app
from service.auth import Principal, Role
from service.db.engine import Database, make_engine
from service.plans.demo import DemoLoaded, load_demo
from tests.conftest import GraphQLClient, ServerInfo, create_database, drop_database, make_settings
from tests.databases import migrate

LINES_PER_MONTH = 700
"""About a tenth of the default history: the same plan, built faster."""
ADMIN = Principal(subject="demo-test", roles=frozenset({Role.ADMIN}))


@dataclass
class Demo:
    db: Database
    loaded: DemoLoaded
    steps: list[str]
    gql: GraphQLClient


@pytest.fixture(scope="session")
async def demo(pg_server: ServerInfo) -> AsyncIterator[Demo]:
    name = await create_database(pg_server, "quotatree_demo")
    engine = make_engine(pg_server.url_for(name), pool_size=3, max_overflow=2)
    try:
        await migrate(engine)
        db = Database(engine)
        steps: list[str] = []
        loaded = await load_demo(db, ADMIN, 2027, steps.append, lines_per_month=LINES_PER_MONTH)
        app = create_app(make_settings(), database=db)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Demo(db, loaded, steps, GraphQLClient(http))
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)
