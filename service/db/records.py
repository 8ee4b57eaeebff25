"""Core rows as light records: the hot read paths skip the ORM.

A DataLoader batch of nodes, members or dimensions is read on the driver (fixed
SQL text of the model's columns, ``service.db.repositories``), each row becoming a
slotted record with the model's attribute names: what the API's types read (``row.target``,
``row.coordinates``) works on a record as on a mapped object, without the
identity map, instance state and attribute instrumentation an ORM load pays per
object. Records are read-only snapshots; use cases keep working with ORM objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import make_dataclass
from typing import Any, ClassVar

import orjson
from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import PGDialect


class Record:
    """Base of the generated record classes; ``__model__`` names the mapped class."""

    __slots__ = ()
    __model__: ClassVar[type]
    _names: ClassVar[tuple[str, ...]]

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._names[:3])
        return f"{type(self).__name__}({fields}, ...)"


EAGER_JSON = frozenset({"coordinates"})
"""JSON columns decoded as a row is read: a node's slice is read on every node."""

_RECORDS: dict[type, type[Record]] = {}


def _lazy_json(attr: Any) -> bool:
    return isinstance(attr.columns[0].type, JSONB) and attr.key not in EAGER_JSON


def select_list(model: type, alias: str) -> str:
    """The SQL select list of ``model``'s record, columns of table alias ``alias`` in
    ``record_class(model)``'s order. JSON columns other than ``EAGER_JSON`` come as
    text, decoded when the attribute is read: most reads never look at a node's
    explanation or a member's attributes, and decoding them cost more than the read."""
    attrs: list[Any] = list(inspect(model).column_attrs)
    return ", ".join(
        f"{alias}.{a.columns[0].name}::text" if _lazy_json(a) else f"{alias}.{a.columns[0].name}"
        for a in attrs
    )


def null_list(model: type) -> str:
    """Typed NULLs in the place of ``select_list(model, ...)``: the padding of a UNION
    whose rows are of several models, each in its own columns."""
    dialect = PGDialect()  # type: ignore[no-untyped-call]
    attrs: list[Any] = list(inspect(model).column_attrs)
    return ", ".join(
        "NULL::text"
        if _lazy_json(a)
        else f"NULL::{a.columns[0].type.compile(dialect=dialect).split(' COLLATE ')[0]}"
        for a in attrs
    )


def _decoded(slot: str) -> property:
    def read(self: Any) -> Any:
        raw = getattr(self, slot)
        return None if raw is None else orjson.loads(raw)

    return property(read)


def record_class(model: type) -> type[Record]:
    """The record class of ``model``: a slot per column attribute, in mapper order, and
    an ``__init__`` taking them positionally (one call per row, not a call per column);
    a lazy JSON column's slot holds its text and its attribute decodes it."""
    found = _RECORDS.get(model)
    if found is None:
        attrs: list[Any] = list(inspect(model).column_attrs)
        names = tuple(a.key for a in attrs)
        slots = tuple(f"_{a.key}_json" if _lazy_json(a) else a.key for a in attrs)
        namespace: dict[str, Any] = {"__model__": model, "_names": names}
        for name, slot in zip(names, slots, strict=True):
            if slot != name:
                namespace[name] = _decoded(slot)
        found = make_dataclass(
            f"{model.__name__}Record",
            slots,
            bases=(Record,),
            namespace=namespace,
            slots=True,
            repr=False,
            eq=False,
        )
        _RECORDS[model] = found
    return found


def records(model: type, rows: Iterable[Iterable[Any]]) -> list[Any]:
    """Records of ``model`` from rows of ``select_list(model, ...)``."""
    cls = record_class(model)
    return [cls(*row) for row in rows]
