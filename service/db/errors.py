"""Database conditions the layers above may need to tell apart, without SQLAlchemy."""

from __future__ import annotations


class UniqueViolation(Exception):
    """A row with the same unique key exists (a concurrent writer won the race)."""
