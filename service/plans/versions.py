"""Plan versions: copy-on-write drafts, the review lifecycle, and diffs."""

from __future__ import annotations

from dataclasses import dataclass

from service.auth import Principal, Role
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import PlanVersion, TargetNode
from service.domain import tree
from service.domain.tree import InvalidInputError, VersionState
from service.domain.versions import Transition, plan_transition
from service.plans.access import require_planner
from service.plans.uow import transaction

MAX_DIFF_ROWS = 10_000


async def create_draft(
    db: Database, principal: Principal, *, source_id: int, name: str | None
) -> PlanVersion:
    """Copy any version into a new draft: one INSERT ... SELECT, node keys kept."""
    require_planner(principal, "versionCreateDraft")
    clean = tree.clean_name(name, "name") if name is not None else None
    async with transaction(db, principal, "versionCreateDraft") as uow:
        session = uow.session
        (source,) = await repo.versions_by_ids(session, [source_id])
        if source is None:
            raise InvalidInputError("NOT_FOUND", "from is not a known version", "from")
        # Numbers are handed out under the plan's row lock.
        await repo.plan_for_update(session, source.plan_id)
        number = await repo.next_version_number(session, source.plan_id)
        draft = await repo.add(
            session,
            PlanVersion(
                plan_id=source.plan_id,
                number=number,
                name=clean or f"Version {number} (from version {source.number})",
                state=VersionState.DRAFT.value,
                copied_from_id=source.id,
                created_by=principal.subject,
            ),
        )
        copied = await repo.copy_nodes(session, source.id, draft.id)
        uow.record(
            plan_id=source.plan_id,
            version_id=draft.id,
            after={"from": source.number, "number": number, "nodes": copied},
        )
        await session.refresh(draft)
        return draft  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class TransitionResult:
    version: PlanVersion
    archived: list[PlanVersion]
    """Versions archived as a side effect (the previously published one)."""


async def transition(
    db: Database,
    principal: Principal,
    *,
    version_id: int,
    action: Transition,
    revision: int,
    reason: str | None = None,
) -> TransitionResult:
    require_planner(principal, f"version{action.value.title()}")
    async with transaction(db, principal, f"version{action.value.title()}") as uow:
        session = uow.session
        version = await repo.version_for_update(session, version_id)
        if version is None:
            raise InvalidInputError("NOT_FOUND", "id is not a known version", "id")
        if version.revision != revision:
            raise InvalidInputError(
                "CONFLICT",
                f"the version changed since you read it (revision {revision} sent, it is "
                f"{version.revision} now); reload it",
                "revision",
            )
        target, clean_reason = plan_transition(
            action,
            VersionState(version.state),
            is_admin=principal.has(Role.ADMIN),
            reason=reason,
        )
        archived: list[PlanVersion] = []
        if target is VersionState.PUBLISHED:
            await repo.plan_for_update(session, version.plan_id)
            for previous in await repo.published_versions(session, version.plan_id):
                previous.state = VersionState.ARCHIVED.value
                archived.append(previous)
            await session.flush()
        before = version.state
        version.state = target.value
        await session.flush()
        uow.record(
            plan_id=version.plan_id,
            version_id=version.id,
            before={"state": before},
            after={"state": target.value},
            reason=clean_reason,
        )
        for previous in archived:
            uow.record(
                plan_id=previous.plan_id,
                version_id=previous.id,
                before={"state": "PUBLISHED"},
                after={"state": "ARCHIVED"},
            )
        await session.refresh(version)
        return TransitionResult(version=version, archived=archived)


@dataclass(frozen=True, slots=True)
class NodeChange:
    key: int
    base: TargetNode | None
    other: TargetNode | None


@dataclass(frozen=True, slots=True)
class VersionDiff:
    base: PlanVersion
    other: PlanVersion
    changes: list[NodeChange]
    truncated: bool


async def diff(
    db: Database, *, base_id: int, other_id: int, limit: int = MAX_DIFF_ROWS
) -> VersionDiff:
    async with db.session() as session:
        base, other = await repo.versions_by_ids(session, [base_id, other_id])
        if base is None:
            raise InvalidInputError("NOT_FOUND", "base is not a known version", "base")
        if other is None:
            raise InvalidInputError("NOT_FOUND", "other is not a known version", "other")
        if base.plan_id != other.plan_id:
            raise InvalidInputError(
                "INVALID_VALUE", "the two versions belong to different plans", "other"
            )
        rows = await repo.diff_versions(session, base.id, other.id, limit + 1)
    return VersionDiff(
        base=base,
        other=other,
        changes=[NodeChange(k, b, o) for k, b, o in rows[:limit]],
        truncated=len(rows) > limit,
    )
