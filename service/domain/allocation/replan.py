"""Re-plan the remainder of a year from the actuals of its closed periods.

Documented rules
----------------
* The year's total is the sum of the original period targets.
* **Closed periods** (``closed=True``) keep their actuals (which may be below,
  above or, with net returns, below zero); an actual is required for each.
* The **gap** is ``total - sum(actuals of closed periods)``. When it is ``>= 0``
  it is spread over the **open periods** by their original weights (the
  period's ``weight`` if given, else its original target) with Hamilton's
  method, so the year's total is kept exactly. Locked open periods keep their
  targets (their sum above the gap is ``LOCKED_EXCEEDS_TOTAL``; every open
  period locked and not summing to the gap is ``NOTHING_TO_ABSORB``). If every
  unlocked open weight is zero the gap is spread equally.
* **Overshoot** (the actuals to date already exceed the year's total, gap < 0)
  follows the caller's :class:`OvershootRule`:

  - ``ERROR`` (default): ``OVERSHOOT`` error with the numbers;
  - ``ZERO_OPEN``: open periods get 0 (locked ones keep their targets); the
    year's total becomes the actuals to date (plus locked open targets);
  - ``KEEP_OPEN_TARGETS``: open periods keep their original targets; the
    year's total becomes actuals to date plus those targets.

  In both non-error cases ``total_changed`` is true and the caller must update
  the parent (e.g. with :func:`~service.domain.allocation.cascade` upwards).
* With no open period left the total is the actuals to date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from service.domain.allocation.engine import allocate
from service.domain.allocation.errors import (
    AllocationErrorCode,
    AllocationInputError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import (
    BIGINT_MAX,
    NUMBER_RULE,
    Number,
    is_int_amount,
    show,
    to_fraction,
)
from service.domain.allocation.explain import (
    Adjustment,
    AdjustmentKind,
    ChildExplanation,
    sentence,
)
from service.domain.allocation.model import (
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
)
from service.domain.allocation.units import MINOR, Units, amount_text

_MAX_LISTED = 20


class OvershootRule(StrEnum):
    """What to do when the actuals to date already exceed the year's target."""

    ERROR = "ERROR"
    ZERO_OPEN = "ZERO_OPEN"
    KEEP_OPEN_TARGETS = "KEEP_OPEN_TARGETS"


@dataclass(frozen=True, slots=True)
class PeriodInput:
    """One period: its original target, its actual (closed periods) and its weight."""

    key: str
    target: int
    actual: int | None = None
    closed: bool = False
    weight: Number | None = None
    """Weight for spreading the gap (default: the original target)."""
    locked: bool = False
    """An open period that keeps its target."""
    label: str | None = field(default=None, compare=False)
    """How texts name the period (default: the key)."""

    @property
    def name(self) -> str:
        return self.label if self.label is not None else self.key


@dataclass(frozen=True)
class ReplanResult:
    """New period amounts (in input order) and how they were reached."""

    keys: tuple[str, ...]
    amounts: tuple[int, ...]
    original_total: int
    total: int
    actual_to_date: int
    gap: int
    """``original_total - actual_to_date`` (negative on overshoot)."""
    overshoot: bool
    total_changed: bool
    explanations: tuple[ChildExplanation, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "original_total": self.original_total,
            "total": self.total,
            "actual_to_date": self.actual_to_date,
            "gap": self.gap,
            "overshoot": self.overshoot,
            "total_changed": self.total_changed,
            "notes": list(self.notes),
            "periods": [
                {"key": k, "amount": a, "explanation": e.to_dict()}
                for k, a, e in zip(self.keys, self.amounts, self.explanations, strict=True)
            ],
        }


