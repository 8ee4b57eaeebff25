"""Planning a bulk load of members: validate every row, then say what to write.

A file (or a ``membersCreate`` list) names parents by code, so rows may refer to
members already stored or to rows further down the same file. Everything is
checked before anything is written; every bad row is reported with its row
number, column and reason, not only the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.domain.errors import DomainError
from service.domain.members import MAX_DEPTH, check_attributes
from service.domain.tree import DimensionKind, InvalidInputError, clean_code, clean_name

MAX_BULK_ROWS = 10_000
"""Most members one ``membersCreate`` call or one import file may carry."""


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One row as read: ``row`` is its number for messages (1-based, header excluded)."""

    row: int
    code: str
    name: str
    parent_code: str | None = None
    sort_order: int | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredMember:
    id: int
    code: str
    name: str
    parent_id: int | None
    sort_order: int
    attributes: Mapping[str, Any]
    retired: bool = False


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    code: str
    message: str


class BulkLoadError(DomainError):
    """Some rows are bad; ``errors`` lists every one of them."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            code=first.code,
            message=f"row {first.row}, {first.column}: {first.message}{more}",
            details={"rows": [e.row for e in errors]},
        )
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class NewMember:
    code: str
    name: str
    parent_code: str | None
    sort_order: int
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChangedMember:
    id: int
    code: str
    name: str
    parent_code: str | None
    sort_order: int
    attributes: dict[str, Any]
    moved: bool


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What to write: new members parents first, changed ones, and the untouched count."""

    create: list[NewMember]
    update: list[ChangedMember]
    unchanged: int

    @property
    def moves(self) -> bool:
        return any(m.moved for m in self.update)


def plan_load(
    kind: DimensionKind,
    existing: Sequence[StoredMember],
    rows: Sequence[MemberRow],
    *,
    tiers: Sequence[str] | None = None,
    max_rows: int = MAX_BULK_ROWS,
) -> LoadPlan:
    """Check ``rows`` against the stored members and plan the writes.

    Rules: a code appears once per load; a parent code names a stored member or
    another row; the resulting hierarchy has no cycle and is at most
    ``MAX_DEPTH`` deep; attributes are valid for the dimension's kind. A row
    whose code is stored updates that member's name, sort order, attributes
    and parent (a move) when they differ; identical rows change nothing, so
    loading the same file twice is a no-op. Raises ``BulkLoadError`` listing
    every bad row.
    """
    if not rows:
        raise InvalidInputError("EMPTY_SET", "no members to load", "members")
    if len(rows) > max_rows:
        raise InvalidInputError(
            "TOO_MANY",
            f"at most {max_rows} members per load, got {len(rows)}; split the file",
            "members",
            count=len(rows),
            max=max_rows,
        )
    errors: list[RowError] = []
    by_code_stored = {m.code: m for m in existing}
    stored_by_id = {m.id: m for m in existing}
    seen: dict[str, int] = {}
    clean_rows: list[tuple[MemberRow, str, str, dict[str, Any]]] = []
    tier_list = tuple(tiers) if tiers else None
    for row in rows:
        try:
            code = clean_code(row.code, "code")
        except DomainError as exc:
            errors.append(RowError(row.row, "code", exc.code, exc.message))
            continue
        if code in seen:
            errors.append(
                RowError(row.row, "code", "DUPLICATE", f"code {code!r} is also on row {seen[code]}")
            )
            continue
        seen[code] = row.row
        try:
            name = clean_name(row.name, "name")
        except DomainError as exc:
            errors.append(RowError(row.row, "name", exc.code, exc.message))
            continue
        try:
            attrs = check_attributes(
                kind,
                row.attributes,
                field="attributes",
                **({"tiers": tier_list} if tier_list else {}),
            ).to_json()
        except InvalidInputError as exc:
            column = (exc.field or "attributes").removeprefix("attributes.")
            errors.append(RowError(row.row, column, exc.code, exc.message))
            continue
        clean_rows.append((row, code, name, attrs))

    # The parent of every code after the load: file rows override stored members.
    parent_of: dict[str, str | None] = {
        m.code: (stored_by_id[m.parent_id].code if m.parent_id in stored_by_id else None)
        for m in existing
    }
    for row, code, _, _ in clean_rows:
        parent = row.parent_code.strip() if row.parent_code and row.parent_code.strip() else None
        if parent is not None and parent not in seen and parent not in by_code_stored:
            errors.append(
                RowError(row.row, "parent", "NOT_FOUND", f"parent code {parent!r} is unknown")
            )
            continue
        if parent == code:
            errors.append(RowError(row.row, "parent", "CYCLE", f"{code} is its own parent"))
            continue
        parent_of[code] = parent

    row_of = {code: row.row for row, code, _, _ in clean_rows}
    depth: dict[str, int] = {}
    for code in row_of:
        path = _ancestry(code, parent_of)
        if path is None:
            errors.append(
                RowError(
                    row_of[code],
                    "parent",
                    "CYCLE",
                    f"{code} would be its own ancestor: " + " › ".join(_cycle(code, parent_of)),
                )
            )
        elif len(path) > MAX_DEPTH:
            errors.append(
                RowError(
                    row_of[code], "parent", "TOO_DEEP", f"members nest at most {MAX_DEPTH} levels"
                )
            )
        else:
            depth[code] = len(path) - 1
    if errors:
        raise BulkLoadError(sorted(errors, key=lambda e: (e.row, e.column)))

    create: list[NewMember] = []
    update: list[ChangedMember] = []
    unchanged = 0
    for row, code, name, attrs in clean_rows:
        stored = by_code_stored.get(code)
        parent = parent_of[code]
        if stored is None:
            create.append(
                NewMember(
                    code, name, parent, row.sort_order if row.sort_order is not None else 0, attrs
                )
            )
            continue
        old_parent = (
            stored_by_id[stored.parent_id].code if stored.parent_id in stored_by_id else None
        )
        sort_order = row.sort_order if row.sort_order is not None else stored.sort_order
        moved = old_parent != parent
        if (
            name == stored.name
            and attrs == dict(stored.attributes)
            and not moved
            and (sort_order == stored.sort_order)
        ):
            unchanged += 1
            continue
        update.append(ChangedMember(stored.id, code, name, parent, sort_order, attrs, moved))
    create.sort(key=lambda m: depth[m.code])
    return LoadPlan(create=create, update=update, unchanged=unchanged)


def _ancestry(code: str, parent_of: Mapping[str, str | None]) -> list[str] | None:
    """Code, parent, grandparent ... up to the top; None on a cycle."""
    path = [code]
    seen = {code}
    current = parent_of.get(code)
    while current is not None:
        if current in seen:
            return None
        seen.add(current)
        path.append(current)
        current = parent_of.get(current)
    return path


def _cycle(code: str, parent_of: Mapping[str, str | None]) -> list[str]:
    path = [code]
    current = parent_of.get(code)
    while current is not None and current not in path:
        path.append(current)
        current = parent_of.get(current)
    if current is not None:
        path.append(current)
    return path
