"""The database configured from parts, and the pool derived from a connection budget.

``database_url=None`` where parts are given: the suite may run with
QUOTATREE_DATABASE_URL in the environment, which Settings would read too.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from service.settings import LISTENER_CONNECTIONS, Settings


def test_database_from_parts_builds_the_url_with_the_password_escaped() -> None:
    settings = Settings(
        database_url=None,
        database_host="db.internal",
        database_port=6432,
        database_name="quotatree",
        database_user="app",
        database_password="p@ss/word:%",
        database_ssl="require",
    )
    assert settings.database_url is not None
    url = make_url(settings.database_url)
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.database, url.username) == (
        "db.internal",
        6432,
        "quotatree",
        "app",
    )
    assert url.password == "p@ss/word:%"
    assert url.query == {"ssl": "require"}


def test_database_parts_need_a_name_and_user_and_exclude_a_url() -> None:
    with pytest.raises(
        ValidationError, match="QUOTATREE_DATABASE_NAME and QUOTATREE_DATABASE_USER"
    ):
        Settings(database_url=None, database_host="db")
    with pytest.raises(ValidationError, match="not both"):
        Settings(
            database_host="db",
            database_name="q",
            database_user="u",
            database_url="postgresql://u@db/q",
        )


def test_pool_is_derived_from_the_connection_budget() -> None:
    settings = Settings(database_connection_budget=80, database_max_pods=9)
    # 80 // 9 = 8 per pod: 1 listens for changes, 4 kept, 3 overflow; 9 pods never
    # hold more than 72.
    assert (settings.pool_size, settings.max_overflow) == (4, 3)
    assert 9 * (settings.pool_size + settings.max_overflow + LISTENER_CONNECTIONS) <= 80
    odd = Settings(database_connection_budget=50, database_max_pods=7)
    assert (odd.pool_size, odd.max_overflow) == (3, 3)


def test_budget_refuses_explicit_pool_settings_and_too_little_per_pod() -> None:
    with pytest.raises(ValidationError, match="unset QUOTATREE_POOL_SIZE"):
        Settings(database_connection_budget=80, pool_size=5)
    with pytest.raises(ValidationError, match="at least 3"):
        Settings(database_connection_budget=10, database_max_pods=9)
