"""Dimensions and their members: create, bulk-load, update, move, retire."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from service.auth import Principal
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import Dimension, Member
from service.domain import tree
from service.domain.hierarchy import LoadPlan, MemberRow, StoredMember, plan_load
from service.domain.members import DEFAULT_TIERS, check_attributes, check_depth, check_move
from service.domain.tree import DimensionKind, InvalidInputError
from service.plans.access import require_planner
from service.plans.uow import transaction


async def create_dimension(
    db: Database,
    principal: Principal,
    *,
    name: str,
    kind: DimensionKind,
    tiers: Sequence[str] | None = None,
) -> Dimension:
    """An organisation dimension. Time dimensions come from a plan's calendar instead."""
    require_planner(principal, "dimensionCreate")
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
    async with transaction(db, principal, "dimensionCreate") as uow:
        session = uow.session
        if await repo.dimension_by_name(session, clean) is not None:
            raise InvalidInputError(
                "DUPLICATE", f"a dimension named {clean!r} already exists", "name"
            )
        dimension: Dimension = await repo.add(
            session, Dimension(name=clean, kind=kind.value, config=config)
        )
        uow.record(after={"dimension": dimension.id, "name": clean, "kind": kind.value, **config})
        return dimension


def _tiers(dimension: Dimension) -> tuple[str, ...]:
    return tuple(dimension.config.get("tiers") or DEFAULT_TIERS)


async def _dimension(session: Any, dimension_id: int, field: str = "dimensionId") -> Dimension:
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


async def _member(session: Any, member_id: int, field: str = "id") -> Member:
    (member,) = await repo.members_by_ids(session, [member_id])
    if member is None:
        raise InvalidInputError("NOT_FOUND", f"{field} is not a known member", field)
    return member


async def create_member(
    db: Database,
    principal: Principal,
    *,
    dimension_id: int,
    code: str,
    name: str,
    parent_id: int | None,
    sort_order: int = 0,
    attributes: Mapping[str, Any] | None = None,
) -> Member:
    require_planner(principal, "memberCreate")
    clean_code = tree.clean_code(code, "code")
    clean_name = tree.clean_name(name, "name")
    async with transaction(db, principal, "memberCreate") as uow:
        session = uow.session
        dimension = await _dimension(session, dimension_id)
        attrs = check_attributes(
            DimensionKind(dimension.kind), attributes or {}, tiers=_tiers(dimension)
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
        if await repo.member_by_code(session, dimension_id, clean_code) is not None:
            raise InvalidInputError(
                "DUPLICATE",
                f"{dimension.name} already has a member with code {clean_code!r}",
                "code",
            )
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
        except IntegrityError:  # a concurrent create of the same code won the race
            raise InvalidInputError(
                "DUPLICATE",
                f"{dimension.name} already has a member with code {clean_code!r}",
                "code",
            ) from None
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


async def load_members(
    db: Database,
    principal: Principal,
    *,
    dimension_id: int,
    rows: Sequence[MemberRow],
    progress: Any = None,
) -> LoadResult:
    """All-or-nothing bulk load (``membersCreate``, ``quotatree import members``).

    Every row is checked before anything is written; re-loading the same rows
    changes nothing; changed rows update names, attributes and parents in place.
    ``progress`` is called with (phase, done, total) for command-line progress.
    """
    require_planner(principal, "membersCreate")
    async with transaction(db, principal, "membersCreate") as uow:
        session = uow.session
        dimension = await _dimension(session, dimension_id)
        # Serialise loads of one dimension: two concurrent loads would plan
        # against the same stale snapshot.
        await repo.lock_dimension(session, dimension_id)
        stored = await repo.members_of_dimension(session, dimension_id)
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
        await _write_load(session, dimension_id, plan, {m.code: m.id for m in stored}, progress)
        named = await repo.members_by_codes(
            session, dimension_id, [tree.clean_code(r.code, "code") for r in rows]
        )
        uow.record(
            after={
                "dimension": dimension_id,
                "created": len(plan.create),
                "updated": len(plan.update),
                "unchanged": plan.unchanged,
            }
        )
        return LoadResult(
            dimension=dimension,
            created=len(plan.create),
            updated=len(plan.update),
            unchanged=plan.unchanged,
            members=[m for m in named if m is not None],
        )


async def _write_load(
    session: Any, dimension_id: int, plan: LoadPlan, ids: dict[str, int], progress: Any
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
    # Paths follow parents (moves) and sort paths follow sort orders (any update).
    if plan.create or plan.update:
        await repo.recompute_member_paths(session, dimension_id)


async def update_member(
    db: Database,
    principal: Principal,
    *,
    member_id: int,
    name: str | None = None,
    code: str | None = None,
    sort_order: int | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Member:
    """Rename, re-code, reorder or change attributes (keys set to null are removed)."""
    require_planner(principal, "memberUpdate")
    async with transaction(db, principal, "memberUpdate") as uow:
        session = uow.session
        member = await _member(session, member_id)
        dimension = await _dimension(session, member.dimension_id, "id")
        before = {
            "code": member.code,
            "name": member.name,
            "sortOrder": member.sort_order,
            "attributes": dict(member.attributes),
        }
        if name is not None:
            member.name = tree.clean_name(name, "name")
        if code is not None:
            new_code = tree.clean_code(code, "code")
            if new_code != member.code:
                if await repo.member_by_code(session, member.dimension_id, new_code):
                    raise InvalidInputError(
                        "DUPLICATE", f"{dimension.name} already has code {new_code!r}", "code"
                    )
                member.code = new_code
        if sort_order is not None:
            member.sort_order = sort_order
        # A new sort order or code moves the member (and its subtree) in tree order.
        await repo.reorder_member(session, member)
        if attributes is not None:
            merged = {**member.attributes, **attributes}
            merged = {k: v for k, v in merged.items() if v is not None}
            member.attributes = check_attributes(
                DimensionKind(dimension.kind), merged, tiers=_tiers(dimension)
            ).to_json()
        await session.flush()
        uow.record(
            before={"member": member.id, **before},
            after={
                "member": member.id,
                "code": member.code,
                "name": member.name,
                "sortOrder": member.sort_order,
                "attributes": member.attributes,
            },
        )
        return member


async def move_member(
    db: Database, principal: Principal, *, member_id: int, parent_id: int | None
) -> Member:
    """Move a member (and its subtree) under another parent, or to the top level."""
    require_planner(principal, "memberMove")
    async with transaction(db, principal, "memberMove") as uow:
        session = uow.session
        member = await _member(session, member_id)
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
        check_move(member.id, member.code, ancestry)
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


async def retire_member(db: Database, principal: Principal, *, member_id: int) -> Member:
    """Retire a member: kept for history and existing targets, refused for new splits."""
    require_planner(principal, "memberRetire")
    async with transaction(db, principal, "memberRetire") as uow:
        session = uow.session
        member = await _member(session, member_id)
        await _dimension(session, member.dimension_id, "id")
        if member.retired_at is None:
            member.retired_at = datetime.now(UTC)
            await session.flush()
            uow.record(before={"member": member.id, "retired": False}, after={"retired": True})
        return member
