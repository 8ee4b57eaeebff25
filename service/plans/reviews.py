"""Reviews (复盘): what a team concluded about a node and period, and the reads of them.

A review is recorded on any version (usually the published one: a review looks at
how the plan in force is doing), on one of its nodes and optionally one period of
the plan's calendar. It is a record, not an edit of the tree: the version's
revision does not move. A re-plan (``versionReplan``) may name the review that
prompted it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from service.db import repositories as repo
from service.db import reviews as review_repo
from service.db.models import Review
from service.domain.audit import AuditAction
from service.domain.tree import InvalidInputError
from service.domain.values import clean_text
from service.plans.uow import UnitOfWork
from service.plans.usecase import write

MAX_NOTES_LENGTH = 20_000
"""Longest notes (and decisions) of one review, in characters."""


@dataclass(frozen=True, slots=True)
class ReviewCreate:
    version_id: int
    key: int
    held_on: date
    notes: str
    decisions: str | None = None
    period_id: int | None = None


@write(AuditAction.REVIEW_CREATE)
async def create_review(uow: UnitOfWork, command: ReviewCreate) -> Review:
    """Record a review of a node (and a period of the plan's calendar): notes,
    decisions, when it was held; who and when it was recorded come from the call."""
    session = uow.session
    notes = clean_text(command.notes, "notes", max_length=MAX_NOTES_LENGTH, kind="text")
    assert notes is not None
    decisions = None
    if command.decisions is not None:
        decisions = clean_text(
            command.decisions,
            "decisions",
            max_length=MAX_NOTES_LENGTH,
            kind="text",
            required=False,
        )
    node = await repo.node(session, command.version_id, command.key)
    if node is None:
        raise InvalidInputError("NOT_FOUND", "nodeId is not a known node", "nodeId")
    (plan,) = await repo.plans_by_ids(session, [node.plan_id])
    assert plan is not None
    period_code = None
    if command.period_id is not None:
        (period,) = await repo.members_by_ids(session, [command.period_id])
        if period is None:
            raise InvalidInputError("NOT_FOUND", "periodId is not a known member", "periodId")
        if period.dimension_id != plan.time_dimension_id:
            raise InvalidInputError(
                "WRONG_DIMENSION",
                "periodId must be a member of the plan's calendar (its timeDimension)",
                "periodId",
            )
        period_code = period.code
    review = await review_repo.add_review(
        session,
        Review(
            plan_id=node.plan_id,
            version_id=node.version_id,
            node_key=node.key,
            period_member_id=command.period_id,
            held_on=command.held_on,
            notes=notes,
            decisions=decisions,
            created_by=uow.principal.subject,
        ),
    )
    uow.record(
        plan_id=node.plan_id,
        version_id=node.version_id,
        node_key=node.key,
        after={
            "review": review.id,
            "heldOn": command.held_on.isoformat(),
            "period": period_code,
            "notes": notes,
            "decisions": decisions,
        },
    )
    return review


# --- reads --------------------------------------------------------------------------
