"""Scratch PostgreSQL databases for the test suite and the benchmarks.

The server is the one named by ``QUOTATREE_DATABASE_URL`` when set, else an
embedded PostgreSQL started in a temporary folder (and stopped afterwards).
Databases made on it get a random name and are dropped with ``WITH (FORCE)``.
No pytest here: ``tests.conftest`` and ``tests.benchmarks`` both use these.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.settings import Settings


@dataclass
class ServerInfo:
    admin_url: str
    embedded: Any = None
    created: list[str] = field(default_factory=list)

    def url_for(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    @property
    def where(self) -> str:
        """Where the server runs, for a benchmark's output."""
        if self.embedded is not None:
            return f"embedded PostgreSQL in {self.embedded.data_dir}"
        parsed = make_url(self.admin_url)
        return f"{parsed.host or 'localhost'}:{parsed.port or 5432}, from QUOTATREE_DATABASE_URL"


@contextmanager
def postgres_server() -> Iterator[ServerInfo]:
    """The configured server, or an embedded one for the duration of the block.

    The embedded server's folder is made with :func:`tempfile.mkdtemp`, not under
    pytest's ``tmp_path``: run as root, PostgreSQL runs as the user ``pgserver``,
    which must traverse the folders above its data, and every new pytest session
    (a colleague's too) makes ``/tmp/pytest-of-<user>`` private again.
    """
    url = Settings().database_url
    if url:
        yield ServerInfo(admin_url=url)
        return
    from service.db.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="quotatree-pg-", ignore_cleanup_errors=True) as tmp:
        embedded = start_embedded(Path(tmp), database="postgres")
        try:
            yield ServerInfo(admin_url=embedded.url, embedded=embedded)
        finally:
            embedded.stop()


async def create_database(server: ServerInfo, prefix: str = "quotatree_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return name


async def drop_database(server: ServerInfo, name: str) -> None:
    admin = create_async_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def migrate(engine: AsyncEngine, revision: str = "head", down: bool = False) -> None:
    """Run the real Alembic migrations over one of ``engine``'s connections."""
    from alembic import command

    from service.db.migrate import alembic_config

    async with engine.connect() as conn:

        def run(sync_conn: Any) -> None:
            config = alembic_config(connection=sync_conn)
            if down:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)

        await conn.run_sync(run)
        await conn.commit()