def replan_remainder(
    periods: Sequence[PeriodInput],
    *,
    overshoot: OvershootRule = OvershootRule.ERROR,
    step: int = 1,
    parent_key: str | None = None,
    units: Units = MINOR,
) -> ReplanResult:
    """Keep closed periods at their actuals and spread the remaining gap over the open ones.

    ``parent_key`` (the parent's label) and ``units`` only change how texts read.
    """
    _validate(periods, units)
    u = units
    keys = tuple(p.key for p in periods)
    original_total = sum(p.target for p in periods)
    closed = [i for i, p in enumerate(periods) if p.closed]
    open_ = [i for i, p in enumerate(periods) if not p.closed]
    actual_to_date = sum(periods[i].actual or 0 for i in closed)
    gap = original_total - actual_to_date
    amounts = [0] * len(periods)
    explanations: list[ChildExplanation | None] = [None] * len(periods)
    for i in closed:
        p = periods[i]
        assert p.actual is not None
        amounts[i] = p.actual
        adjustment = Adjustment(
            AdjustmentKind.CLOSED,
            f"closed period kept at its actual {u.amount(p.actual)} "
            f"(target was {u.amount(p.target)})",
            str(p.target),
            str(p.actual),
        )
        explanations[i] = ChildExplanation(
            key=p.key,
            method="ACTUAL",
            inputs={"target": p.target, "actual": p.actual},
            share=None,
            proportional=None,
            unrounded=str(p.actual),
            final=p.actual,
            adjustments=(adjustment,),
            text=sentence(
                p.name, p.actual, original_total, parent_key, "actual", (adjustment,), units=u
            ),
        )
    notes = [
        f"year total {u.amount(original_total)}; actuals to date {u.amount(actual_to_date)} "
        f"over {len(closed)} closed period(s); gap {u.amount(gap)} over {len(open_)} open "
        "period(s)"
    ]
    is_overshoot = gap < 0
    total = original_total
    if not open_:
        total = actual_to_date
    elif not is_overshoot:
        _spread(periods, open_, gap, step, parent_key, amounts, explanations, u)
    else:
        locked_open = sum(periods[i].target for i in open_ if periods[i].locked)
        if overshoot is OvershootRule.ERROR:
            raise InfeasibleAllocationError(
                AllocationErrorCode.OVERSHOOT,
                f"actuals to date {u.amount(actual_to_date)} already exceed the year's target "
                f"{u.amount(original_total)} by {u.amount(-gap)}; choose ZERO_OPEN or "
                "KEEP_OPEN_TARGETS",
                {
                    "children": [keys[i] for i in closed][:_MAX_LISTED],
                    "actual_to_date": actual_to_date,
                    "total": original_total,
                    "overshoot": -gap,
                },
            )
        keep = overshoot is OvershootRule.KEEP_OPEN_TARGETS
        for i in open_:
            p = periods[i]
            value = p.target if keep or p.locked else 0
            amounts[i] = value
            adjustment = Adjustment(
                AdjustmentKind.LOCK if p.locked else AdjustmentKind.OVERSHOOT,
                f"overshoot rule {overshoot.value}: "
                + ("kept at its target" if keep or p.locked else "set to 0")
                + f" (target {u.amount(p.target)})",
                str(p.target),
                str(value),
            )
            explanations[i] = ChildExplanation(
                key=p.key,
                method="REPLAN",
                inputs={"target": p.target},
                share=None,
                proportional=None,
                unrounded=str(value),
                final=value,
                adjustments=(adjustment,),
                text=sentence(
                    p.name,
                    value,
                    original_total,
                    parent_key,
                    "open period",
                    (adjustment,),
                    units=u,
                ),
            )
        total = actual_to_date + (sum(periods[i].target for i in open_) if keep else locked_open)
        notes.append(
            f"overshoot by {u.amount(-gap)}: rule {overshoot.value}; the year's total becomes "
            f"{amount_text(total, u)}"
        )
    if total > BIGINT_MAX:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"the new total {amount_text(total, u)} is above the largest target "
            f"{u.amount(BIGINT_MAX)}",
            {"total": show(total)},
        )
    assert sum(amounts) == total
    assert all(e is not None for e in explanations)
    return ReplanResult(
        keys=keys,
        amounts=tuple(amounts),
        original_total=original_total,
        total=total,
        actual_to_date=actual_to_date,
        gap=gap,
        overshoot=is_overshoot,
        total_changed=total != original_total,
        explanations=tuple(e for e in explanations if e is not None),
        notes=tuple(notes),
    )


