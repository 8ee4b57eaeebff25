"""Rows become GraphQL objects by their model class.

A type that refers back to one defined later in the import order (a node's
``version``, a dimension's ``plan``) names it by a lazy annotation and builds it
with ``wrap(row)``: the modules of ``service.api`` then import each other in
one direction only (import-linter checks it), while the graph of types keeps
its cycles. Each object type registers itself with ``@wraps(Model)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_TYPES: dict[type, Callable[..., Any]] = {}


def wraps(model: type) -> Callable[[type[T]], type[T]]:
    """Class decorator: rows of ``model`` wrap into this GraphQL type."""

    def register(cls: type[T]) -> type[T]:
        _TYPES[model] = cls
        return cls

    return register


def wrap(row: Any) -> Any:
    """The GraphQL object of ``row`` (its type registered for ``type(row)``)."""
    return _TYPES[type(row)](row=row)


def wrap_optional(row: Any) -> Any:
    return None if row is None else wrap(row)
