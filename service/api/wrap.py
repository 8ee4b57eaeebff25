"""Rows become GraphQL objects by their model class.

A type that refers back to one defined later in the import order (a node's
``version``, a dimension's ``plan``) names it by a lazy annotation and builds it
with ``wrap(row)``: the modules of ``service.api`` then import each other in
one direction only (import-linter checks it), while the graph of types keeps
its cycles. Each object type registers itself with ``@wraps(Model)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self, TypeVar

import strawberry
from strawberry import relay
from strawberry.types import Info

T = TypeVar("T")

_TYPES: dict[type, Callable[..., Any]] = {}


def wraps(model: type) -> Callable[[type[T]], type[T]]:
    """Class decorator: rows of ``model`` wrap into this GraphQL type."""

    def register(cls: type[T]) -> type[T]:
        _TYPES[model] = cls
        return cls

    return register


def wrap(row: Any) -> Any:
    """The GraphQL object of ``row`` (its type registered for ``type(row)``, or for the
    model of a record, see ``service.db.records``)."""
    kind = _TYPES.get(type(row)) or _TYPES[type(row).__model__]
    return kind(row=row)


def wrap_optional(row: Any) -> Any:
    return None if row is None else wrap(row)


class RowNode(relay.Node):
    """A Node backed by one row whose global id is the row's integer ``id``, refetched
    through the request's DataLoader named by ``loader`` (e.g. ``"plan_by_id"``)."""

    row: strawberry.Private[Any]
    loader: ClassVar[str]

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info[Any, None]) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Any, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await getattr(info.context.loaders, cls.loader).load_many([int(i) for i in node_ids])
        build: Any = cls  # a strawberry type: its dataclass __init__ takes ``row``
        return [build(row=r) if r else None for r in rows]
