"""A split as a planner states it, and the allocation request it becomes.

The planner (through the API) names members by id and gives amounts in the
plan's units (``Decimal``, e.g. ``1250000.00`` euros); the engine wants children
keyed by member code and amounts in integer minor units. ``build_allocation``
is the one conversion between the two: it parses amounts in the plan's digits,
matches per-child inputs to the split's members, and reads a member's
``marketPotential`` attribute when POTENTIAL (or a BLEND) needs one and none
was given. Weights, history values, potentials and rates stay exact decimals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from service.domain.allocation import (
    AllocationError,
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
from service.domain.calendar import TimeLevel
from service.domain.money import parse_amount
from service.domain.tree import InvalidInputError, MemberFacts

MAX_HISTORY_PERIODS = 60
"""Most past periods one child's ``history`` may list."""
MAX_LAG = 1000
"""Largest SEASONAL ``lag`` or ``ramp`` (periods)."""


@dataclass(frozen=True, slots=True)
class BlendPart:
    """One component of a BLEND: a method and its weight in the mix."""

    method: AllocationMethod
    weight: Decimal


@dataclass(frozen=True, slots=True)
class HistoryFrom:
    """Read the children's history from the stored actuals of past fiscal years.

    ``profile_level`` (a SEASONAL split of time members only) reads a finer profile,
    e.g. ``MONTH`` for a quarterly split: each quarter's value is the sum of its
    months' (as a monthly distribution applied to quarters).
    """

    fiscal_years: tuple[int, ...]
    profile_level: TimeLevel | None = None


_READS_HISTORY = (AllocationMethod.HISTORY, AllocationMethod.BLEND, AllocationMethod.SEASONAL)


def check_history_from(spec: SplitSpec, prefix: str = "") -> None:
    """``options.historyFrom`` only where history is read, and never with inline history."""
    source = spec.options.history_from
    if source is None:
        return
    field = f"{prefix}options.historyFrom"
    method = spec.method
    reads = method in _READS_HISTORY
    if method is AllocationMethod.BLEND:
        reads = any(p.method is AllocationMethod.HISTORY for p in spec.options.blend)
    if method is AllocationMethod.SEASONAL:
        reads = spec.options.profile is ProfileSource.HISTORY
    if not reads:
        raise InvalidInputError(
            "INVALID_VALUE",
            f"{field} feeds HISTORY, a BLEND with a HISTORY component or a SEASONAL split "
            f"with a HISTORY profile; {method.value} reads no history",
            field,
        )
    if source.profile_level is not None and method is not AllocationMethod.SEASONAL:
        raise InvalidInputError(
            "INVALID_VALUE",
            f"{field}.profileLevel is for SEASONAL splits of periods",
            f"{field}.profileLevel",
        )
    inline = [i for i, c in enumerate(spec.children) if c.history is not None]
    if inline:
        raise InvalidInputError(
            "INVALID_VALUE",
            f"give history either inline (children.{inline[0]}.history) or from the stored "
            f"actuals ({field}), not both",
            field,
        )


@dataclass(frozen=True, slots=True)
class SplitOptions:
    """Options of a split's method and its constraints (amounts in the plan's units)."""

    percentages: bool = False
    history_mode: HistoryMode = HistoryMode.AVERAGE_OF_SHARES
    no_history: NoHistoryRule = NoHistoryRule.ERROR
    no_history_floor: Decimal | None = None
    reserved_share: Decimal | None = None
    penetration: Decimal | None = None
    blend: tuple[BlendPart, ...] = ()
    profile: ProfileSource = ProfileSource.HISTORY
    lag: int = 0
    ramp: int = 0
    manual_fallback: AllocationMethod | None = None
    step: Decimal | None = None
    over_assignment: Decimal | None = None
    history_from: HistoryFrom | None = None


@dataclass(frozen=True, slots=True)
class ChildValues:
    """The inputs of one child, by member id; ``None`` where not given."""

    member_id: int
    weight: Decimal | None = None
    history: tuple[Decimal | None, ...] | None = None
    growth: Decimal | None = None
    potential: Decimal | None = None
    penetration: Decimal | None = None
    amount: Decimal | None = None
    locked_amount: Decimal | None = None
    floor: Decimal | None = None
    cap: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """How to share a node's target over the members of a split."""

    method: AllocationMethod = AllocationMethod.EQUAL
    children: Sequence[ChildValues] = ()
    options: SplitOptions = field(default_factory=SplitOptions)


def build_allocation(
    parent_amount: int,
    parent_label: str,
    members: Sequence[MemberFacts],
    attributes: Mapping[int, Mapping[str, object]],
    spec: SplitSpec,
    digits: int,
    prefix: str = "",
) -> AllocationRequest:
    """The engine's request for splitting ``parent_amount`` over ``members``.

    ``spec.children`` carry per-member inputs by member id: each member at most
    once and only members of the split. ``prefix`` is prepended to the names of
    fields in errors (``rows.`` for the first axis of a two-way split).
    """
    positions = {m.id: i for i, m in enumerate(members)}
    given: dict[int, ChildValues] = {}
    given_at: dict[int, int] = {}
    for index, values in enumerate(spec.children):
        where = f"{prefix}children.{index}"
        if values.member_id not in positions:
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{where}.memberId is not one of the split's members",
                f"{where}.memberId",
            )
        if values.member_id in given:
            raise InvalidInputError(
                "DUPLICATE", f"{where}.memberId appears twice in children", f"{where}.memberId"
            )
        given[values.member_id] = values
        given_at[values.member_id] = index
    options = spec.options
    for name, value in (("lag", options.lag), ("ramp", options.ramp)):
        if not 0 <= value <= MAX_LAG:
            raise InvalidInputError(
                "OUT_OF_RANGE",
                f"options.{name} must be between 0 and {MAX_LAG} periods, got {value}",
                f"{prefix}options.{name}",
            )

    def amount(value: Decimal | None, where: str) -> int | None:
        return None if value is None else parse_amount(value, digits, field=prefix + where)

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
                f"{prefix}{where}.history",
            )
        potential: object = values.potential
        if potential is None and spec.method in (
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
                potential=potential if isinstance(potential, str | int | Decimal) else None,
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
                "OUT_OF_RANGE", "options.step must be above zero", f"{prefix}options.step"
            )
        step = parsed
    allocation = AllocationSpec(
        method=spec.method,
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
        spec=allocation,
        parent_key=parent_label,
        units=Units(digits),
    )


_OPTION_FIELDS = {
    "reserved_share": "options.reservedShare",
    "no_history_floor": "options.noHistoryFloor",
}


def name_engine_field(error: AllocationError, spec: SplitSpec, prefix: str = "") -> None:
    """Give an allocation engine error the input field it is about, when it names none.

    The engine names its own inputs in ``details`` (``children``, ``reserved_share``
    ...), not the API's fields; a user error must name one (``prefix`` as in
    :func:`build_allocation`). What is about no single input is about the method
    and its options: the blend's components, a MANUAL split's fallback, else the
    method itself.
    """
    details = error.details
    if details.get("field"):
        return
    if "children" in details:
        name = "children"
    elif found := next((f for key, f in _OPTION_FIELDS.items() if key in details), None):
        name = found
    elif spec.method is AllocationMethod.BLEND:
        name = "options.blend"
    elif spec.method is AllocationMethod.MANUAL and "method" in details:
        name = "options.manualFallback"
    else:
        name = "method"
    details["field"] = prefix + name
