"""Keyset pages of any ordered statement (Relay's first/after and last/before)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ARRAY, Integer, Select, bindparam, func, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.domain.paging import Key, Page, PageRequest, cut

T = TypeVar("T")


async def keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    order: Sequence[Any],
    request: PageRequest,
    key: Callable[[T], Key],
    *,
    scalars: bool = True,
) -> Page[T]:
    """One page of ``stmt`` in the order of the ``order`` columns (unique together; ORM
    attributes or column expressions).

    Forward pages read ascending after ``request.after``; backward pages read
    descending before ``request.before``; each bound applies when given. One row
    more than the page is read to tell whether the far side has more.
    """
    columns = tuple_(*order) if len(order) > 1 else order[0]

    def bound(value: Key) -> Any:
        return tuple_(*value) if len(order) > 1 else value[0]

    if request.after is not None:
        stmt = stmt.where(columns > bound(request.after))
    if request.before is not None:
        stmt = stmt.where(columns < bound(request.before))
    ordering = [c.desc() for c in order] if request.backward else list(order)
    stmt = stmt.order_by(*ordering).limit(request.size + 1)
    result = await (session.scalars(stmt) if scalars else session.execute(stmt))
    rows: list[T] = list(result.all())  # type: ignore[arg-type]
    return cut(rows, [key(r) for r in rows], request)


Scope = tuple[str, Any, Sequence[Any]]
"""One per-key parameter of ``lateral_pages``: its name, SQL type and value per key."""


async def lateral_pages(
    session: AsyncSession,
    entity: Any,
    select_from: Callable[[Any], Select[Any]],
    order: Sequence[tuple[Any, ...]],
    scope: Sequence[Scope],
    requests: Sequence[PageRequest],
) -> list[Page[Any]]:
    """A page per key in one statement per direction (a DataLoader batch): the keys'
    parameters are unnested into a table ``k`` and each key's page is a LATERAL
    subquery ``select_from(k)`` (which filters on ``k.c.<scope name>``) cut by the
    key's bounds on the ``order`` columns, (column, SQL type[, attribute name]) tuples
    unique together (the name reads the key off a row when the column is an expression).
    """
    pages: dict[int, Page[Any]] = {}
    for backward in (False, True):
        wanted = [i for i, r in enumerate(requests) if r.backward is backward]
        if not wanted:
            continue
        names: list[str] = []
        arrays: list[Any] = []
        for name, kind, values in scope:
            names.append(name)
            arrays.append(bindparam(f"s_{name}", [values[i] for i in wanted], type_=ARRAY(kind)))
        for side in ("after", "before"):
            for position, (_, kind, *_name) in enumerate(order):
                bounds = [getattr(requests[i], side) for i in wanted]
                names.append(f"{side}{position}")
                arrays.append(
                    bindparam(
                        f"{side}{position}",
                        [None if b is None else b[position] for b in bounds],
                        type_=ARRAY(kind),
                    )
                )
        names.append("size")
        arrays.append(
            bindparam("size", [requests[i].size + 1 for i in wanted], type_=ARRAY(Integer))
        )
        k = func.unnest(*arrays).table_valued(*names, with_ordinality="i").render_derived(name="k")
        columns = [spec[0] for spec in order]
        attrs = [spec[2] if len(spec) > 2 else spec[0].key for spec in order]
        ordered = tuple_(*columns) if len(columns) > 1 else columns[0]

        after = [k.c[f"after{p}"] for p in range(len(columns))]
        before = [k.c[f"before{p}"] for p in range(len(columns))]
        inner = select_from(k).where(
            or_(after[0].is_(None), ordered > (tuple_(*after) if len(after) > 1 else after[0])),
            or_(before[0].is_(None), ordered < (tuple_(*before) if len(before) > 1 else before[0])),
        )
        sort = [c.desc() for c in columns] if backward else columns
        page = inner.order_by(*sort).limit(k.c.size).lateral("page")
        row = aliased(entity, page)
        stmt = select(k.c.i, row).select_from(k).join(page, true())
        grouped: dict[int, list[Any]] = {}
        for index, item in (await session.execute(stmt)).all():
            grouped.setdefault(int(index), []).append(item)
        for position, i in enumerate(wanted):
            rows = grouped.get(position + 1, [])
            keys = [tuple(getattr(r, attr) for attr in attrs) for r in rows]
            pages[i] = cut(rows, keys, requests[i])
    return [pages[i] for i in range(len(requests))]
