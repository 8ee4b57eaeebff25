"""Plan versions: copy-on-write drafts, the review lifecycle, and diffs."""

from __future__ import annotations

from dataclasses import dataclass

from service.auth import Role
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import Plan, PlanVersion, TargetNode
from service.domain import tree
from service.domain.audit import AuditAction
from service.domain.tree import InvalidInputError, VersionState
from service.domain.versions import NodeDiff, NodeState, Transition, diff_node, plan_transition
from service.plans.uow import UnitOfWork, VersionEdit
from service.plans.usecase import UseCase, version_edit, write

MAX_DIFF_ROWS = 10_000
"""Most changed nodes one diff lists (``truncated`` says when there are more)."""


@dataclass(frozen=True, slots=True)
class DraftCreate:
    source_id: int
    name: str | None = None


@write(AuditAction.VERSION_CREATE_DRAFT)
async def create_draft(uow: UnitOfWork, command: DraftCreate) -> PlanVersion:
    """Copy any version into a new draft: one INSERT ... SELECT, node keys kept."""
    name = tree.clean_name(command.name, "name") if command.name is not None else None
    session = uow.session
    (source,) = await repo.versions_by_ids(session, [command.source_id])
    if source is None:
        raise InvalidInputError("NOT_FOUND", "from is not a known version", "from")
    # Numbers are handed out under the plan's row lock.
    await repo.plan_for_update(session, source.plan_id)
    number = await repo.next_version_number(session, source.plan_id)
    draft: PlanVersion = await repo.add(
        session,
        PlanVersion(
            plan_id=source.plan_id,
            number=number,
            name=name or f"Version {number} (from version {source.number})",
            state=VersionState.DRAFT.value,
            copied_from_id=source.id,
            created_by=uow.principal.subject,
        ),
    )
    copied = await repo.copy_nodes(session, source.id, draft.id)
    uow.record(
        plan_id=source.plan_id,
        version_id=draft.id,
        after={"from": source.number, "number": number, "nodes": copied},
    )
    await session.refresh(draft)
    return draft


@dataclass(frozen=True, slots=True)
class VersionTransition:
    version_id: int
    revision: int
    reason: str | None = None
    """Kept with the change; required to reject."""


@dataclass(frozen=True, slots=True)
class TransitionResult:
    version: PlanVersion
    archived: list[PlanVersion]
    """Versions archived as a side effect (the previously published one)."""


def _transition(
    action: AuditAction, step: Transition
) -> UseCase[VersionTransition, TransitionResult]:
    @version_edit(action)
    async def run(edit: VersionEdit, command: VersionTransition) -> TransitionResult:
        version = edit.version
        target, reason = plan_transition(
            step,
            VersionState(version.state),
            is_admin=edit.principal.has(Role.ADMIN),
            reason=command.reason,
        )
        session = edit.session
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
        edit.record(
            plan_id=version.plan_id,
            version_id=version.id,
            before={"state": before},
            after={"state": target.value},
            reason=reason,
        )
        for previous in archived:
            edit.record(
                plan_id=previous.plan_id,
                version_id=previous.id,
                before={"state": VersionState.PUBLISHED.value},
                after={"state": VersionState.ARCHIVED.value},
            )
        return TransitionResult(version=version, archived=archived)

    return run


submit = _transition(AuditAction.VERSION_SUBMIT, Transition.SUBMIT)
reject = _transition(AuditAction.VERSION_REJECT, Transition.REJECT)
approve = _transition(AuditAction.VERSION_APPROVE, Transition.APPROVE)
publish = _transition(AuditAction.VERSION_PUBLISH, Transition.PUBLISH)
archive = _transition(AuditAction.VERSION_ARCHIVE, Transition.ARCHIVE)


# --- reads --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeChange:
    key: int
    base: TargetNode | None
    other: TargetNode | None
    diff: NodeDiff


@dataclass(frozen=True, slots=True)
class VersionDiff:
    plan: Plan
    base: PlanVersion
    other: PlanVersion
    changes: list[NodeChange]
    truncated: bool


def _state(node: TargetNode | None) -> NodeState | None:
    if node is None:
        return None
    return NodeState(
        target=node.target,
        locked=node.locked,
        floor=node.floor,
        cap=node.cap,
        parent_key=node.parent_key,
        coordinates=tuple((d, m) for d, m in node.coordinates),
        split_dimension_id=node.split_dimension_id,
        split_spec=node.split_spec,
        owner_id=node.owner_id,
        strategy=node.strategy,
        kpis=tuple(sorted(node.kpis.items())),
    )


async def diff(
    db: Database, *, base_id: int, other_id: int, limit: int = MAX_DIFF_ROWS
) -> VersionDiff:
    """Nodes added, removed and changed between two versions of one plan, by key."""
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
        (plan,) = await repo.plans_by_ids(session, [base.plan_id])
        assert plan is not None
        rows = await repo.diff_versions(session, base.id, other.id, limit + 1)
    return VersionDiff(
        plan=plan,
        base=base,
        other=other,
        changes=[NodeChange(k, b, o, diff_node(_state(b), _state(o))) for k, b, o in rows[:limit]],
        truncated=len(rows) > limit,
    )
