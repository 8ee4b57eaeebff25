"""The allocation request: children, method spec and constraints (frozen dataclasses).

A request is plain data. ``to_dict()`` gives JSON-ready dicts and
``from_dict()`` reads them back, so a split can be stored on its node and
recomputed later with the same cents (``allocate`` is deterministic).

Amounts (parent, locks, floors, caps, manual amounts) are Python ``int`` in
minor units or units of quantity, ``0 <= x <= 2**63 - 1``. Every other number
is a :data:`~service.domain.allocation.exact.Number`, read exactly.

Display: a child's ``label`` (default: its key) and the request's ``units``
(decimals and unit label) only change how messages and explanation texts read;
they are not part of the stored form and never change an amount.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from service.domain.allocation.errors import AllocationErrorCode, AllocationInputError
from service.domain.allocation.exact import Number, from_json_number, json_number, show
from service.domain.allocation.units import MINOR, Units


class AllocationMethod(StrEnum):
    """How a parent's amount is shared among its children (values equal names)."""

    EQUAL = "EQUAL"
    """Equal shares."""
    WEIGHTS = "WEIGHTS"
    """Proportional to ``ChildInput.weight`` (any non-negative weights, or percentages)."""
    HISTORY = "HISTORY"
    """From past periods of the same slice (``ChildInput.history``), see :class:`HistoryMode`."""
    POTENTIAL = "POTENTIAL"
    """Proportional to ``ChildInput.potential`` times an optional penetration rate."""
    BLEND = "BLEND"
    """A convex mix of the shares of other methods (``AllocationSpec.blend``)."""
    SEASONAL = "SEASONAL"
    """Time children: a seasonal profile plus a sales-cycle lag / ramp."""
    MANUAL = "MANUAL"
    """Explicit amounts (``ChildInput.amount``), with an optional fallback method."""


class HistoryMode(StrEnum):
    """The two top-down methods of Gross & Sohl (1990) used in hierarchical forecasting."""

    AVERAGE_OF_SHARES = "AVERAGE_OF_SHARES"
    """"Average historical proportions": each period's share, averaged over periods."""
    SHARE_OF_TOTAL = "SHARE_OF_TOTAL"
    """"Proportions of historical averages": the child's share of the summed history."""


class NoHistoryRule(StrEnum):
    """What a child without history gets under HISTORY (and SEASONAL from history).

    A child has *no history* when its ``history`` is empty or every value is
    ``None``. The rule is chosen by the caller; the default refuses (ERROR), so
    a missing history is never handled silently.
    """

    ERROR = "ERROR"
    """Refuse with ``MISSING_HISTORY`` naming the children."""
    ZERO = "ZERO"
    """Share 0 (the child gets 0, or its own floor)."""
    FLOOR = "FLOOR"
    """Share 0 and a floor of ``HistoryOptions.no_history_floor`` (an amount)."""
    RESERVED_SHARE = "RESERVED_SHARE"
    """``HistoryOptions.reserved_share`` of the amount is split equally among the
    children without history; the rest goes by history to the others."""


class ProfileSource(StrEnum):
    """Where a SEASONAL profile comes from."""

    HISTORY = "HISTORY"
    """From ``ChildInput.history`` (one value per past year), see ``HistoryOptions.mode``."""
    GIVEN = "GIVEN"
    """From ``ChildInput.weight`` (a given profile, any non-negative weights)."""


# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildInput:
    """One child: its key and the inputs its method and constraints need.

    Only the fields the chosen method reads are required; the others are ignored.
    ``history`` values are aligned by position across children (oldest first);
    ``None`` marks a missing value (treated as 0 and reported in the explanation).
    """

    key: str
    weight: Number | None = None
    """WEIGHTS: weight or percentage. SEASONAL (GIVEN): profile value."""
    history: tuple[Number | None, ...] = ()
    """HISTORY / SEASONAL (HISTORY): one value per past period, oldest first."""
    growth: Number | None = None
    """HISTORY: growth rate applied to the history share, e.g. 0.1 = +10 % (>= -1)."""
    potential: Number | None = None
    """POTENTIAL: the attribute (market capacity, accounts, ...)."""
    penetration: Number | None = None
    """POTENTIAL: this child's target penetration rate (overrides the spec default)."""
    amount: int | None = None
    """MANUAL: the explicit amount."""
    locked_amount: int | None = None
    """Lock: the child keeps exactly this amount."""
    floor: int | None = None
    """Lower bound of the child's amount."""
    cap: int | None = None
    """Upper bound of the child's amount."""
    label: str | None = field(default=None, compare=False)
    """How texts name the child (a member code or name); defaults to ``key``."""

    @property
    def name(self) -> str:
        """The label texts use."""
        return self.label if self.label is not None else self.key

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key}
        for name in ("weight", "growth", "potential", "penetration"):
            value = getattr(self, name)
            if value is not None:
                out[name] = json_number(value)
        if self.history:
            out["history"] = [None if v is None else json_number(v) for v in self.history]
        for name in ("amount", "locked_amount", "floor", "cap"):
            value = getattr(self, name)
            if value is not None:
                out[name] = _json_int(value, f"{name} of {self.name}")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChildInput:
        _known(data, cls, "child")
        key = data.get("key")
        if not isinstance(key, str):
            raise _bad(f"child key must be a string, got {show(key)}")
        history = data.get("history") or ()
        if not isinstance(history, list | tuple):
            raise _bad(f"history of {key} must be a list")
        return cls(
            key=key,
            weight=_opt_number(data, "weight"),
            history=tuple(None if v is None else _number(v, "history") for v in history),
            growth=_opt_number(data, "growth"),
            potential=_opt_number(data, "potential"),
            penetration=_opt_number(data, "penetration"),
            amount=_opt_int(data, "amount"),
            locked_amount=_opt_int(data, "locked_amount"),
            floor=_opt_int(data, "floor"),
            cap=_opt_int(data, "cap"),
        )


