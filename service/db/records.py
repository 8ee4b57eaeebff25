"""Core rows as light records: the hot read paths skip the ORM.

A DataLoader batch of nodes, members or dimensions is read with a Core
``SELECT`` of the model's columns, each row becoming a slotted record with the
model's attribute names: what the API's types read (``row.target``,
``row.coordinates``) works on a record as on a mapped object, without the
identity map, instance state and attribute instrumentation an ORM load pays per
object. Records are read-only snapshots; use cases keep working with ORM objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from sqlalchemy import Select, inspect, select


class Record:
    """Base of the generated record classes; ``__model__`` names the mapped class."""

    __slots__ = ()
    __model__: ClassVar[type]
    _names: ClassVar[tuple[str, ...]]

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._names[:3])
        return f"{type(self).__name__}({fields}, ...)"


_RECORDS: dict[type, tuple[type[Record], Select[Any]]] = {}


def record_class(model: type) -> tuple[type[Record], Select[Any]]:
    """The record class of ``model`` and the Core ``SELECT`` of its columns, in order."""
    found = _RECORDS.get(model)
    if found is None:
        attrs: list[Any] = list(inspect(model).column_attrs)
        names = tuple(a.key for a in attrs)
        cls = type(
            f"{model.__name__}Record",
            (Record,),
            {"__slots__": names, "__model__": model, "_names": names},
        )
        table: Any = inspect(model).local_table
        statement: Select[Any] = select(*(a.columns[0] for a in attrs)).select_from(table)
        found = (cls, statement)
        _RECORDS[model] = found
    return found


def records(model: type, rows: Iterable[Any]) -> list[Any]:
    """Records of ``model`` from Core rows of ``record_class(model)``'s SELECT."""
    cls, _ = record_class(model)
    names = cls._names
    new = object.__new__
    put = object.__setattr__
    out: list[Any] = []
    for row in rows:
        record = new(cls)
        for name, value in zip(names, row, strict=True):
            put(record, name, value)
        out.append(record)
    return out
