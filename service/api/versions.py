"""Version lifecycle mutations and the version diff."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from service.api import ids
from service.api.change import change
from service.api.context import Context
from service.api.errors import PublicError, UserError, user_error
from service.api.types import Amount, BigIntID, PlanVersion, TargetNode
from service.domain.errors import DomainError
from service.domain.money import format_amount
from service.domain.versions import Transition
from service.plans import versions as usecases


@strawberry.input(description="Copy a version into a new draft (copy-on-write).")
class VersionCreateDraftInput:
    from_: strawberry.ID = strawberry.field(
        name="from", description="The version to copy: any state, any age."
    )
    name: str | None = strawberry.field(default=None, description="Name of the new draft.")
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )


@strawberry.input(description="Move a version along its lifecycle.")
class VersionTransitionInput:
    id: strawberry.ID = strawberry.field(description="The version.")
    revision: int = strawberry.field(
        description="The version's revision you last read; a stale one is a CONFLICT."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why (required to reject; kept with the change)."
    )


@strawberry.type(description="Result of a version mutation.")
class VersionPayload:
    version: PlanVersion | None = strawberry.field(description="The version, as changed.")
    archived: list[PlanVersion] | None = strawberry.field(
        description="Versions archived by this change (publishing archives the previous one)."
    )
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="One node that differs between two versions, matched by key.")
class NodeChange:
    key: BigIntID = strawberry.field(description="The node's stable key.")
    base: TargetNode | None = strawberry.field(description="The node in the base version.")
    other: TargetNode | None = strawberry.field(description="The node in the other version.")
    old_target: Amount | None = strawberry.field(description="Target in base; null when added.")
    new_target: Amount | None = strawberry.field(description="Target in other; null when removed.")
    delta: Amount | None = strawberry.field(description="new - old; null when added or removed.")
    kind: str = strawberry.field(description="ADDED, REMOVED or CHANGED.")


@strawberry.type(description="What differs between two versions of a plan.")
class VersionDiff:
    base: PlanVersion = strawberry.field(description="The base version.")
    other: PlanVersion = strawberry.field(description="The version compared with it.")
    changes: list[NodeChange] = strawberry.field(
        description=f"Changed nodes in key order, at most {usecases.MAX_DIFF_ROWS}."
    )
    truncated: bool = strawberry.field(description="True when more changes exist.")


async def version_diff(
    info: Info[Context, None], base: strawberry.ID, other: strawberry.ID
) -> VersionDiff:
    try:
        result = await usecases.diff(
            info.context.db,
            base_id=ids.decode(base, "PlanVersion", "base"),
            other_id=ids.decode(other, "PlanVersion", "other"),
        )
    except DomainError as exc:
        raise PublicError(exc.message, code=exc.code) from None
    plan = await info.context.loaders.plan_by_id.load(result.base.plan_id)
    assert plan is not None
    digits = plan.minor_digits
    changes = []
    for item in result.changes:
        old = item.base.target if item.base else None
        new = item.other.target if item.other else None
        kind = "ADDED" if old is None else "REMOVED" if new is None else "CHANGED"
        changes.append(
            NodeChange(
                key=BigIntID(str(item.key)),
                base=TargetNode(row=item.base) if item.base else None,
                other=TargetNode(row=item.other) if item.other else None,
                old_target=Amount(format_amount(old, digits)) if old is not None else None,
                new_target=Amount(format_amount(new, digits)) if new is not None else None,
                delta=(
                    Amount(format_amount(new - old, digits))
                    if old is not None and new is not None
                    else None
                ),
                kind=kind,
            )
        )
    return VersionDiff(
        base=PlanVersion(row=result.base),
        other=PlanVersion(row=result.other),
        changes=changes,
        truncated=result.truncated,
    )


async def _transition(
    info: Info[Context, None], input: VersionTransitionInput, action: Transition
) -> VersionPayload:
    try:
        with change(input.reason):
            done = await usecases.transition(
                info.context.db,
                info.context.caller,
                version_id=ids.decode(input.id, "PlanVersion", "id"),
                action=action,
                revision=input.revision,
                reason=input.reason,
            )
    except DomainError as exc:
        return VersionPayload(version=None, archived=None, user_errors=[user_error(exc)])
    return VersionPayload(
        version=PlanVersion(row=done.version),
        archived=[PlanVersion(row=v) for v in done.archived],
        user_errors=[],
    )


@strawberry.type
class VersionMutations:
    @strawberry.mutation(
        description="Copy any version into a new draft; node keys survive the copy, so nodes "
        "can be followed and diffed across versions."
    )
    async def version_create_draft(
        self, info: Info[Context, None], input: VersionCreateDraftInput
    ) -> VersionPayload:
        try:
            with change(input.reason):
                row = await usecases.create_draft(
                    info.context.db,
                    info.context.caller,
                    source_id=ids.decode(input.from_, "PlanVersion", "from"),
                    name=input.name,
                )
        except DomainError as exc:
            return VersionPayload(version=None, archived=None, user_errors=[user_error(exc)])
        return VersionPayload(version=PlanVersion(row=row), archived=[], user_errors=[])

    @strawberry.mutation(description="DRAFT → SUBMITTED (planner or admin).")
    async def version_submit(
        self, info: Info[Context, None], input: VersionTransitionInput
    ) -> VersionPayload:
        return await _transition(info, input, Transition.SUBMIT)

    @strawberry.mutation(description="SUBMITTED → DRAFT with a reason (admin).")
    async def version_reject(
        self, info: Info[Context, None], input: VersionTransitionInput
    ) -> VersionPayload:
        return await _transition(info, input, Transition.REJECT)

    @strawberry.mutation(description="SUBMITTED → APPROVED (admin).")
    async def version_approve(
        self, info: Info[Context, None], input: VersionTransitionInput
    ) -> VersionPayload:
        return await _transition(info, input, Transition.APPROVE)

    @strawberry.mutation(
        description="APPROVED → PUBLISHED (admin); the plan's previously published version is "
        "archived in the same step."
    )
    async def version_publish(
        self, info: Info[Context, None], input: VersionTransitionInput
    ) -> VersionPayload:
        return await _transition(info, input, Transition.PUBLISH)

    @strawberry.mutation(description="PUBLISHED or DRAFT → ARCHIVED (admin); read-only forever.")
    async def version_archive(
        self, info: Info[Context, None], input: VersionTransitionInput
    ) -> VersionPayload:
        return await _transition(info, input, Transition.ARCHIVE)
