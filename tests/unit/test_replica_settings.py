"""The read replica's settings: by URL or by host (the primary's other parts), and
its pool, derived from a connection budget like the primary's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from service.settings import Settings

PRIMARY = "postgresql://app:s3cr%40t@db-primary:5432/quotatree?sslmode=require"


def test_replica_by_url_is_normalised_like_the_primary() -> None:
    settings = Settings(
        database_url=PRIMARY, read_database_url="postgres://app:pw@db-replica/quotatree"
    )
    assert settings.read_database_url == "postgresql+asyncpg://app:pw@db-replica/quotatree"
    with pytest.raises(ValidationError, match="scheme is not supported"):
        Settings(database_url=PRIMARY, read_database_url="mysql://app@db/quotatree")


def test_replica_by_host_takes_the_primary_database_user_password_and_ssl() -> None:
    settings = Settings(database_url=PRIMARY, read_database_host="db-replica")
    assert settings.read_database_url is not None
    url = make_url(settings.read_database_url)
    assert (url.host, url.port, url.database, url.username, url.password) == (
        "db-replica",
        5432,
        "quotatree",
        "app",
        "s3cr@t",
    )
    assert url.query == {"ssl": "require"}
    parts = Settings(
        database_url=None,
        database_host="db-primary",
        database_port=6432,
        database_name="q",
        database_user="u",
        database_password="p/w",
        read_database_host="db-replica",
        read_database_port=6433,
    )
    assert parts.read_database_url is not None
    replica = make_url(parts.read_database_url)
    assert (replica.host, replica.port, replica.database, replica.password) == (
        "db-replica",
        6433,
        "q",
        "p/w",
    )


def test_replica_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Settings(
            database_url=PRIMARY,
            read_database_url="postgresql://app@r/quotatree",
            read_database_host="r",
        )
    with pytest.raises(ValidationError, match="embedded database has no replica"):
        Settings(database_url=None, read_database_url="postgresql://app@r/quotatree")
    with pytest.raises(ValidationError, match="primary is not"):
        Settings(database_url=None, read_database_host="r")
    with pytest.raises(ValidationError, match="without QUOTATREE_READ_DATABASE_HOST"):
        Settings(database_url=PRIMARY, read_database_port=5433)


def test_replica_pool_from_the_budget_which_counts_the_replica_server_too() -> None:
    # A hot standby's max_connections is at least its primary's: by default the
    # replica's budget is the primary's, and each pod's replica pool is derived alike.
    settings = Settings(
        database_url=PRIMARY,
        read_database_host="db-replica",
        database_connection_budget=80,
        database_max_pods=9,
    )
    assert (settings.read_pool_size, settings.read_max_overflow) == (4, 4)
    own = Settings(
        database_url=PRIMARY,
        read_database_host="db-replica",
        database_connection_budget=80,
        read_database_connection_budget=180,
        database_max_pods=9,
    )
    assert (own.read_pool_size, own.read_max_overflow) == (10, 10)
    assert 9 * (own.read_pool_size + own.read_max_overflow) <= 180
    with pytest.raises(ValidationError, match="unset QUOTATREE_READ_POOL_SIZE"):
        Settings(database_url=PRIMARY, database_connection_budget=80, read_pool_size=3)
    with pytest.raises(ValidationError, match="leaves 1 per pod"):
        Settings(database_url=PRIMARY, read_database_connection_budget=9, database_max_pods=9)


def test_replica_pool_without_a_budget_is_the_primary_pool_unless_set() -> None:
    settings = Settings(database_url=PRIMARY, pool_size=6, max_overflow=2)
    assert (settings.read_pool_size, settings.read_max_overflow) == (6, 2)
    own = Settings(database_url=PRIMARY, read_pool_size=12, read_max_overflow=0)
    assert (own.read_pool_size, own.read_max_overflow) == (12, 0)


def test_a_bad_replica_url_is_named_but_never_repeated() -> None:
    from service.cli import _configuration_error

    with pytest.raises(ValidationError) as caught:
        Settings(database_url=PRIMARY, read_database_url="mysql://app:hunter2@r/quotatree")
    line = _configuration_error(caught.value, Settings)
    assert line.startswith("bad configuration: QUOTATREE_READ_DATABASE_URL: ")
    assert "hunter2" not in line


def test_the_start_banner_names_the_replica_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from service.cli import _banner

    settings = Settings(
        env="development", database_url=PRIMARY, read_database_host="db-replica", jwt_secret=None
    )
    _banner(settings, "127.0.0.1", 8000, None, False)
    err = capsys.readouterr().err
    assert "database: db-primary:5432/quotatree, queries read from the replica " in err
    assert "db-replica:5432/quotatree" in err and "s3cr" not in err
