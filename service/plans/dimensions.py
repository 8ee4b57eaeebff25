"""Dimensions and their members: create, bulk-load, update, move, retire."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.db import repositories as repo
from service.db.engine import Database, Session
from service.db.errors import UniqueViolation
from service.db.models import Dimension, Member
from service.domain import tree
from service.domain.audit import AuditAction
from service.domain.hierarchy import LoadPlan, MemberRow, StoredMember, plan_load
from service.domain.members import (
    DEFAULT_TIERS,
    check_attributes,
    check_depth,
    check_move,
    check_sort_order,
)
from service.domain.paging import Page, PageRequest
from service.domain.tree import DimensionKind, InvalidInputError
from service.plans.uow import UnitOfWork
from service.plans.usecase import write

MAX_HIERARCHY_DEPTH = 1000
"""Largest ``maxDepth`` of a descendants read (hierarchies are far shallower)."""


@dataclass(frozen=True, slots=True)
class DimensionCreate:
    name: str
    kind: DimensionKind
    tiers: Sequence[str] | None = None


@write(AuditAction.DIMENSION_CREATE)
async def create_dimension(uow: UnitOfWork, command: DimensionCreate) -> Dimension:
    """An organisation dimension. Time dimensions come from a plan's calendar instead."""
    name, kind, tiers = command.name, command.kind, command.tiers
    clean = tree.clean_name(name, "name")
    if kind is DimensionKind.TIME:
        raise InvalidInputError(
            "INVALID_VALUE",
            "time dimensions are generated from a plan's calendar (planCreate's calendar input)",
            "kind",
        )
    config: dict[str, Any] = {}
    if tiers is not None:
        if kind is not DimensionKind.CUSTOMER:
            raise InvalidInputError("INVALID_VALUE", "only CUSTOMER dimensions have tiers", "tiers")
        cleaned = [tree.clean_code(t, "tiers").upper() for t in tiers]
        if not cleaned or len(set(cleaned)) != len(cleaned) or len(cleaned) > 26:
            raise InvalidInputError(
                "INVALID_VALUE", "tiers: 1 to 26 distinct labels, best first", "tiers"
            )
        config["tiers"] = cleaned
    session = uow.session
    if await repo.dimension_by_name(session, clean) is not None:
        raise InvalidInputError("DUPLICATE", f"a dimension named {clean!r} already exists", "name")
    dimension: Dimension = await repo.add(
        session, Dimension(name=clean, kind=kind.value, config=config)
    )
    uow.record(after={"dimension": dimension.id, "name": clean, "kind": kind.value, **config})
    return dimension


def _tiers(dimension: Dimension) -> tuple[str, ...]:
    return tuple(dimension.config.get("tiers") or DEFAULT_TIERS)


async def _dimension(session: Session, dimension_id: int, field: str = "dimensionId") -> Dimension:
    (dimension,) = await repo.dimensions_by_ids(session, [dimension_id])
    if dimension is None:
        raise InvalidInputError("NOT_FOUND", f"{field} is not a known dimension", field)
    if dimension.plan_id is not None:
        raise InvalidInputError(
            "INVALID_VALUE",
            "a plan's calendar is generated; its members cannot be edited by hand",
            field,
        )
    return dimension


async def _member(session: Session, member_id: int, field: str = "id") -> Member:
    (member,) = await repo.members_by_ids(session, [member_id])
    if member is None:
        raise InvalidInputError("NOT_FOUND", f"{field} is not a known member", field)
    return member


@dataclass(frozen=True, slots=True)
class MemberCreate:
    dimension_id: int
    code: str
    name: str
    parent_id: int | None = None
    sort_order: int = 0
    attributes: Mapping[str, Any] | None = None


@write(AuditAction.MEMBER_CREATE)
async def create_member(uow: UnitOfWork, command: MemberCreate) -> Member:
    clean_code = tree.clean_code(command.code, "code")
    clean_name = tree.clean_name(command.name, "name")
    sort_order = check_sort_order(command.sort_order)
    session = uow.session
    dimension_id, parent_id = command.dimension_id, command.parent_id
    dimension = await _dimension(session, dimension_id)
    attrs = check_attributes(
        DimensionKind(dimension.kind), command.attributes or {}, tiers=_tiers(dimension)
    ).to_json()
    parent: Member | None = None
    if parent_id is not None:
        parent = await _member(session, parent_id, "parentId")
        if parent.dimension_id != dimension_id:
            raise InvalidInputError(
                "WRONG_DIMENSION",
                f"parentId ({parent.code}) belongs to another dimension",
                "parentId",
            )
        check_depth(parent.depth + 1)
    duplicate = InvalidInputError(
        "DUPLICATE",
        f"{dimension.name} already has a member with code {clean_code!r}",
        "code",
    )
    if await repo.member_by_code(session, dimension_id, clean_code) is not None:
        raise duplicate
    member = Member(
        dimension_id=dimension_id,
        parent_id=parent_id,
        code=clean_code,
        name=clean_name,
        sort_order=sort_order,
        attributes=attrs,
    )
    try:
        created: Member = await repo.add_member(session, member, parent)
    except UniqueViolation:  # a concurrent create of the same code won the race
        raise duplicate from None
    uow.record(
        after={
            "dimension": dimension_id,
            "member": created.id,
            "code": clean_code,
            "name": clean_name,
            "parent": parent_id,
            "attributes": attrs,
        }
    )
    return created


