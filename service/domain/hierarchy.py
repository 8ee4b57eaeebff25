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
from service.domain.members import MAX_DEPTH, check_attributes, check_sort_order
from service.domain.tree import DimensionKind, InvalidInputError, clean_code, clean_name
from service.domain.values import text_of

MAX_BULK_ROWS = 10_000
"""Most members one ``membersCreate`` call or one import file may carry."""


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One row as read: ``row`` is its number for messages (1-based, header excluded).

    Values are raw, as the door received them (GraphQL strings and ints, a
    CSV's text, a workbook's typed cells); ``plan_load`` normalises every one
    of them by the same rules, so no door can store what another would refuse.
    """

    row: int
    code: object
    name: object
    parent_code: object = None
    sort_order: object = None
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
    codes: list[str] = field(default_factory=list)
    """The normalised code of every row, in row order."""

    @property
    def changes(self) -> bool:
        """Whether the load writes anything (a re-load of identical rows does not)."""
        return bool(self.create or self.update)

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
    clean_rows: list[_CleanRow] = []
    tier_list = tuple(tiers) if tiers else None
    for row in rows:
        try:
            code = clean_code(text_of(row.code, "code"), "code")
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
            name = clean_name(text_of(row.name, "name"), "name")
        except DomainError as exc:
            errors.append(RowError(row.row, "name", exc.code, exc.message))
            continue
        parent: str | None = None
        if row.parent_code is not None:
            try:
                parent_text = text_of(row.parent_code, "parent code")
                parent = clean_code(parent_text, "parent code") if parent_text.strip() else None
            except DomainError as exc:
                errors.append(RowError(row.row, "parent", exc.code, exc.message))
                continue
        sort_order: int | None = None
        if row.sort_order is not None and not (
            isinstance(row.sort_order, str) and not row.sort_order.strip()
        ):
            try:
                sort_order = check_sort_order(row.sort_order, "sort order")
            except DomainError as exc:
                errors.append(RowError(row.row, "sort order", exc.code, exc.message))
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
        clean_rows.append(_CleanRow(row.row, code, name, parent, sort_order, attrs))

    # The parent of every code after the load: file rows override stored members.
    parent_of: dict[str, str | None] = {
        m.code: (stored_by_id[m.parent_id].code if m.parent_id in stored_by_id else None)
        for m in existing
    }
    for clean in clean_rows:
        parent, code = clean.parent, clean.code
        if parent is not None and parent not in seen and parent not in by_code_stored:
            errors.append(
                RowError(clean.row, "parent", "NOT_FOUND", f"parent code {parent!r} is unknown")
            )
            continue
        if parent == code:
            errors.append(RowError(clean.row, "parent", "CYCLE", f"{code} is its own parent"))
            continue
        parent_of[code] = parent

    row_of = {clean.code: clean.row for clean in clean_rows}
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
    for clean in clean_rows:
        code, name, attrs = clean.code, clean.name, clean.attributes
        stored = by_code_stored.get(code)
        parent = parent_of[code]
        if stored is None:
            create.append(
                NewMember(
                    code,
                    name,
                    parent,
                    clean.sort_order if clean.sort_order is not None else 0,
                    attrs,
                )
            )
            continue
        old_parent = (
            stored_by_id[stored.parent_id].code if stored.parent_id in stored_by_id else None
        )
        sort_order = clean.sort_order if clean.sort_order is not None else stored.sort_order
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
    return LoadPlan(
        create=create,
        update=update,
        unchanged=unchanged,
        codes=[clean.code for clean in clean_rows],
    )


@dataclass(frozen=True, slots=True)
class _CleanRow:
    row: int
    code: str
    name: str
    parent: str | None
    sort_order: int | None
    attributes: dict[str, Any]


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
