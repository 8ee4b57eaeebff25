"""Alembic driven from code: no ``alembic.ini``; the scripts live in ``migrations/``.

The scripts are found at ``QUOTATREE_MIGRATIONS_DIR`` when set (the container
copies them to ``/app/migrations``), else beside the ``service`` package of a
source checkout.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class MigrationsNotFoundError(RuntimeError):
    pass


def migrations_dir() -> Path:
    configured = os.environ.get("QUOTATREE_MIGRATIONS_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[2] / "migrations")
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    raise MigrationsNotFoundError(
        "cannot find the Alembic migrations (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); set QUOTATREE_MIGRATIONS_DIR to the repository's migrations/ folder"
    )


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        # ConfigParser treats % as interpolation.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _script_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(heads, every revision) of the migration scripts; read once per process."""
    script = ScriptDirectory.from_config(alembic_config())
    every = frozenset(rev.revision for rev in script.walk_revisions())
    return frozenset(script.get_heads()), every


def known_revisions() -> set[str]:
    """Every revision of this code's migration scripts."""
    return set(_script_revisions()[1])


def head_revisions() -> set[str]:
    return set(_script_revisions()[0])


async def current_revisions(conn: AsyncConnection) -> set[str]:
    exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not exists:
        return set()
    rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
    return {row[0] for row in rows}


async def pending_migrations(engine: AsyncEngine) -> str | None:
    """None when this code can run on the database, else a sentence saying why not.

    A revision this code does not know is a newer schema (the migration of a
    rolling update ran before this old pod left): migrations are additive across
    one release, so that counts as ready rather than taking every old pod out of
    the Service at once.
    """
    heads, every = _script_revisions()
    async with engine.connect() as conn:
        current = await current_revisions(conn)
    if current == heads:
        return None
    if not current:
        return "the database has no schema yet; run `quotatree migrate upgrade`"
    if current - every:
        return None
    return (
        f"the database is at revision {', '.join(sorted(current))} and this code needs "
        f"{', '.join(sorted(heads))}; run `quotatree migrate upgrade`"
    )