def _validate(periods: Sequence[PeriodInput], units: Units) -> None:
    if not periods:
        raise AllocationInputError(AllocationErrorCode.INVALID_INPUT, "no periods to re-plan", {})
    keys = [p.key for p in periods]
    if len(set(keys)) != len(keys) or not all(isinstance(k, str) and k for k in keys):
        raise AllocationInputError(
            AllocationErrorCode.DUPLICATE_KEY,
            "period keys must be unique non-empty strings",
            {"children": keys[:_MAX_LISTED]},
        )
    bad = [p for p in periods if not (is_int_amount(p.target) and 0 <= p.target <= BIGINT_MAX)]
    if bad:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"targets must be whole amounts from 0 to {units.amount(BIGINT_MAX)}: "
            + ", ".join(f"{p.name} {amount_text(p.target, units)}" for p in bad[:_MAX_LISTED]),
            {"children": [p.key for p in bad[:_MAX_LISTED]]},
        )
    if sum(p.target for p in periods) > BIGINT_MAX:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"the targets add up to more than the largest target {units.amount(BIGINT_MAX)}",
            {},
        )
    missing = [p for p in periods if p.closed and p.actual is None]
    if missing:
        raise AllocationInputError(
            AllocationErrorCode.MISSING_INPUT,
            "closed periods need their actual: " + ", ".join(p.name for p in missing[:_MAX_LISTED]),
            {"children": [p.key for p in missing[:_MAX_LISTED]], "input": "actual"},
        )
    wrong = [
        p
        for p in periods
        if p.closed and not (is_int_amount(p.actual) and abs(p.actual) <= BIGINT_MAX)  # type: ignore[arg-type]
    ]
    if wrong:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"actuals must be whole amounts within +-{units.amount(BIGINT_MAX)}: "
            + ", ".join(f"{p.name} {amount_text(p.actual, units)}" for p in wrong[:_MAX_LISTED]),
            {"children": [p.key for p in wrong[:_MAX_LISTED]]},
        )
    weights = [p for p in periods if not p.closed and p.weight is not None]
    bad_weights = [p for p in weights if (f := to_fraction(p.weight)) is None or f < 0]
    if bad_weights:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_WEIGHTS,
            f"weights must be {NUMBER_RULE}: "
            + ", ".join(f"{p.name} weight {show(p.weight)}" for p in bad_weights[:_MAX_LISTED]),
            {"children": [p.key for p in bad_weights[:_MAX_LISTED]], "input": "weight"},
        )


def _spread(
    periods: Sequence[PeriodInput],
    open_: Sequence[int],
    gap: int,
    step: int,
    parent_key: str | None,
    amounts: list[int],
    explanations: list[ChildExplanation | None],
    units: Units,
) -> None:
    unlocked = [periods[i] for i in open_ if not periods[i].locked]
    weights = [p.weight if p.weight is not None else p.target for p in unlocked]
    equal = bool(unlocked) and not any(to_fraction(w) for w in weights)
    children = tuple(
        ChildInput(
            key=periods[i].key,
            weight=periods[i].weight if periods[i].weight is not None else periods[i].target,
            locked_amount=periods[i].target if periods[i].locked else None,
            label=periods[i].label,
        )
        for i in open_
    )
    method = AllocationMethod.EQUAL if equal else AllocationMethod.WEIGHTS
    try:
        result = allocate(
            AllocationRequest(gap, children, AllocationSpec(method, step=step), parent_key, units)
        )
    except InfeasibleAllocationError as exc:
        raise InfeasibleAllocationError(
            AllocationErrorCode(exc.code),
            f"cannot spread the remaining gap {units.amount(gap)} over the open periods: "
            f"{exc.message}",
            {**exc.details, "gap": gap},
        ) from None
    for i, amount, explanation in zip(open_, result.amounts, result.explanations, strict=True):
        amounts[i] = amount
        explanations[i] = explanation