@dataclass(frozen=True, slots=True)
class WeightsOptions:
    """WEIGHTS: ``percentages=True`` requires the weights to sum to 100 (see engine)."""

    percentages: bool = False


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    """HISTORY (and SEASONAL from history) options."""

    mode: HistoryMode = HistoryMode.AVERAGE_OF_SHARES
    no_history: NoHistoryRule = NoHistoryRule.ERROR
    no_history_floor: int = 0
    """FLOOR rule: the amount each child without history receives at least."""
    reserved_share: Number = 0
    """RESERVED_SHARE rule: fraction in [0, 1] of the distributable amount."""


@dataclass(frozen=True, slots=True)
class PotentialOptions:
    """POTENTIAL options: a default penetration rate for children without their own."""

    penetration: Number | None = None


@dataclass(frozen=True, slots=True)
class BlendComponent:
    """One component of a BLEND: a method (EQUAL, WEIGHTS, HISTORY or POTENTIAL) and its weight."""

    method: AllocationMethod
    weight: Number


@dataclass(frozen=True, slots=True)
class SeasonalOptions:
    """SEASONAL options: profile source and sales-cycle lag / ramp.

    Ramp factors by period position ``t`` (0-based, in the order of the request's
    children, i.e. time order): ``0`` for ``t < lag``; ``j / (ramp + 1)`` for the
    ``j``-th period after the lag (``j = 1..ramp``); ``1`` afterwards.
    ``ramp_factors`` (each in [0, 1]) replaces both when given: period ``t`` gets
    ``ramp_factors[t]`` and 1 beyond its length.
    """

    source: ProfileSource = ProfileSource.HISTORY
    lag: int = 0
    ramp: int = 0
    ramp_factors: tuple[Number, ...] | None = None


@dataclass(frozen=True, slots=True)
class ManualOptions:
    """MANUAL options: the fallback for children without an amount.

    ``fallback=None``: every child needs an amount and they must add up to the
    amount to split (else ``MANUAL_MISMATCH``). Otherwise the remainder is spread
    over the children without an amount by the fallback method (any method but
    MANUAL), using the spec's options for that method.
    """

    fallback: AllocationMethod | None = None


