"""``members_from_text``: PostgreSQL's text of a ``bigint[]`` read back as the ids, for
every shape the attainment and diagnostics reads get (the driver's own decoding of the
same array is the reference)."""

from __future__ import annotations

import pytest

from service.db.attainment import members_from_text
from service.db.engine import ConnectionBoundDatabase, driver_connection


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("{}", []),
        ("{7}", [7]),
        ("{1,22,333}", [1, 22, 333]),
        ("{9223372036854775807,1}", [9223372036854775807, 1]),
    ],
)
def test_array_text_to_ids(text: str, ids: list[int]) -> None:
    assert members_from_text(text) == ids
    assert all(type(i) is int for i in members_from_text(text))


async def test_agrees_with_the_server_for_generated_arrays(db: ConnectionBoundDatabase) -> None:
    """Arrays of 0 to 6 ids as the server writes them, against asyncpg's decoding."""
    async with db.read_session() as session:
        conn = await driver_connection(session)
        rows = await conn.fetch(
            """
            SELECT CAST(a AS text), a
            FROM (SELECT ARRAY(SELECT CAST((i * 7919 + j * 104729) % 1000000007 AS bigint)
                               FROM generate_series(1, i % 7) AS j) AS a
                  FROM generate_series(1, 200) AS i) AS t
            """
        )
    assert len(rows) == 200
    for text, ids in rows:
        assert members_from_text(text) == list(ids)
