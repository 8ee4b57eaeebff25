"""History from the stored actuals for a split (``options.historyFrom``) and for a
plan's overall target (``planCreate`` with ``fromHistory``).

For a split along a non-time dimension the history of child ``c`` in past year
``y`` is the actual of the node's slice plus ``c``, over the node's period moved
to year ``y`` (the same quarter two years ago), or the whole year ``y`` when the
node has no period. For a split of periods (SEASONAL, or HISTORY along time) it
is the actual of the node's slice over the child period moved to year ``y``;
with ``profileLevel`` the finer periods inside it are read and summed (a monthly
profile driving a quarterly split).

A child with no fact at all in a year has no value for that year (``None``): a
child with none in any year has *no history* and gets the split's no-history
rule. When no child has any fact in any of the years the split is refused
(``NO_HISTORY``): there is nothing to learn from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from service.db import repositories as repo
from service.db.engine import Session
from service.db.facts import SliceQuery, SliceTotal, slice_totals
from service.db.models import Member, Plan, TargetNode
from service.domain.history import (
    YearTotal,
    actual_of,
    check_years,
    finer_periods,
    position,
    same_period,
    year_bounds,
)
from service.domain.money import format_amount
from service.domain.splits import ChildValues, HistoryFrom, SplitSpec, check_history_from
from service.domain.tree import InvalidInputError, Measure, MemberFacts


@dataclass(frozen=True)
class FilledHistory:
    spec: SplitSpec
    """The split with each child's history read from the actuals."""
    read: dict[str, Any]
    """What was read, for the explanations: periods and totals (plan units, as text)."""


async def fill_split_history(
    session: Session,
    plan: Plan,
    node: TargetNode,
    dimension_id: int,
    members: Sequence[MemberFacts],
    spec: SplitSpec,
    prefix: str = "",
) -> FilledHistory | None:
    """The split's spec with history from the actuals; None when it asks for none."""
    source = spec.options.history_from
    if source is None:
        return None
    check_history_from(spec, prefix)
    field = f"{prefix}options.historyFrom"
    years = check_years(list(source.fiscal_years), plan.fiscal_year, f"{field}.fiscalYears")
    time_id = plan.time_dimension_id
    along_time = dimension_id == time_id
    if source.profile_level is not None and not along_time:
        raise InvalidInputError(
            "INVALID_VALUE",
            f"{field}.profileLevel is for splits of periods (the plan's time dimension)",
            f"{field}.profileLevel",
        )
    base = [(d, m) for d, m in node.coordinates if d != time_id]
    period_ids = [m for d, m in node.coordinates if d == time_id]
    node_period: Member | None = None
    if period_ids:
        (node_period,) = await repo.members_by_ids(session, [period_ids[-1]])
    settings = plan.calendar
    # queries[(child index, year)] -> list of (label, query)
    planned: list[tuple[int, int, str, SliceQuery]] = []
    for i, member in enumerate(members):
        for year in years:
            if along_time:
                if source.profile_level is not None:
                    parts = finer_periods(settings, member.code, year, source.profile_level)
                    if not parts:
                        raise InvalidInputError(
                            "WRONG_LEVEL",
                            f"{field}.profileLevel {source.profile_level.value} is not finer "
                            f"than {member.code}",
                            f"{field}.profileLevel",
                        )
                    if len(parts) == 1 and position(parts[0].code) == position(member.code):
                        raise InvalidInputError(
                            "WRONG_LEVEL",
                            f"{field}.profileLevel must be finer than the split's periods",
                            f"{field}.profileLevel",
                        )
                    for part in parts:
                        planned.append((i, year, part.code, SliceQuery(base, part.start, part.end)))
                    continue
                moved = same_period(settings, member.code, year)
                if moved is None:
                    continue
                planned.append((i, year, moved.code, SliceQuery(base, moved.start, moved.end)))
            else:
                if node_period is not None:
                    moved = same_period(settings, node_period.code, year)
                    if moved is None:
                        continue
                    start, end, label = moved.start, moved.end, moved.code
                else:
                    start, end = year_bounds(settings, year)
                    label = f"FY{year}"
                planned.append(
                    (i, year, label, SliceQuery([*base, (dimension_id, member.id)], start, end))
                )
    totals = await slice_totals(session, [q for *_, q in planned], currency=_currency(plan))
    measure = Measure(plan.measure)
    digits = plan.minor_digits
    sums: dict[tuple[int, int], tuple[int, int]] = {}
    periods: dict[int, list[dict[str, Any]]] = {}
    for (i, year, label, query), total in zip(planned, totals, strict=True):
        value = _value(measure, digits, total)
        amount, count = sums.get((i, year), (0, 0))
        sums[(i, year)] = (amount + value, count + total.count)
        periods.setdefault(i, []).append(
            {
                "period": label,
                "from": query.start.isoformat(),
                "to": query.end.isoformat(),
                "total": format_amount(value, digits),
                "facts": total.count,
            }
        )
    if not any(count for _, count in sums.values()):
        where = "the node's slice" if not base else "this slice"
        raise InvalidInputError(
            "NO_HISTORY",
            f"no actuals are stored for {where} in "
            + ", ".join(f"FY{y}" for y in years)
            + "; import them, give history inline or choose another method",
            field,
        )
    given = {c.member_id: c for c in spec.children}
    children = []
    for i, member in enumerate(members):
        history: list[Decimal | None] = []
        for year in years:
            amount, count = sums.get((i, year), (0, 0))
            history.append(Decimal(amount).scaleb(-digits) if count else None)
        values = given.get(member.id, ChildValues(member_id=member.id))
        children.append(replace(values, history=tuple(history)))
    filled = replace(spec, children=children)
    read = {
        "fiscalYears": years,
        "profileLevel": None if source.profile_level is None else source.profile_level.value,
        "children": {
            member.code: {
                "byYear": [
                    {
                        "fiscalYear": y,
                        "total": format_amount(sums.get((i, y), (0, 0))[0], digits),
                    }
                    for y in years
                ],
                "periods": periods.get(i, []),
            }
            for i, member in enumerate(members)
        },
    }
    return FilledHistory(spec=filled, read=read)


def history_text(read: dict[str, Any], code: str) -> str:
    """One line for a child's explanation: which periods and totals were read."""
    child = read["children"].get(code, {})
    years = ", ".join(f"FY{y['fiscalYear']} {y['total']}" for y in child.get("byYear", []))
    text = f"history from the stored actuals: {years}"
    if read.get("profileLevel"):
        text += f" (sum of its {read['profileLevel'].lower()}s)"
    return text


def _currency(plan: Plan) -> str | None:
    return plan.currency if plan.measure == Measure.AMOUNT.value else None


def _value(measure: Measure, digits: int, total: SliceTotal) -> int:
    return actual_of(measure, digits, total.amount, total.quantity)


async def history_totals(session: Session, plan: Plan, years: Sequence[int]) -> list[YearTotal]:
    """The plan-wide actuals of each past fiscal year (every fact of the year)."""
    bounds = [year_bounds(plan.calendar, y) for y in years]
    totals = await slice_totals(
        session, [SliceQuery([], start, end) for start, end in bounds], currency=_currency(plan)
    )
    measure = Measure(plan.measure)
    return [
        YearTotal(y, _value(measure, plan.minor_digits, t))
        for y, t in zip(years, totals, strict=True)
    ]


__all__ = ["FilledHistory", "HistoryFrom", "fill_split_history", "history_text", "history_totals"]
