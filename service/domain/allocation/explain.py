"""Explanations: per child, how its amount came about, as plain JSON-ready data.

A :class:`ChildExplanation` lists the method, the inputs used, the raw share,
the proportional amount (share of the distributable amount, before bounds),
the unrounded amount (after locks, floors, caps and lag, before rounding), the
final amount and every adjustment applied, plus a sentence a planner can read
out ("42.00 % of East: 60 % HISTORY share 0.4000, 40 % POTENTIAL share 0.4500").

Stored fields keep minor units: amounts that may be fractional are exact
decimal strings (6 places, half-even, see
:func:`~service.domain.allocation.exact.format_decimal`); shares are floats in
``[0, 1]`` (display only); final amounts are ``int``. The ``text`` and every
adjustment's ``detail`` are written in currency units and labels
(:class:`~service.domain.allocation.units.Units`): "East: 4200000.00 = 42 % of
the plan". :func:`~service.domain.allocation.display.display_explanation` turns
a stored explanation into currency units for a client.

**Buffers.** When the parent's split carries an over-assignment (a quota
buffer), its children add up to more than the parent. A child's percentage is
then still of the parent itself ("36.67 % of the plan"), followed by its part
of the buffered total: "(33.33 % of 1100.00, the plan plus its 10 % buffer)";
``buffer`` holds the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

from service.domain.allocation.exact import format_decimal, sig_text
from service.domain.allocation.units import MINOR, Units


class AdjustmentKind(StrEnum):
    """What changed a child's amount (values equal names)."""

    LOCK = "LOCK"
    """Locked: kept at its locked amount."""
    MANUAL = "MANUAL"
    """Set by hand (MANUAL method)."""
    FLOOR = "FLOOR"
    """Held at its floor."""
    CAP = "CAP"
    """Held at its cap."""
    REDISTRIBUTION = "REDISTRIBUTION"
    """Received (or gave up) part of what capped / floored siblings released (water-filling)."""
    ROUNDING = "ROUNDING"
    """Rounded to an integer (largest remainder) or to a multiple of the step."""
    LEFTOVER = "LEFTOVER"
    """Took the step-rounding leftover (``amount % step``)."""
    LAG = "LAG"
    """Share reduced by the sales-cycle lag / ramp, or received the displaced share."""
    NO_HISTORY = "NO_HISTORY"
    """No history: the caller's no-history rule applied."""
    MISSING_VALUES = "MISSING_VALUES"
    """Some history values were missing (``None``) and counted as 0."""
    SET = "SET"
    """Set explicitly by a rebalance."""
    CLOSED = "CLOSED"
    """A closed period kept at its actual (re-plan)."""
    SCALED = "SCALED"
    """Scaled with its parent (cascade)."""
    ROLL_UP = "ROLL_UP"
    """Moved because a child's target moved (a bottom-up edit)."""
    BUFFER = "BUFFER"
    """Absorbed the rounding of a quota buffer during a roll-up."""
    OVERSHOOT = "OVERSHOOT"
    """An open period set by the overshoot rule of a re-plan."""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One change to a child's amount or share.

    ``before`` / ``after`` are decimal strings; ``detail`` says what they measure
    (an amount unless it says "share").
    """

    kind: AdjustmentKind
    detail: str
    before: str | None = None
    after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "detail": self.detail,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True, slots=True)
class ComponentShare:
    """A BLEND component as seen by one child: its blend weight and the child's share in it."""

    method: str
    blend_weight: float
    share: float
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "blend_weight": self.blend_weight,
            "share": self.share,
            "inputs": dict(self.inputs),
        }


@dataclass(frozen=True, slots=True)
class ChildExplanation:
    """How one child's amount came about."""

    key: str
    method: str
    inputs: dict[str, Any]
    share: float | None
    """The method's share among the children that were not locked (None for locked / manual)."""
    proportional: str | None
    """``share x`` the distributable amount, before bounds and rounding (decimal string)."""
    unrounded: str
    """After locks, floors, caps (water-filling) and lag, before rounding (decimal string)."""
    final: int
    adjustments: tuple[Adjustment, ...]
    text: str
    components: tuple[ComponentShare, ...] = ()
    buffer: dict[str, Any] | None = None
    """The parent's quota buffer, when it has one: ``over_assignment`` (a percentage,
    exact decimal string), ``parent`` and ``total`` (the buffered total), in minor units."""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "method": self.method,
            "inputs": dict(self.inputs),
            "components": [c.to_dict() for c in self.components],
            "share": self.share,
            "proportional": self.proportional,
            "unrounded": self.unrounded,
            "final": self.final,
            "adjustments": [a.to_dict() for a in self.adjustments],
            "text": self.text,
        }
        if self.buffer is not None:
            out["buffer"] = dict(self.buffer)
        return out


def buffer_info(parent: int, total: int, over_assignment: Fraction) -> dict[str, Any] | None:
    """The ``buffer`` entry of an explanation (None without a buffer)."""
    if total == parent and not over_assignment:
        return None
    return {
        "over_assignment": format_decimal(over_assignment, 12),
        "parent": parent,
        "total": total,
    }


def dec(value: Fraction | int) -> str:
    """An amount as an exact decimal string (6 places max)."""
    return format_decimal(Fraction(value))


def share_text(value: Fraction | float) -> str:
    """A share with four decimals ("0.4000"), exact (never through a float)."""
    return fixed(Fraction(value), 4)


def fixed(value: Fraction, places: int) -> str:
    """``value`` with exactly ``places`` decimals, rounded half to even."""
    text = format_decimal(value, places)
    if places:
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.ljust(places, '0')}"
    return text


def sentence(
    label: str,
    final: int,
    parent: int,
    parent_label: str | None,
    basis: str,
    adjustments: tuple[Adjustment, ...],
    *,
    units: Units = MINOR,
    total: int | None = None,
    over_assignment: Fraction | None = None,
) -> str:
    """The one-line explanation a planner reads out.

    ``parent`` is the parent's own amount; ``total`` what its children add up to
    (the parent plus its ``over_assignment`` buffer, when it has one).
    """
    of = parent_label or "the parent"
    text = f"{label}: {units.amount(final)} = {percent_of(final, parent)} of {of}"
    if total is not None and (total != parent or over_assignment):
        pct = sig_text(over_assignment or Fraction(0), 6)
        text += (
            f" ({percent_of(final, total)} of {units.amount(total)}, {of} plus its {pct} % buffer)"
        )
    if basis:
        text += f": {basis}"
    if adjustments:
        text += "; " + "; ".join(a.detail for a in adjustments)
    return text


def percent_of(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with up to two decimals ("42 %", "33.33 %")."""
    if not whole:
        return "0 %"
    value = format_decimal(Fraction(part * 100, whole), 2)
    return f"{value} %"