@dataclass(frozen=True, slots=True)
class AllocationSpec:
    """A method, its options and the split-wide constraints.

    ``step``: children are rounded to multiples of ``step`` (1 = whole units,
    100 = hundreds, ...); see :mod:`.constraints` for the leftover rule.
    ``over_assignment``: a percentage (e.g. 10 for a 10 % quota buffer); the
    children then add up to ``parent + round_half_up(parent * over_assignment / 100)``.
    """

    method: AllocationMethod
    weights: WeightsOptions = field(default_factory=WeightsOptions)
    history: HistoryOptions = field(default_factory=HistoryOptions)
    potential: PotentialOptions = field(default_factory=PotentialOptions)
    blend: tuple[BlendComponent, ...] = ()
    seasonal: SeasonalOptions = field(default_factory=SeasonalOptions)
    manual: ManualOptions = field(default_factory=ManualOptions)
    step: int = 1
    over_assignment: Number = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method.value,
            "step": _json_int(self.step, "step"),
            "over_assignment": json_number(self.over_assignment),
            "weights": {"percentages": self.weights.percentages},
            "history": {
                "mode": self.history.mode.value,
                "no_history": self.history.no_history.value,
                "no_history_floor": _json_int(self.history.no_history_floor, "no_history_floor"),
                "reserved_share": json_number(self.history.reserved_share),
            },
            "potential": {
                "penetration": None
                if self.potential.penetration is None
                else json_number(self.potential.penetration)
            },
            "blend": [
                {"method": c.method.value, "weight": json_number(c.weight)} for c in self.blend
            ],
            "seasonal": {
                "source": self.seasonal.source.value,
                "lag": _json_int(self.seasonal.lag, "lag"),
                "ramp": _json_int(self.seasonal.ramp, "ramp"),
                "ramp_factors": None
                if self.seasonal.ramp_factors is None
                else [json_number(f) for f in self.seasonal.ramp_factors],
            },
            "manual": {
                "fallback": None if self.manual.fallback is None else self.manual.fallback.value
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AllocationSpec:
        _known(data, cls, "spec")
        weights = _section(data, "weights")
        history = _section(data, "history")
        potential = _section(data, "potential")
        seasonal = _section(data, "seasonal")
        manual = _section(data, "manual")
        blend = data.get("blend") or []
        if not isinstance(blend, list | tuple):
            raise _bad("blend must be a list of {method, weight}")
        factors = seasonal.get("ramp_factors")
        fallback = manual.get("fallback")
        return cls(
            method=_enum(AllocationMethod, data.get("method"), "method"),
            weights=WeightsOptions(
                percentages=_bool(weights.get("percentages", False), "percentages")
            ),
            history=HistoryOptions(
                mode=_enum(HistoryMode, history.get("mode", HistoryMode.AVERAGE_OF_SHARES), "mode"),
                no_history=_enum(
                    NoHistoryRule, history.get("no_history", NoHistoryRule.ERROR), "no_history"
                ),
                no_history_floor=_int(history.get("no_history_floor", 0), "no_history_floor"),
                reserved_share=_number(history.get("reserved_share", 0), "reserved_share"),
            ),
            potential=PotentialOptions(penetration=_opt_number(potential, "penetration")),
            blend=tuple(
                BlendComponent(
                    method=_enum(
                        AllocationMethod, _mapping(c, "blend").get("method"), "blend method"
                    ),
                    weight=_number(_mapping(c, "blend").get("weight"), "blend weight"),
                )
                for c in blend
            ),
            seasonal=SeasonalOptions(
                source=_enum(
                    ProfileSource, seasonal.get("source", ProfileSource.HISTORY), "source"
                ),
                lag=_int(seasonal.get("lag", 0), "lag"),
                ramp=_int(seasonal.get("ramp", 0), "ramp"),
                ramp_factors=None
                if factors is None
                else tuple(_number(f, "ramp_factors") for f in _list(factors, "ramp_factors")),
            ),
            manual=ManualOptions(
                fallback=None if fallback is None else _enum(AllocationMethod, fallback, "fallback")
            ),
            step=_int(data.get("step", 1), "step"),
            over_assignment=_number(data.get("over_assignment", 0), "over_assignment"),
        )


@dataclass(frozen=True, slots=True)
class AllocationRequest:
    """Split ``parent`` over ``children`` with ``spec``.

    ``parent_key`` is the parent's label, only used in texts ("42 % of East");
    ``units`` says how texts print amounts (see :mod:`.units`).
    """

    parent: int
    children: tuple[ChildInput, ...]
    spec: AllocationSpec
    parent_key: str | None = None
    units: Units = field(default=MINOR, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "parent": _json_int(self.parent, "parent"),
            "parent_key": self.parent_key,
            "spec": self.spec.to_dict(),
            "children": [c.to_dict() for c in self.children],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AllocationRequest:
        _known(data, cls, "request")
        children = data.get("children")
        if not isinstance(children, list | tuple):
            raise _bad("children must be a list")
        parent_key = data.get("parent_key")
        if parent_key is not None and not isinstance(parent_key, str):
            raise _bad("parent_key must be a string")
        return cls(
            parent=_int(data.get("parent"), "parent"),
            children=tuple(ChildInput.from_dict(_mapping(c, "child")) for c in children),
            spec=AllocationSpec.from_dict(_mapping(data.get("spec"), "spec")),
            parent_key=parent_key,
        )


# ---------------------------------------------------------------------------
# from_dict helpers: malformed stored data is an INVALID_INPUT domain error

E = TypeVar("E", bound=StrEnum)


def _json_int(value: object, what: str) -> int:
    """An integer field for the stored form (JSON, PostgreSQL bigint range)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise _bad(f"{what} must be an integer of at most 19 digits, got {show(value)}")
    return value


def _bad(message: str) -> AllocationInputError:
    return AllocationInputError(AllocationErrorCode.INVALID_INPUT, message, {})


def _known(data: Mapping[str, Any], cls: type, what: str) -> None:
    if not isinstance(data, Mapping):
        raise _bad(f"{what} must be an object")
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise _bad(f"unknown {what} field(s): {', '.join(sorted(map(str, unknown)))}")


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(f"{what} must be an object")
    return value


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    return {} if value is None else _mapping(value, name)


def _list(value: object, what: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise _bad(f"{what} must be a list")
    return value


def _enum(cls: type[E], value: object, what: str) -> E:
    allowed = ", ".join(m.value for m in cls)
    if not isinstance(value, str) or value not in {m.value for m in cls}:
        raise _bad(f"{what} must be one of {allowed}, got {show(value)}")
    return cls(value)


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"{what} must be true or false")
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{what} must be an integer, got {show(value)}")
    return value


def _opt_int(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    return None if value is None else _int(value, name)


def _number(value: object, what: str) -> Number:
    try:
        return from_json_number(value, what)
    except TypeError as exc:
        raise _bad(str(exc)) from None


def _opt_number(data: Mapping[str, Any], name: str) -> Number | None:
    value = data.get(name)
    return None if value is None else _number(value, name)
