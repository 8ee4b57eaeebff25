"""versionReplan: a new draft re-planned from the actuals of the closed periods.

The arithmetic is :func:`service.domain.replan_tree.replan_tree` (its docstring
has the rules); this reads the version, the periods and their actuals, copies the
version into a new draft (one INSERT ... SELECT, keys kept), stores the moved
targets and records one audit entry for the version and one per moved node.

**Closed periods** are the time members whose last day is on or before ``asOf``
(``asOf`` is the last day counted as done). ``asOf`` must lie inside the plan's
fiscal year and before its last day (on the last day nothing is left to
re-plan). An actual is everything sold inside the period's slice (the member or
any descendant on every other coordinate, the period's days), in the plan's
currency (or quantity for a quantity plan).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from service.db import repositories as repo
from service.db import reviews as review_repo
from service.db.facts import SliceQuery, slice_totals
from service.db.models import PlanVersion, TargetNode
from service.domain import tree
from service.domain.allocation import Units, buffer_of
from service.domain.allocation.rebalance import TreeNode
from service.domain.audit import AuditAction
from service.domain.history import actual_of, year_bounds
from service.domain.replan_tree import PeriodState, replan_tree
from service.domain.tree import InvalidInputError, Measure, VersionState
from service.plans.uow import UnitOfWork
from service.plans.usecase import write


@dataclass(frozen=True, slots=True)
class Replan:
    source_id: int
    as_of: date
    review_id: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Replanned:
    version: PlanVersion
    changed: list[TargetNode]
    """Every node whose target moved, in tree order."""
    frozen: int
    """How many closed periods now hold their actuals."""
    notes: list[str]


@write(AuditAction.VERSION_REPLAN)
async def replan_version(uow: UnitOfWork, command: Replan) -> Replanned:
    """Copy a version into a new draft re-planned from the actuals as of a date."""
    session = uow.session
    name = tree.clean_name(command.name, "name") if command.name is not None else None
    (source,) = await repo.versions_by_ids(session, [command.source_id])
    if source is None:
        raise InvalidInputError("NOT_FOUND", "from is not a known version", "from")
    (plan,) = await repo.plans_by_ids(session, [source.plan_id])
    assert plan is not None
    review = None
    if command.review_id is not None:
        (review,) = await review_repo.reviews_by_ids(session, [command.review_id])
        if review is None:
            raise InvalidInputError("NOT_FOUND", "reviewId is not a known review", "reviewId")
        if review.plan_id != plan.id:
            raise InvalidInputError(
                "INVALID_VALUE", "reviewId is a review of another plan", "reviewId"
            )
    start, end = year_bounds(plan.calendar, plan.fiscal_year)
    last_day = end - timedelta(days=1)
    if not start <= command.as_of < last_day:
        raise InvalidInputError(
            "OUT_OF_RANGE",
            f"asOf must fall inside FY{plan.fiscal_year} ({start.isoformat()} to "
            f"{last_day.isoformat()}) and before its last day, got {command.as_of.isoformat()}",
            "asOf",
        )
    (root,) = await repo.roots_by_version_ids(session, [source.id])
    assert root is not None
    nodes = await repo.subtree(session, root)
    member_ids = sorted({n.member_id for n in nodes if n.member_id is not None})
    members = {m.id: m for m in await repo.members_by_ids(session, member_ids) if m}
    time_id = plan.time_dimension_id
    period_nodes = [n for n in nodes if time_id is not None and n.dimension_id == time_id]
    closed: list[TargetNode] = []
    for n in period_nodes:
        member = members[n.member_id or 0]
        assert member.ends_on is not None
        if member.ends_on - timedelta(days=1) <= command.as_of:
            closed.append(n)
    queries = []
    for n in closed:
        member = members[n.member_id or 0]
        assert member.starts_on is not None and member.ends_on is not None
        queries.append(
            SliceQuery(
                [(d, m) for d, m in n.coordinates if d != time_id],
                member.starts_on,
                member.ends_on,
            )
        )
    measure = Measure(plan.measure)
    totals = await slice_totals(
        session, queries, currency=plan.currency if measure is Measure.AMOUNT else None
    )
    actuals = {
        n.key: actual_of(measure, plan.minor_digits, t.amount, t.quantity)
        for n, t in zip(closed, totals, strict=True)
    }
    periods = {
        str(n.key): PeriodState(closed=n.key in actuals, actual=actuals.get(n.key))
        for n in period_nodes
    }
    units = Units(plan.minor_digits)
    result = replan_tree(
        [
            TreeNode(
                key=str(n.key),
                parent_key=None if n.parent_key is None else str(n.parent_key),
                amount=n.target,
                locked=n.locked,
                floor=n.floor,
                cap=n.cap,
                label="the plan" if n.member_id is None else members[n.member_id].code,
                buffer=buffer_of(n.split_spec),
                split=n.split_dimension_id is not None,
            )
            for n in nodes
        ],
        periods,
        as_of=command.as_of.isoformat(),
        units=units,
    )
    await repo.plan_for_update(session, plan.id)
    number = await repo.next_version_number(session, plan.id)
    draft: PlanVersion = await repo.add(
        session,
        PlanVersion(
            plan_id=plan.id,
            number=number,
            name=name or f"Version {number} (re-plan of version {source.number})",
            state=VersionState.DRAFT.value,
            copied_from_id=source.id,
            replan_review_id=None if review is None else review.id,
            replan_as_of=command.as_of,
            created_by=uow.principal.subject,
        ),
    )
    copied = await repo.copy_nodes(session, source.id, draft.id)
    await repo.update_nodes(
        session,
        [
            {
                "version_id": draft.id,
                "key": int(c.key),
                "target": c.new_amount,
                "explanation": c.explanation,
            }
            for c in result.changes
        ],
    )
    uow.record(
        plan_id=plan.id,
        version_id=draft.id,
        after={
            "from": source.number,
            "number": number,
            "nodes": copied,
            "asOf": command.as_of.isoformat(),
            "review": None if review is None else review.id,
            "closedPeriods": len(result.frozen),
            "moved": len(result.changes),
            "notes": list(result.notes),
        },
    )
    for c in result.changes:
        uow.record(
            plan_id=plan.id,
            version_id=draft.id,
            node_key=int(c.key),
            before={"target": c.old_amount},
            after={"target": c.new_amount},
        )
    changed = [
        n
        for n in await repo.nodes_by_ids(session, [(draft.id, int(c.key)) for c in result.changes])
        if n is not None
    ]
    await session.refresh(draft)
    return Replanned(
        version=draft, changed=changed, frozen=len(result.frozen), notes=list(result.notes)
    )
