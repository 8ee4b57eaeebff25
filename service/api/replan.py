"""versionReplan: a new draft whose closed periods hold their actuals and whose open
periods share what is left of each target."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from service.api import ids
from service.api.context import Context
from service.api.errors import UserError
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.nodes import TargetNode
from service.api.versions import PlanVersion
from service.plans import replan as usecases


@strawberry.input(
    description="Re-plan a version from the actuals: a new draft in which the closed periods "
    "of every time split hold their actuals and each remaining gap is spread over the open "
    "periods in proportion to their targets; subtrees follow, every total above a time "
    "split stays."
)
class VersionReplanInput:
    from_: strawberry.ID = strawberry.field(
        name="from", description="The version to re-plan (any state; usually the published one)."
    )
    as_of: date = strawberry.field(
        description="The last day counted as done: periods ending on or before it are closed. "
        "Inside the plan's fiscal year, before its last day."
    )
    review_id: strawberry.ID | None = strawberry.field(
        default=None, description="The review (复盘) that prompted the re-plan, linked to it."
    )
    name: str | None = strawberry.field(default=None, description="Name of the new draft.")
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )

    def command(self) -> usecases.Replan:
        return usecases.Replan(
            source_id=ids.decode(self.from_, "PlanVersion", "from"),
            as_of=self.as_of,
            review_id=None
            if self.review_id is None
            else ids.decode(self.review_id, "Review", "reviewId"),
            name=self.name,
        )


@strawberry.type(description="Result of versionReplan.")
class VersionReplanPayload(Payload[usecases.Replanned]):
    version: PlanVersion | None = strawberry.field(description="The new draft.")
    changed: list[TargetNode] | None = strawberry.field(
        description="Every node whose target moved, in tree order (its auditTrail has the "
        "before and after)."
    )
    frozen_periods: int | None = strawberry.field(
        description="How many closed periods now hold their actuals."
    )
    notes: list[str] | None = strawberry.field(
        description="What the re-plan could not do exactly (e.g. closed periods whose actuals "
        "do not add up to their parent, re-split in proportion instead)."
    )
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, done: usecases.Replanned) -> VersionReplanPayload:
        return cls(
            version=PlanVersion(row=done.version),
            changed=[TargetNode(row=n) for n in done.changed],
            frozen_periods=done.frozen,
            notes=done.notes,
            user_errors=[],
        )


@strawberry.type
class ReplanMutations:
    @strawberry.mutation(
        description="Re-plan a version from its actuals as of a date into a new draft; the "
        "review that prompted it is linked, every moved target is audited."
    )
    async def version_replan(
        self, info: Info[Context, None], input: Annotated[VersionReplanInput, INPUT]
    ) -> VersionReplanPayload:
        return await mutate(
            info, usecases.replan_version, input.command, VersionReplanPayload, reason=input.reason
        )
