"""Constraints: floors and caps (water-filling), the rounding step, the quota buffer.

``distribute(amount, shares, floors, caps, keys, step)`` splits ``amount`` over
children with exact shares so that every bound holds and the integers add up
exactly.

Documented rules
----------------
* **Water-filling.** The unrounded amount of child ``i`` is
  ``x_i = clamp(lam * s_i, floor_i, cap_i)`` with the single level ``lam`` that
  makes them add up to the amount. A capped child's excess therefore goes to the
  others in proportion to their shares, repeatedly, until every bound holds (and
  likewise floors take from the others). Found exactly by sweeping the sorted
  breakpoints ``floor_i / s_i`` and ``cap_i / s_i`` with rational arithmetic.
* **Zero shares.** A child whose share is zero receives its floor and nothing
  more; it does not absorb the excess of capped siblings.
* **Feasibility.** Floors adding up above the amount give ``FLOORS_EXCEED_TOTAL``;
  caps (counting zero-share children at their floors) adding up below it give
  ``CAPS_BELOW_TOTAL``; all shares zero with something left to give gives
  ``ZERO_WEIGHTS``. Each error names the children and the sums.
* **Rounding.** The children held at a bound keep it (bounds are integers); the
  others are apportioned by Hamilton's method (see :mod:`.rounding`), which keeps
  every amount within its bounds: a child at its cap has remainder 0 and is
  never rounded up.
* **Step.** With ``step > 1`` the same is done in units of ``step`` (bounds
  become ``ceil(floor / step)`` and ``floor(cap / step)`` units), every child is a
  multiple of ``step``, and the leftover ``amount % step`` lands on **the child
  with the largest amount** that stays within its cap (ties: larger share, then
  smaller key). So every child but at most one is a multiple of ``step`` and the
  sum stays exact. No multiple of ``step`` inside a child's bounds, or no child
  able to take the leftover, gives ``STEP_INFEASIBLE``.
* **Quota buffer.** ``buffered_total(parent, pct)`` is
  ``parent + round_half_up(parent * pct / 100)``: children then add up to the
  parent times the over-assignment factor, exactly. :func:`unbuffered` is its
  inverse rounded down (the largest parent whose buffered total fits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from service.domain.allocation.errors import (
    AllocationErrorCode,
    AllocationInputError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import (
    BIGINT_MAX,
    NUMBER_RULE,
    Number,
    show,
    sig_text,
    to_fraction,
)
from service.domain.allocation.rounding import apportion, integerize
from service.domain.allocation.units import MINOR, Units, amount_text

_MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class Distribution:
    """The result of :func:`distribute`, by child (same order as the input)."""

    amounts: list[int]
    proportional: list[Fraction]
    """``amount * share / sum(shares)``: no bounds, no step."""
    unrounded: list[Fraction]
    """Water-filled value within the bounds, before rounding (real units)."""
    clamp: list[str | None]
    """``"FLOOR"`` or ``"CAP"`` when the water-filled value sits on that bound
    (in real units, or in units of the step when ``step > 1``)."""
    leftover_index: int | None
    leftover: int
    floors: list[int]
    """The effective floors used (user floors and no-history floors)."""
    caps: list[int | None]


def buffered_total(
    parent: int, over_assignment: Number, *, units: Units = MINOR, label: str | None = None
) -> int:
    """``parent`` plus the over-assignment percentage, rounded half up to an integer."""
    pct = buffer_percentage(over_assignment)
    total = buffered_total_exact(parent, pct)
    if total > BIGINT_MAX:
        who = label or "the parent"
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"{who} ({units.amount(parent)}) plus its {sig_text(pct)} % buffer is "
            f"{amount_text(total, units)}, above the largest target {units.amount(BIGINT_MAX)}",
            {"parent": parent, "over_assignment": sig_text(pct)},
        )
    return total


def buffer_percentage(over_assignment: Number) -> Fraction:
    """The over-assignment as an exact percentage ``>= 0`` (else ``INVALID_INPUT``)."""
    pct = to_fraction(over_assignment)
    if pct is None or pct < 0:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"over_assignment must be a percentage {NUMBER_RULE}, got {show(over_assignment)}",
            {"over_assignment": show(over_assignment)},
        )
    return pct


def unbuffered(total: int, over_assignment: Number) -> int:
    """The largest parent whose :func:`buffered_total` does not exceed ``total``.

    ``buffered_total`` is strictly increasing in the parent but skips values
    (with a 10 % buffer, parents 1004 and 1005 give 1104 and 1106), so it has
    no exact inverse; this is the inverse rounded down:
    ``buffered_total(unbuffered(t, p), p) <= t < buffered_total(unbuffered(t, p) + 1, p)``.
    """
    pct = buffer_percentage(over_assignment)
    if total <= 0:
        return 0
    # p0 = floor(t / (1 + q)) has f(p0) <= t, and f(p0 + 2) > t (see the tests).
    parent = int((Fraction(total * 100) / (100 + pct)).__floor__())
    if buffered_total_exact(parent + 1, pct) <= total:
        parent += 1
    return parent


def buffered_total_exact(parent: int, pct: Fraction) -> int:
    """:func:`buffered_total` without range checks (any size)."""
    return parent + int((parent * pct / 100 + Fraction(1, 2)).__floor__())


def distribute(
    amount: int,
    shares: Sequence[Fraction],
    floors: Sequence[int],
    caps: Sequence[int | None],
    keys: Sequence[str],
    step: int = 1,
    *,
    names: Sequence[str] | None = None,
    units: Units = MINOR,
) -> Distribution:
    """Split ``amount`` by ``shares`` within ``[floors, caps]`` in multiples of ``step``.

    ``keys`` drive the tie-breaks; ``names`` (default: the keys) and ``units`` only
    how messages read.
    """
    n = len(shares)
    names = keys if names is None else names
    u = units
    crossed = [i for i in range(n) if caps[i] is not None and floors[i] > caps[i]]  # type: ignore[operator]
    if crossed:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_BOUNDS,
            "bounds contradict: "
            + "; ".join(
                f"{names[i]}: floor {u.amount(floors[i])} above cap {u.amount(caps[i])}"  # type: ignore[arg-type]
                for i in crossed[:_MAX_LISTED]
            ),
            {"children": [keys[i] for i in crossed[:_MAX_LISTED]]},
        )
    weights = integerize(shares)
    total_weight = sum(weights)
    _check_feasible(amount, weights, floors, caps, keys, names, units)
    lam = _level(amount, weights, floors, caps)
    unrounded = [_clamp(lam * w, lo, hi) for w, lo, hi in zip(weights, floors, caps, strict=True)]
    proportional = [
        Fraction(amount * w, total_weight) if total_weight else Fraction(0) for w in weights
    ]
    clamp: list[str | None] = []
    for w, lo, hi in zip(weights, floors, caps, strict=True):
        level = lam * w
        if w and hi is not None and level >= hi:
            clamp.append("CAP")
        elif lo > 0 and level <= lo:
            clamp.append("FLOOR")
        else:
            clamp.append(None)

    if step == 1:
        filled = _round_filled(amount, weights, floors, caps, keys)
        return Distribution(
            filled, proportional, unrounded, clamp, None, 0, list(floors), list(caps)
        )

    units_total, leftover = divmod(amount, step)
    lo_units = [-(-lo // step) for lo in floors]
    hi_units = [None if hi is None else hi // step for hi in caps]
    impossible = [
        i
        for i in range(n)
        if hi_units[i] is not None and lo_units[i] > hi_units[i]  # type: ignore[operator]
    ]
    if impossible:
        raise InfeasibleAllocationError(
            AllocationErrorCode.STEP_INFEASIBLE,
            f"no multiple of {u.amount(step)} lies within the bounds of "
            + ", ".join(
                f"{names[i]} [{u.amount(floors[i])}, {u.amount(caps[i])}]"  # type: ignore[arg-type]
                for i in impossible[:_MAX_LISTED]
            ),
            {
                "children": [keys[i] for i in impossible[:_MAX_LISTED]],
                "step": step,
                "floors": [floors[i] for i in impossible[:_MAX_LISTED]],
                "caps": [caps[i] for i in impossible[:_MAX_LISTED]],
            },
        )
    try:
        _check_feasible(units_total, weights, lo_units, hi_units, keys, names, units, step)
    except InfeasibleAllocationError as exc:
        raise InfeasibleAllocationError(
            AllocationErrorCode.STEP_INFEASIBLE,
            f"rounding to multiples of {u.amount(step)} cannot keep every bound: "
            f"{exc.message} (bounds rounded inward to multiples of {u.amount(step)})",
            {**exc.details, "step": step},
        ) from None
    lam_units = _level(units_total, weights, lo_units, hi_units)
    for i, (w, lo, hi) in enumerate(zip(weights, lo_units, hi_units, strict=True)):
        if clamp[i] is None:
            level = lam_units * w
            if w and hi is not None and level >= hi:
                clamp[i] = "CAP"
            elif lo > 0 and level <= lo:
                clamp[i] = "FLOOR"
    in_steps = _round_filled(units_total, weights, lo_units, hi_units, keys)
    amounts = [x * step for x in in_steps]
    taker: int | None = None
    if leftover:
        eligible = [i for i in range(n) if caps[i] is None or amounts[i] + leftover <= caps[i]]  # type: ignore[operator]
        if not eligible:
            raise InfeasibleAllocationError(
                AllocationErrorCode.STEP_INFEASIBLE,
                f"the rounding leftover {u.amount(leftover)} (the amount {u.amount(amount)} is "
                f"not a multiple of {u.amount(step)}) fits under no child's cap",
                {"children": list(keys[:_MAX_LISTED]), "leftover": leftover, "step": step},
            )
        taker = min(eligible, key=lambda i: (-amounts[i], -weights[i], keys[i], i))
        amounts[taker] += leftover
    return Distribution(
        amounts, proportional, unrounded, clamp, taker, leftover, list(floors), list(caps)
    )


# ---------------------------------------------------------------------------


def _clamp(x: Fraction, lo: int, hi: int | None) -> Fraction:
    if x < lo:
        return Fraction(lo)
    if hi is not None and x > hi:
        return Fraction(hi)
    return x


def _check_feasible(
    amount: int,
    weights: Sequence[int],
    floors: Sequence[int],
    caps: Sequence[int | None],
    keys: Sequence[str],
    names: Sequence[str],
    units: Units,
    scale: int = 1,
) -> None:
    """Raise when the bounds cannot hold; messages show ``x * scale`` in ``units``."""

    def u(value: int) -> str:
        return units.amount(value * scale)

    floor_sum = sum(floors)
    if floor_sum > amount:
        named = [i for i, lo in enumerate(floors) if lo > 0]
        raise InfeasibleAllocationError(
            AllocationErrorCode.FLOORS_EXCEED_TOTAL,
            f"floors add up to {u(floor_sum)}, above the {u(amount)} to split: "
            + ", ".join(f"{names[i]} >= {u(floors[i])}" for i in named[:_MAX_LISTED]),
            {
                "children": [keys[i] for i in named[:_MAX_LISTED]],
                "floors": [floors[i] for i in named[:_MAX_LISTED]],
                "floor_sum": floor_sum,
                "amount": amount,
            },
        )
    if amount == floor_sum:
        return
    if not any(weights):
        raise AllocationInputError(
            AllocationErrorCode.ZERO_WEIGHTS,
            f"every share is zero; cannot split {u(amount - floor_sum)} above the floors among "
            + ", ".join(names[:_MAX_LISTED]),
            {"children": list(keys[:_MAX_LISTED]), "amount": amount, "floor_sum": floor_sum},
        )
    if any(w > 0 and hi is None for w, hi in zip(weights, caps, strict=True)):
        return
    capacity = sum(
        (hi if w > 0 else lo)  # type: ignore[misc]
        for w, lo, hi in zip(weights, floors, caps, strict=True)
    )
    if capacity < amount:
        named = [i for i in range(len(keys)) if caps[i] is not None or weights[i] == 0]
        raise InfeasibleAllocationError(
            AllocationErrorCode.CAPS_BELOW_TOTAL,
            f"caps add up to {u(capacity)}, below the {u(amount)} to split: "
            + ", ".join(
                f"{names[i]} <= {u(caps[i] if weights[i] else floors[i])}"  # type: ignore[arg-type]
                + ("" if weights[i] else " (zero share)")
                for i in named[:_MAX_LISTED]
            ),
            {
                "children": [keys[i] for i in named[:_MAX_LISTED]],
                "caps": [caps[i] if weights[i] else floors[i] for i in named[:_MAX_LISTED]],
                "cap_sum": capacity,
                "amount": amount,
            },
        )


def _level(
    amount: int, weights: Sequence[int], floors: Sequence[int], caps: Sequence[int | None]
) -> Fraction:
    """The water level ``lam`` with ``sum(clamp(lam * w_i, floor_i, cap_i)) == amount``.

    The input must be feasible (checked by ``_check_feasible``).
    """
    floor_sum = sum(floors)
    if amount == floor_sum:
        return Fraction(0)
    total_weight = sum(weights)
    plain = Fraction(amount, total_weight)
    if all(
        lo <= plain * w and (hi is None or plain * w <= hi)
        for w, lo, hi in zip(weights, floors, caps, strict=True)
    ):
        return plain
    events: list[tuple[Fraction, int, int]] = []
    for i, (w, lo, hi) in enumerate(zip(weights, floors, caps, strict=True)):
        if w == 0:
            continue
        events.append((Fraction(lo, w), 0, i))
        if hi is not None:
            events.append((Fraction(hi, w), 1, i))
    events.sort()
    const = Fraction(floor_sum)
    slope = 0
    for at, kind, i in events:
        if slope and const + at * slope >= amount:
            return (amount - const) / slope
        if kind == 0:
            const -= floors[i]
            slope += weights[i]
        else:
            const += caps[i]  # type: ignore[operator]
            slope -= weights[i]
    assert slope > 0, "infeasible input reached the water level search"
    return (amount - const) / slope


def _round_filled(
    amount: int,
    weights: Sequence[int],
    floors: Sequence[int],
    caps: Sequence[int | None],
    keys: Sequence[str],
) -> list[int]:
    """Integers within the bounds adding up to ``amount``.

    Children held at a bound keep it; the others are apportioned by Hamilton.
    """
    lam = _level(amount, weights, floors, caps)
    n = len(weights)
    out = [0] * n
    free: list[int] = []
    fixed_sum = 0
    for i, (w, lo, hi) in enumerate(zip(weights, floors, caps, strict=True)):
        x = lam * w
        if w == 0 or x <= lo:
            out[i] = lo
            fixed_sum += lo
        elif hi is not None and x >= hi:
            out[i] = hi
            fixed_sum += hi
        else:
            free.append(i)
    if free:
        parts = apportion(amount - fixed_sum, [weights[i] for i in free], [keys[i] for i in free])
        for i, part in zip(free, parts, strict=True):
            out[i] = part
    return out
