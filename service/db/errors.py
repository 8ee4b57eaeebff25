"""Database conditions the layers above may need to tell apart, without SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator


class UniqueViolation(Exception):
    """A row with the same unique key exists (a concurrent writer won the race)."""


CHECKOUT_FAILURE = "quotatree_checkout_failure"
"""Set on an exception raised while the pool got a connection (``MeteredPool``)."""

# asyncpg's classes for a server that refuses or drops connections.
_UNAVAILABLE_ASYNCPG = frozenset(
    {
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "CrashShutdownError",
        "InvalidPasswordError",
        "InvalidAuthorizationSpecificationError",
        "InvalidCatalogNameError",
    }
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or refuses connections
    (as opposed to a bug or a failed statement): the pool timed out, the network
    failed, the server refused, shut down, or has no slot left."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    for cause in _causes(exc):
        if getattr(cause, CHECKOUT_FAILURE, False) or isinstance(cause, PoolTimeout):
            return True
        # A connection reset or refused; a bare TimeoutError may be anything's.
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        module = cause.__class__.__module__
        if module.startswith("asyncpg") and cause.__class__.__name__ in _UNAVAILABLE_ASYNCPG:
            return True
    return False
