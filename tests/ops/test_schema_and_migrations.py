"""schema.graphql is current; migrations go up, down to base and up again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.api.schema import build_schema
from service.db.engine import make_engine
from service.settings import Settings
from tests.conftest import ServerInfo, create_database, drop_database, migrate

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_current() -> None:
    current = build_schema(Settings(database_url=None)).as_str() + "\n"
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == current, (
        "schema.graphql is stale: run `quotatree export-schema -o schema.graphql`"
    )


def test_every_type_and_field_is_described() -> None:
    schema = build_schema(Settings(database_url=None))._schema
    missing = []
    for name, gql_type in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Boolean", "ID", "Float"}:
            continue
        if not gql_type.description:
            missing.append(name)
        for field_name, field in getattr(gql_type, "fields", {}).items():
            if not field.description:
                missing.append(f"{name}.{field_name}")
    allowed = {"Query", "Mutation", "Node", "Node.id"}
    assert sorted(set(missing) - allowed) == []


TABLES = {"dimension", "member", "plan", "plan_version", "target_node"}


async def _tables(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def test_models_match_the_migrated_schema(engine: AsyncEngine) -> None:
    """The SQLAlchemy models and the Alembic migrations describe the same schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from service.db.models import Base, is_partition

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return not (type_ == "table" and name is not None and is_partition(name))

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn, opts={"compare_type": True, "include_name": include_name}
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_upgrade_downgrade_upgrade(pg_server: ServerInfo) -> None:
    name = await create_database(pg_server, "quotatree_migrations")
    url = pg_server.url_for(name)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        await migrate(engine)
        assert await _tables(url) >= TABLES
        await migrate(engine, "base", down=True)
        assert (await _tables(url)) & TABLES == set()
        await migrate(engine)
        assert await _tables(url) >= TABLES
        async with engine.connect() as conn:
            seq = await conn.scalar(text("SELECT to_regclass('target_node_key_seq')"))
            assert seq is not None
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)
