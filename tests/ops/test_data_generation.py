"""The data generation (migration 0008): a trigger on every table answers read."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import GENERATION_EXEMPT, Base


async def test_every_table_of_the_models_moves_the_generation(engine: AsyncEngine) -> None:
    """A new table without the trigger fails here: give it one (``create_trigger`` of
    migration 0008) or name it in GENERATION_EXEMPT with the reason."""
    async with engine.connect() as conn:
        triggered = set(
            (
                await conn.execute(
                    text(
                        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                        "WHERE t.tgname = 'data_generation_bump' AND NOT t.tgisinternal"
                    )
                )
            ).scalars()
        )
    tables = set(Base.metadata.tables)
    missing = tables - triggered - set(GENERATION_EXEMPT)
    assert not missing, f"tables without the data generation trigger: {sorted(missing)}"
    assert not (set(GENERATION_EXEMPT) & triggered)


async def test_a_committed_change_moves_the_generation_and_a_rolled_back_one_does_not(
    engine: AsyncEngine,
) -> None:
    read = text("SELECT value FROM data_generation WHERE id = 1")

    async def generation() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(read)).scalar_one())

    before = await generation()
    async with engine.connect() as conn:
        await conn.execute(text("UPDATE owner SET name = name WHERE false"))
        inside = (await conn.execute(read)).scalar_one()
        await conn.rollback()
    after_rollback = await generation()
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM review WHERE false"))
    after_commit = await generation()
    assert inside > before  # even a statement that changed no row
    assert after_rollback == before
    assert after_commit > before
