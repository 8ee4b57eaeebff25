"""Plans: create one (with its calendar, version 1 and root), and read them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from service.db import repositories as repo
from service.db.engine import Session
from service.db.models import Dimension, Plan, PlanVersion, TargetNode
from service.domain import paths, tree
from service.domain.allocation.exact import BIGINT_MAX
from service.domain.audit import AuditAction
from service.domain.calendar import CalendarSpec, TimeLevel, TimeMember, generate_calendar
from service.domain.history import check_years, target_from_history
from service.domain.measures import plan_units
from service.domain.money import format_amount, parse_amount
from service.domain.tree import InvalidInputError, Measure, VersionState
from service.plans.history import history_totals
from service.plans.uow import UnitOfWork
from service.plans.usecase import write


@dataclass(frozen=True, slots=True)
class TargetHistory:
    """The overall target from past years' actuals: the latest year times ``1 + growth``,
    or (``trend``) the linear trend of the years extended to the plan's."""

    fiscal_years: tuple[int, ...]
    growth: Decimal | None = None
    trend: bool = False


@dataclass(frozen=True, slots=True)
class PlanCreate:
    name: str
    fiscal_year: int
    target: Decimal | None
    measure: Measure = Measure.AMOUNT
    currency: str | None = None
    unit: str | None = None
    decimals: int | None = None
    calendar: CalendarSpec | None = None
    """Gregorian months from January when not given."""
    from_history: TargetHistory | None = None
    """Instead of ``target``: the target from the stored actuals of past years."""


@dataclass(frozen=True, slots=True)
class PlanCreated:
    plan: Plan
    version: PlanVersion
    root: TargetNode


@write(AuditAction.PLAN_CREATE)
async def create_plan(uow: UnitOfWork, command: PlanCreate) -> PlanCreated:
    """A plan, its calendar, its version 1 as a draft, and the root holding the target.

    The calendar becomes the plan's own TIME dimension: year, quarters, months
    or retail periods and optionally weeks, each with its date range.
    """
    name = tree.clean_name(command.name, "name")
    units = plan_units(command.measure, command.currency, command.unit, command.decimals)
    tree.check_fiscal_year(command.fiscal_year)
    if (command.target is None) == (command.from_history is None):
        raise InvalidInputError(
            "INVALID_VALUE", "give either target or fromHistory (exactly one)", "target"
        )
    history = command.from_history
    if history is not None:
        if history.trend and history.growth is not None:
            raise InvalidInputError(
                "INVALID_VALUE",
                "fromHistory takes a growth rate or a trend, not both",
                "fromHistory.growth",
            )
        years = check_years(
            list(history.fiscal_years), command.fiscal_year, "fromHistory.fiscalYears"
        )
    amount = (
        0 if command.target is None else parse_amount(command.target, units.digits, field="target")
    )
    spec = command.calendar or CalendarSpec(fiscal_year=command.fiscal_year, start_month=1)
    if spec.fiscal_year != command.fiscal_year:
        raise InvalidInputError(
            "INVALID_VALUE", "the calendar's fiscal year differs from the plan's", "fiscalYear"
        )
    periods = generate_calendar(spec)
    session = uow.session
    plan = await repo.add(
        session,
        Plan(
            name=name,
            measure=units.measure.value,
            currency=units.currency,
            unit=units.unit,
            minor_digits=units.digits,
            fiscal_year=command.fiscal_year,
            calendar=calendar_to_json(spec),
            created_by=uow.principal.subject,
        ),
    )
    time_dimension = await repo.add(
        session,
        Dimension(
            kind=tree.DimensionKind.TIME.value,
            name=f"{periods[0].code} calendar",
            plan_id=plan.id,
            config={},
        ),
    )
    await _insert_calendar(session, time_dimension.id, periods)
    explanation = None
    if history is not None:
        digits = units.digits

        def text(value: int) -> str:
            return " ".join(filter(None, (format_amount(value, digits), units.currency)))

        computed = target_from_history(
            await history_totals(session, plan, years),
            command.fiscal_year,
            growth=history.growth,
            trend=history.trend,
            amount_text=text,
        )
        if computed.target > BIGINT_MAX:
            raise InvalidInputError(
                "AMOUNT_TOO_LARGE",
                "the target from history is above the largest target",
                "fromHistory",
            )
        amount = computed.target
        explanation = {
            "method": f"HISTORY_{computed.method}",
            "text": computed.explanation,
            "final": amount,
            "fiscalYears": [
                {"fiscalYear": t.fiscal_year, "actual": format_amount(t.total, digits)}
                for t in computed.years
            ],
            "growth": None if computed.growth is None else str(computed.growth),
        }
    plan.time_dimension_id = time_dimension.id
    version = await repo.add(
        session,
        PlanVersion(
            plan_id=plan.id,
            number=1,
            name="Version 1",
            state=VersionState.DRAFT.value,
            created_by=uow.principal.subject,
        ),
    )
    (key,) = await repo.new_node_keys(session, 1)
    root = TargetNode(
        version_id=version.id,
        key=key,
        plan_id=plan.id,
        parent_key=None,
        path=paths.child_path(None, key),
        sort_path=paths.node_sort_path(None, 0, key),
        depth=0,
        sort_order=0,
        coordinates=[],
        target=amount,
        explanation=explanation,
        locked=False,
        kpis={},
    )
    await repo.add_nodes(session, [root])
    uow.record(
        plan_id=plan.id,
        version_id=version.id,
        node_key=root.key,
        after={
            "plan": name,
            "measure": units.measure.value,
            "currency": units.currency,
            "unit": units.unit,
            "fiscalYear": command.fiscal_year,
            "target": amount,
            "calendar": plan.calendar,
            **({"targetFromHistory": explanation["text"]} if explanation else {}),
        },
    )
    await session.refresh(version)
    return PlanCreated(plan=plan, version=version, root=root)


def calendar_to_json(spec: CalendarSpec) -> dict[str, Any]:
    return {
        "fiscalYear": spec.fiscal_year,
        "startMonth": spec.start_month,
        "pattern": spec.pattern.value,
        "weeks": spec.weeks,
        "weekStart": spec.week_start,
        "yearEnd": spec.year_end.value,
    }


async def _insert_calendar(session: Session, dimension_id: int, periods: list[TimeMember]) -> None:
    """The calendar's members, level by level (parents first), then their paths."""
    ids: dict[str, int] = {}
    for level in TimeLevel:
        rows = [p for p in periods if p.level is level]
        if not rows:
            continue
        ids.update(
            await repo.insert_members(
                session,
                [
                    {
                        "dimension_id": dimension_id,
                        "code": p.code,
                        "name": p.name,
                        "parent_id": ids[p.parent_code] if p.parent_code else None,
                        "sort_order": p.sort_order,
                        "attributes": {"timeLevel": p.level.value},
                        "starts_on": p.start,
                        "ends_on": p.end,
                    }
                    for p in rows
                ],
            )
        )
    await repo.recompute_member_paths(session, dimension_id)


# --- reads --------------------------------------------------------------------------
