"""GraphQL inputs of nodeSplit: the method of the allocation engine and its inputs.

Numbers that are amounts (manual amounts, floors, caps, rounding step) are
decimal strings in the plan's currency. Weights, history values, potentials and
rates are decimal strings too (exact: "0.1" is one tenth), never floats.
"""

from __future__ import annotations

import strawberry

from service.domain.allocation import (
    AllocationMethod,
    HistoryMode,
    NoHistoryRule,
    ProfileSource,
)
from service.plans.splits import BlendPart, ChildValues, SplitOptions

strawberry.enum(
    AllocationMethod,
    description="EQUAL; WEIGHTS (or percentages); HISTORY (past periods); POTENTIAL (a "
    "member attribute such as market capacity); BLEND (a convex mix of those); SEASONAL "
    "(time children: a profile with a sales-cycle lag); MANUAL (explicit amounts).",
)
strawberry.enum(
    HistoryMode,
    description="AVERAGE_OF_SHARES (average of each period's shares) or SHARE_OF_TOTAL (share "
    "of the summed history): the two top-down methods of Gross and Sohl.",
)
strawberry.enum(
    NoHistoryRule,
    description="A child without history: ERROR (refuse), ZERO, FLOOR (noHistoryFloor) or "
    "RESERVED_SHARE (reservedShare of the amount, split among them).",
)
strawberry.enum(ProfileSource, description="SEASONAL profile from HISTORY or GIVEN weights.")


@strawberry.input(description="The inputs of one child of a split, by member.")
class SplitChildInput:
    member_id: strawberry.ID = strawberry.field(description="One of the split's members.")
    weight: str | None = strawberry.field(
        default=None, description="WEIGHTS: weight or percentage; SEASONAL (GIVEN): profile."
    )
    history: list[str | None] | None = strawberry.field(
        default=None,
        description="HISTORY / SEASONAL: one value per past period, oldest first (null = no "
        "value for that period).",
    )
    growth: str | None = strawberry.field(
        default=None, description='HISTORY: growth applied to the share, e.g. "0.1" = +10 %.'
    )
    potential: str | None = strawberry.field(
        default=None,
        description="POTENTIAL: the child's potential; defaults to the member's "
        "marketPotential attribute.",
    )
    penetration: str | None = strawberry.field(
        default=None, description="POTENTIAL: target penetration rate of this child."
    )
    amount: str | None = strawberry.field(default=None, description="MANUAL: the amount.")
    locked_amount: str | None = strawberry.field(
        default=None, description="Lock the child at exactly this amount."
    )
    floor: str | None = strawberry.field(default=None, description="Lowest amount allowed.")
    cap: str | None = strawberry.field(default=None, description="Highest amount allowed.")


@strawberry.input(description="One component of a BLEND.")
class BlendComponentInput:
    method: AllocationMethod = strawberry.field(description="EQUAL, WEIGHTS, HISTORY or POTENTIAL.")
    weight: str = strawberry.field(description='Its weight in the mix, e.g. "0.6".')


@strawberry.input(description="Options of a split's method and its constraints.")
class SplitOptionsInput:
    percentages: bool = strawberry.field(
        default=False, description="WEIGHTS: the weights are percentages that must sum to 100."
    )
    history_mode: HistoryMode = strawberry.field(
        default=HistoryMode.AVERAGE_OF_SHARES, description="HISTORY: which top-down method."
    )
    no_history: NoHistoryRule = strawberry.field(
        default=NoHistoryRule.ERROR, description="HISTORY: a child without history."
    )
    no_history_floor: str | None = strawberry.field(
        default=None, description="HISTORY, FLOOR rule: the amount such a child gets."
    )
    reserved_share: str | None = strawberry.field(
        default=None, description="HISTORY, RESERVED_SHARE rule: fraction in [0, 1]."
    )
    penetration: str | None = strawberry.field(
        default=None, description="POTENTIAL: default penetration rate."
    )
    blend: list[BlendComponentInput] | None = strawberry.field(
        default=None, description="BLEND: the components, e.g. 0.6 HISTORY + 0.4 POTENTIAL."
    )
    profile: ProfileSource = strawberry.field(
        default=ProfileSource.HISTORY, description="SEASONAL: profile source."
    )
    lag: int = strawberry.field(
        default=0,
        description="SEASONAL: first periods the pipeline cannot reach (target 0); their share "
        "moves to later periods.",
    )
    ramp: int = strawberry.field(
        default=0, description="SEASONAL: periods after the lag that ramp up linearly."
    )
    manual_fallback: AllocationMethod | None = strawberry.field(
        default=None,
        description="MANUAL: spread what the given amounts leave over the children without "
        "one by this method; null means the amounts must add up exactly.",
    )
    step: str | None = strawberry.field(
        default=None,
        description='Round children to multiples of this amount (e.g. "1000"); the sum '
        "stays exact, the leftover goes to the largest child within its cap.",
    )
    over_assignment: str | None = strawberry.field(
        default=None,
        description="Quota buffer in percent: the children add up to the parent plus this.",
    )

    def to_options(self) -> SplitOptions:
        return SplitOptions(
            percentages=self.percentages,
            history_mode=self.history_mode,
            no_history=self.no_history,
            no_history_floor=self.no_history_floor,
            reserved_share=self.reserved_share,
            penetration=self.penetration,
            blend=tuple(BlendPart(c.method, c.weight) for c in self.blend or ()),
            profile=self.profile,
            lag=self.lag,
            ramp=self.ramp,
            manual_fallback=self.manual_fallback,
            step=self.step,
            over_assignment=self.over_assignment,
        )


def child_values(child: SplitChildInput, member_id: int) -> ChildValues:
    return ChildValues(
        member_id=member_id,
        weight=child.weight,
        history=tuple(child.history) if child.history is not None else None,
        growth=child.growth,
        potential=child.potential,
        penetration=child.penetration,
        amount=child.amount,
        locked_amount=child.locked_amount,
        floor=child.floor,
        cap=child.cap,
    )