@dataclass(frozen=True, slots=True)
class LoadResult:
    dimension: Dimension
    created: int
    updated: int
    unchanged: int
    members: list[Member]
    """The members named by the load, in its row order."""


Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class MembersLoad:
    dimension_id: int
    rows: Sequence[MemberRow]
    progress: Progress | None = None
    """Called with (phase, done, total) for command-line progress."""


@write(AuditAction.MEMBERS_CREATE)
async def load_members(uow: UnitOfWork, command: MembersLoad) -> LoadResult:
    """All-or-nothing bulk load (``membersCreate``, ``quotatree import members``).

    Every row is checked before anything is written; re-loading the same rows
    changes nothing and records nothing; changed rows update names, attributes
    and parents in place.
    """
    session = uow.session
    rows, progress = command.rows, command.progress
    dimension = await _dimension(session, command.dimension_id)
    # Serialise loads of one dimension: two concurrent loads would plan
    # against the same stale snapshot.
    await repo.lock_dimension(session, dimension.id)
    stored = await repo.members_of_dimension(session, dimension.id)
    plan = plan_load(
        DimensionKind(dimension.kind),
        [
            StoredMember(
                id=m.id,
                code=m.code,
                name=m.name,
                parent_id=m.parent_id,
                sort_order=m.sort_order,
                attributes=m.attributes,
                retired=m.retired_at is not None,
            )
            for m in stored
        ],
        rows,
        tiers=_tiers(dimension),
    )
    if progress:
        progress("checked", len(rows), len(rows))
    if plan.changes:  # a re-load of identical rows writes and records nothing
        await _write_load(session, dimension.id, plan, {m.code: m.id for m in stored}, progress)
        uow.record(
            after={
                "dimension": dimension.id,
                "created": len(plan.create),
                "updated": len(plan.update),
                "unchanged": plan.unchanged,
            }
        )
    by_code = {m.code: m for m in stored}
    named = (
        await repo.members_by_codes(session, dimension.id, plan.codes)
        if plan.changes
        else [by_code.get(c) for c in plan.codes]
    )
    return LoadResult(
        dimension=dimension,
        created=len(plan.create),
        updated=len(plan.update),
        unchanged=plan.unchanged,
        members=[m for m in named if m is not None],
    )


async def _write_load(
    session: Session,
    dimension_id: int,
    plan: LoadPlan,
    ids: dict[str, int],
    progress: Progress | None,
) -> None:
    ids = dict(ids)
    # New members, parents first: one INSERT per depth level, ids known after each.
    depth_groups: list[list[Any]] = []
    placed: set[str] = set(ids)
    pending = list(plan.create)
    while pending:
        level = [m for m in pending if m.parent_code is None or m.parent_code in placed]
        if not level:  # plan_load refused cycles, so this cannot happen
            raise RuntimeError("unplaceable members in a checked load")
        depth_groups.append(level)
        placed.update(m.code for m in level)
        level_codes = {m.code for m in level}
        pending = [m for m in pending if m.code not in level_codes]
    done = 0
    for level in depth_groups:
        for start in range(0, len(level), 2000):
            chunk = level[start : start + 2000]
            ids.update(
                await repo.insert_members(
                    session,
                    [
                        {
                            "dimension_id": dimension_id,
                            "code": m.code,
                            "name": m.name,
                            "parent_id": ids[m.parent_code] if m.parent_code else None,
                            "sort_order": m.sort_order,
                            "attributes": m.attributes,
                        }
                        for m in chunk
                    ],
                )
            )
            done += len(chunk)
            if progress:
                progress("written", done, len(plan.create) + len(plan.update))
    if plan.update:
        await repo.update_members(
            session,
            [
                {
                    "id": m.id,
                    "name": m.name,
                    "parent_id": ids[m.parent_code] if m.parent_code else None,
                    "sort_order": m.sort_order,
                    "attributes": m.attributes,
                }
                for m in plan.update
            ],
        )
        if progress:
            progress(
                "written", len(plan.create) + len(plan.update), len(plan.create) + len(plan.update)
            )
    if plan.create or plan.update:  # any update may change a sort order or a parent
        await repo.recompute_member_paths(session, dimension_id)


