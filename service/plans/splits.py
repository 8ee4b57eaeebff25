"""Turning a split request (GraphQL shapes, decimal strings) into an allocation request.

Amounts are parsed in the plan's currency; rates and weights go to the engine
as exact decimal strings. POTENTIAL reads a member's ``marketPotential``
attribute when no potential is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from service.domain.allocation import (
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    BlendComponent,
    ChildInput,
    HistoryMode,
    HistoryOptions,
    ManualOptions,
    NoHistoryRule,
    PotentialOptions,
    ProfileSource,
    SeasonalOptions,
    Units,
    WeightsOptions,
)
from service.domain.money import parse_amount
from service.domain.tree import InvalidInputError, MemberFacts

MAX_HISTORY_PERIODS = 60


@dataclass(frozen=True, slots=True)
class BlendPart:
    method: AllocationMethod
    weight: str


@dataclass(frozen=True, slots=True)
class SplitOptions:
    percentages: bool = False
    history_mode: HistoryMode = HistoryMode.AVERAGE_OF_SHARES
    no_history: NoHistoryRule = NoHistoryRule.ERROR
    no_history_floor: str | None = None
    reserved_share: str | None = None
    penetration: str | None = None
    blend: tuple[BlendPart, ...] = ()
    profile: ProfileSource = ProfileSource.HISTORY
    lag: int = 0
    ramp: int = 0
    manual_fallback: AllocationMethod | None = None
    step: str | None = None
    over_assignment: str | None = None


@dataclass(frozen=True, slots=True)
class ChildValues:
    member_id: int
    weight: str | None = None
    history: tuple[str | None, ...] | None = None
    growth: str | None = None
    potential: str | None = None
    penetration: str | None = None
    amount: str | None = None
    locked_amount: str | None = None
    floor: str | None = None
    cap: str | None = None


@dataclass(frozen=True, slots=True)
class SplitRequest:
    method: AllocationMethod = AllocationMethod.EQUAL
    children: Sequence[ChildValues] = ()
    options: SplitOptions = field(default_factory=SplitOptions)


def build_allocation(
    parent_amount: int,
    parent_label: str,
    members: Sequence[MemberFacts],
    attributes: Mapping[int, Mapping[str, object]],
    request: SplitRequest,
    digits: int,
) -> AllocationRequest:
    """The engine's request for splitting ``parent_amount`` over ``members``.

    ``request.children`` carry per-member inputs (by member id; each member at
    most once, and only members of the split).
    """
    positions = {m.id: i for i, m in enumerate(members)}
    given: dict[int, ChildValues] = {}
    given_at: dict[int, int] = {}
    for index, values in enumerate(request.children):
        where = f"children.{index}"
        if values.member_id not in positions:
            raise InvalidInputError(
                "INVALID_VALUE", f"{where}.memberId is not one of the split's members", where
            )
        if values.member_id in given:
            raise InvalidInputError(
                "DUPLICATE", f"{where}.memberId appears twice in children", where
            )
        given[values.member_id] = values
        given_at[values.member_id] = index
    options = request.options
    if options.lag < 0 or options.ramp < 0:
        raise InvalidInputError("OUT_OF_RANGE", "lag and ramp are zero or more", "options.lag")

    def amount(text: str | None, where: str) -> int | None:
        return None if text is None else parse_amount(text, digits, field=where)

    children: list[ChildInput] = []
    for member in members:
        values = given.get(member.id, ChildValues(member_id=member.id))
        position = given_at.get(member.id)
        where = f"children.{position}" if position is not None else "children"
        history = values.history or ()
        if len(history) > MAX_HISTORY_PERIODS:
            raise InvalidInputError(
                "TOO_MANY",
                f"{where}.history: at most {MAX_HISTORY_PERIODS} periods",
                f"{where}.history",
            )
        potential: object = values.potential
        if potential is None and request.method in (
            AllocationMethod.POTENTIAL,
            AllocationMethod.BLEND,
        ):
            potential = attributes.get(member.id, {}).get("marketPotential")
        children.append(
            ChildInput(
                key=member.code,
                weight=values.weight,
                history=tuple(history),
                growth=values.growth,
                potential=potential if isinstance(potential, str | int) else None,
                penetration=values.penetration,
                amount=amount(values.amount, f"{where}.amount"),
                locked_amount=amount(values.locked_amount, f"{where}.lockedAmount"),
                floor=amount(values.floor, f"{where}.floor"),
                cap=amount(values.cap, f"{where}.cap"),
            )
        )
    step = 1
    if options.step is not None:
        parsed = amount(options.step, "options.step")
        if not parsed:
            raise InvalidInputError(
                "OUT_OF_RANGE", "options.step must be above zero", "options.step"
            )
        step = parsed
    spec = AllocationSpec(
        method=request.method,
        weights=WeightsOptions(percentages=options.percentages),
        history=HistoryOptions(
            mode=options.history_mode,
            no_history=options.no_history,
            no_history_floor=amount(options.no_history_floor, "options.noHistoryFloor") or 0,
            reserved_share=options.reserved_share or 0,
        ),
        potential=PotentialOptions(penetration=options.penetration),
        blend=tuple(BlendComponent(p.method, p.weight) for p in options.blend),
        seasonal=SeasonalOptions(source=options.profile, lag=options.lag, ramp=options.ramp),
        manual=ManualOptions(fallback=options.manual_fallback),
        step=step,
        over_assignment=options.over_assignment or 0,
    )
    return AllocationRequest(
        parent=parent_amount,
        children=tuple(children),
        spec=spec,
        parent_key=parent_label,
        units=Units(digits),
    )
