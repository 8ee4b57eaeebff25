"""Rules of the target tree that do not need the allocation engine.

Everything here is pure: callers load facts from the database, pass them in as
small dataclasses and get either a value or a ``DomainError`` naming the field
and the numbers involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from service.domain.errors import InvalidInputError as InvalidInputError
from service.domain.values import clean_text

MAX_NAME_LENGTH = 200
MAX_CODE_LENGTH = 100
MAX_SPLIT_MEMBERS = 1000
"""Most children one split may create (a documented limit of ``nodeSplit``)."""


class VersionState(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


class DimensionKind(StrEnum):
    TIME = "TIME"
    REGION = "REGION"
    CHANNEL = "CHANNEL"
    CUSTOMER = "CUSTOMER"
    PRODUCT = "PRODUCT"
    CUSTOM = "CUSTOM"


class Measure(StrEnum):
    AMOUNT = "AMOUNT"
    QUANTITY = "QUANTITY"


def clean_name(value: str, field: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Strip a display name; refuse it empty, too long, or with a character it may not hold.

    Names are printable text (``values.TextKind`` "printable"): no NUL, no
    control characters, no line breaks.
    """
    cleaned = clean_text(value, field, max_length=max_length, kind="printable")
    assert cleaned is not None  # required
    return cleaned


def clean_code(value: str, field: str) -> str:
    """A member code (or a tier, a subject): printable, stripped, at most 100 characters."""
    return clean_name(value, field, MAX_CODE_LENGTH)


def check_fiscal_year(year: int, field: str = "fiscalYear") -> int:
    if not 1900 <= year <= 2999:
        raise InvalidInputError(
            "OUT_OF_RANGE", f"{field} {year} is outside 1900..2999", field, value=year
        )
    return year


@dataclass(frozen=True, slots=True)
class MemberFacts:
    id: int
    dimension_id: int
    code: str
    parent_id: int | None
    depth: int
    retired: bool
    ancestor_ids: tuple[int, ...] = ()
    """Ids of the member's ancestors, top first (not the member itself)."""
    starts_on: date | None = None
    """First day of a time member's ``[start, end)`` range (None for other members)."""


@dataclass(frozen=True, slots=True)
class NodeFacts:
    key: int
    target: int
    split_dimension_id: int | None
    coordinates: Mapping[int, int]
    """The member the node's path holds per dimension (the deepest one when a
    dimension was split more than once on the path)."""


def check_draft(state: VersionState, version_label: str, field: str = "id") -> None:
    """Only drafts change; ``field`` is the input that named the version (a version's
    ``id``, or the ``nodeId`` of a node edit)."""
    if state is not VersionState.DRAFT:
        raise InvalidInputError(
            "NOT_DRAFT",
            f"{version_label} is {state.value}; only drafts change. "
            "Copy it into a new draft with versionCreateDraft and edit that",
            field,
            state=state.value,
        )


def check_split_members(
    node: NodeFacts,
    dimension_id: int,
    dimension_name: str,
    members: Sequence[MemberFacts],
    requested: Sequence[int],
    *,
    implicit_member: MemberFacts | None = None,
) -> list[MemberFacts]:
    """Check a split of ``node`` along a dimension over ``requested`` member ids.

    ``members`` are the facts found for ``requested`` (missing ones are unknown).
    ``implicit_member`` is the member the whole plan stands for on this
    dimension (the fiscal year on the plan's time dimension), held by every
    path. Rules, each a user error naming the field:

    - the node is not split already (unsplit it first);
    - at least one member, at most ``MAX_SPLIT_MEMBERS``, no duplicates;
    - every member exists, belongs to this dimension and is not retired;
    - the level: all members are at one depth of the hierarchy, and when the
      path already holds a member of this dimension (East, or the fiscal year)
      they lie inside it. So the root may split by regions or straight by
      cities, by quarters or straight by months; below East only East's
      cities (or districts) are allowed. Siblings at one level never overlap.

    Returns the members in the order their children will have: **time order**
    (by ``starts_on``) when every member is a time member, so a split's
    children, and anything that reads their positions (a SEASONAL lag, a
    ramp), follow the calendar whatever order the request listed them in;
    otherwise the requested order. Per-child inputs are matched by member id,
    never by position, so reordering changes nothing but the order.
    """
    if node.split_dimension_id is not None:
        raise InvalidInputError(
            "ALREADY_SPLIT",
            "the node is already split; unsplit it before splitting it again",
            "nodeId",
            node=node.key,
        )
    if not requested:
        raise InvalidInputError("EMPTY_SET", "a split needs at least one member", "memberIds")
    if len(requested) > MAX_SPLIT_MEMBERS:
        raise InvalidInputError(
            "TOO_MANY",
            f"a split takes at most {MAX_SPLIT_MEMBERS} members, got {len(requested)}",
            "memberIds",
            count=len(requested),
            max=MAX_SPLIT_MEMBERS,
        )
    seen: set[int] = set()
    for index, member_id in enumerate(requested):
        if member_id in seen:
            raise InvalidInputError(
                "DUPLICATE",
                f"memberIds.{index} repeats a member already in the list",
                f"memberIds.{index}",
            )
        seen.add(member_id)
    by_id = {m.id: m for m in members}
    held = node.coordinates.get(dimension_id)
    held_code = None
    if held is None and implicit_member is not None:
        held, held_code = implicit_member.id, implicit_member.code
    ordered: list[MemberFacts] = []
    for index, member_id in enumerate(requested):
        field = f"memberIds.{index}"
        member = by_id.get(member_id)
        if member is None:
            raise InvalidInputError("NOT_FOUND", f"{field} is not a known member", field)
        if member.dimension_id != dimension_id:
            raise InvalidInputError(
                "WRONG_DIMENSION",
                f"{field} ({member.code}) is a member of another dimension, not of "
                f"{dimension_name}",
                field,
            )
        if member.retired:
            raise InvalidInputError(
                "RETIRED",
                f"{field} ({member.code}) is retired and cannot take new targets",
                field,
            )
        if held is not None and held not in member.ancestor_ids:
            where = held_code or "the member"
            raise InvalidInputError(
                "WRONG_LEVEL",
                f"{field} ({member.code}) is not inside {where} this node already holds on "
                f"{dimension_name}; a deeper split stays inside its parent's slice",
                field,
            )
        if ordered and member.depth != ordered[0].depth:
            raise InvalidInputError(
                "WRONG_LEVEL",
                f"{field} ({member.code}) is at level {member.depth}, but "
                f"{ordered[0].code} is at level {ordered[0].depth}; the members of one split "
                "are at one level so that they do not overlap",
                field,
            )
        ordered.append(member)
    if all(m.starts_on is not None for m in ordered):
        ordered.sort(key=_starts_on)  # stable: equal dates keep the requested order
    return ordered


def _starts_on(member: MemberFacts) -> date:
    assert member.starts_on is not None
    return member.starts_on


def share(part: int, whole: int) -> float | None:
    """``part / whole``, a ratio for display (amounts stay exact); None when ``whole`` is 0."""
    return None if whole == 0 else part / whole


class OwnerKind(StrEnum):
    PERSON = "PERSON"
    """A person, known by the ``sub`` claim of their tokens."""
    TEAM = "TEAM"
    """A team of persons, with an optional lead."""