@dataclass(frozen=True, slots=True)
class MemberUpdate:
    member_id: int
    code: str | None = None
    name: str | None = None
    sort_order: int | None = None
    attributes: Mapping[str, Any] | None = None
    """Attributes to set; a key set to None removes the attribute."""


@write(AuditAction.MEMBER_UPDATE)
async def update_member(uow: UnitOfWork, command: MemberUpdate) -> Member:
    """Rename, re-code, reorder or change attributes. Values equal to the stored ones
    change nothing and record nothing."""
    session = uow.session
    member = await _member(session, command.member_id)
    dimension = await _dimension(session, member.dimension_id, "id")
    before: dict[str, Any] = {
        "code": member.code,
        "name": member.name,
        "sortOrder": member.sort_order,
        "attributes": dict(member.attributes),
    }
    after: dict[str, Any] = dict(before)
    if command.name is not None:
        after["name"] = tree.clean_name(command.name, "name")
    if command.code is not None:
        new_code = tree.clean_code(command.code, "code")
        if new_code != member.code and await repo.member_by_code(
            session, member.dimension_id, new_code
        ):
            raise InvalidInputError(
                "DUPLICATE", f"{dimension.name} already has code {new_code!r}", "code"
            )
        after["code"] = new_code
    if command.sort_order is not None:
        after["sortOrder"] = check_sort_order(command.sort_order)
    if command.attributes is not None:
        merged = {**member.attributes, **command.attributes}
        after["attributes"] = check_attributes(
            DimensionKind(dimension.kind),
            {k: v for k, v in merged.items() if v is not None},
            tiers=_tiers(dimension),
        ).to_json()
    if after == before:
        return member
    member.code = after["code"]
    member.name = after["name"]
    member.sort_order = after["sortOrder"]
    member.attributes = after["attributes"]
    # A new sort order or code moves the member (and its subtree) in tree order.
    await repo.reorder_member(session, member)
    await session.flush()
    uow.record(before={"member": member.id, **before}, after={"member": member.id, **after})
    return member


@dataclass(frozen=True, slots=True)
class MemberMove:
    member_id: int
    parent_id: int | None


@write(AuditAction.MEMBER_MOVE)
async def move_member(uow: UnitOfWork, command: MemberMove) -> Member:
    """Move a member (and its subtree) under another parent, or to the top level."""
    session = uow.session
    member = await _member(session, command.member_id)
    parent_id = command.parent_id
    await _dimension(session, member.dimension_id, "id")
    await repo.lock_dimension(session, member.dimension_id)
    ancestry = None
    if parent_id is not None:
        parent = await _member(session, parent_id, "parentId")
        if parent.dimension_id != member.dimension_id:
            raise InvalidInputError(
                "WRONG_DIMENSION",
                f"parentId ({parent.code}) is in another dimension",
                "parentId",
            )
        ancestry = [(m.id, m.code) for m in await repo.member_ancestry(session, parent)]
    height = 0
    if ancestry is not None and len(ancestry) > member.depth:  # deeper: the subtree too
        height = await repo.member_subtree_height(session, member)
    check_move(member.id, member.code, ancestry, height)
    if member.parent_id != parent_id:
        uow.record(
            before={"member": member.id, "parent": member.parent_id},
            after={"member": member.id, "parent": parent_id},
        )
        member.parent_id = parent_id
        await session.flush()
        await repo.recompute_member_paths(session, member.dimension_id)
        await session.refresh(member)
    return member


@dataclass(frozen=True, slots=True)
class MemberRetire:
    member_id: int


@write(AuditAction.MEMBER_RETIRE)
async def retire_member(uow: UnitOfWork, command: MemberRetire) -> Member:
    """Retire a member: kept for history and existing targets, refused for new splits."""
    session = uow.session
    member = await _member(session, command.member_id)
    await _dimension(session, member.dimension_id, "id")
    if member.retired_at is None:
        member.retired_at = datetime.now(UTC)
        await session.flush()
        uow.record(before={"member": member.id, "retired": False}, after={"retired": True})
    return member


# --- reads --------------------------------------------------------------------------


def _check_depth(max_depth: int | None) -> None:
    if max_depth is not None and not 1 <= max_depth <= MAX_HIERARCHY_DEPTH:
        raise InvalidInputError(
            "OUT_OF_RANGE",
            f"`maxDepth` must be between 1 and {MAX_HIERARCHY_DEPTH}",
            "maxDepth",
        )


async def descendants_page(
    db: Database, member: Member, max_depth: int | None, request: PageRequest
) -> Page[Member]:
    """The members below ``member`` in tree order, down to ``max_depth`` levels."""
    _check_depth(max_depth)
    async with db.read_session() as session:
        return await repo.member_descendants_page(session, member, max_depth, request)


async def descendants_count(db: Database, member: Member, max_depth: int | None) -> int:
    _check_depth(max_depth)
    async with db.read_session() as session:
        return await repo.member_descendants_count(session, member, max_depth)
