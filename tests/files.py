"""Small helpers for tests that write input files and count rows."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import text

from service.db.engine import make_engine


async def count(url: str, sql: str) -> int:
    """The integer one SQL statement returns (0 for NULL), over a connection of its own."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text(sql)) or 0)
    finally:
        await engine.dispose()


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path
