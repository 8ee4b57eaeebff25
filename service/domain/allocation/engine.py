"""The entry point: ``allocate(request) -> AllocationResult``.

Pipeline (each step documented in its module):

1. **Validate** (:func:`allocate` raises typed errors naming children and numbers):
   at least one child, unique non-empty keys, amounts ``0 <= x <= 2**63-1``,
   ``floor <= cap``, locked and manual amounts within their own bounds,
   ``step >= 1``.
2. **Total**: ``parent`` plus the over-assignment percentage
   (:func:`.constraints.buffered_total`).
3. **Locks**: locked children (and, for MANUAL, children with an amount) keep
   their amounts; they must not add up to more than the total
   (``LOCKED_EXCEEDS_TOTAL``); if every child is fixed they must add up to it
   exactly (``NOTHING_TO_ABSORB`` / ``MANUAL_MISMATCH``).
4. **Shares** of the free children by the method (:mod:`.methods`).
5. **Floors, caps, step, rounding** (:mod:`.constraints`, :mod:`.rounding`).
6. **Explanations**, built lazily on first access of
   ``AllocationResult.explanations`` (a 1,000,000-child split does not pay for
   a million explanation objects unless it asks for them).

EQUAL, WEIGHTS and POTENTIAL splits without floors or caps take a vectorised
path (numpy, see :mod:`.rounding`); everything else uses exact rationals. Both
give the same cents (tested), and the explanations of a vectorised result are
computed by the exact path, which re-checks the amounts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from operator import attrgetter, countOf
from typing import Any

import numpy as np
import numpy.typing as npt

from service.domain.allocation.constraints import Distribution, buffered_total, distribute
from service.domain.allocation.errors import (
    AllocationErrorCode,
    AllocationInputError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import (
    BIGINT_MAX,
    is_int_amount,
    show,
    sig_text,
    to_fraction,
)
from service.domain.allocation.explain import (
    Adjustment,
    AdjustmentKind,
    ChildExplanation,
    buffer_info,
    dec,
    sentence,
)
from service.domain.allocation.methods import Shares, check_percentages, compute_shares
from service.domain.allocation.model import AllocationMethod, AllocationRequest, ChildInput
from service.domain.allocation.rounding import _as_array, apportion_array
from service.domain.allocation.units import Units, amount_text

_MAX_LISTED = 20
_FAST_METHODS = frozenset(
    {AllocationMethod.EQUAL, AllocationMethod.WEIGHTS, AllocationMethod.POTENTIAL}
)


@dataclass(frozen=True)
class AllocationResult:
    """Integer amounts (in the order of the request's children) and their explanations.

    ``sum(amounts) == total`` always; ``total`` is the parent plus the
    over-assignment. ``explanations`` is computed on first access.
    """

    parent: int
    total: int
    method: AllocationMethod
    keys: tuple[str, ...]
    amounts: tuple[int, ...]
    notes: tuple[str, ...]
    explainer: Callable[[], tuple[ChildExplanation, ...]] = field(repr=False, compare=False)

    @cached_property
    def explanations(self) -> tuple[ChildExplanation, ...]:
        """One explanation per child, in the order of ``keys``."""
        return self.explainer()

    def amount_of(self, key: str) -> int:
        """The amount of the child ``key`` (``KeyError`` if unknown)."""
        return self.amounts[self.keys.index(key)]

    def as_mapping(self) -> dict[str, int]:
        """``{key: amount}`` in the order of the request."""
        return dict(zip(self.keys, self.amounts, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, explanations included."""
        return {
            "parent": self.parent,
            "total": self.total,
            "method": self.method.value,
            "notes": list(self.notes),
            "children": [
                {"key": k, "amount": a, "explanation": e.to_dict()}
                for k, a, e in zip(self.keys, self.amounts, self.explanations, strict=True)
            ],
        }


@dataclass(frozen=True)
class _Plan:
    """What validation established (columns are by child, in request order)."""

    keys: tuple[str, ...]
    names: tuple[str, ...]
    """How texts name the children (labels, else keys)."""
    total: int
    fixed: dict[int, tuple[int, AdjustmentKind]]
    free: list[int]
    distributable: int
    share_method: AllocationMethod | None
    floors: dict[int, int]
    """Floors by child position (children without a floor are absent)."""
    caps: dict[int, int]
    """Caps by child position (children without a cap are absent)."""
    over_assignment: Fraction


@dataclass(frozen=True)
class _Trace:
    amounts: list[int]
    shares: Shares | None
    dist: Distribution | None


def allocate(request: AllocationRequest) -> AllocationResult:
    """Split ``request.parent`` over ``request.children`` by ``request.spec``.

    Returns integer amounts adding up exactly to the total (parent plus
    over-assignment). Raises :class:`AllocationInputError` or
    :class:`InfeasibleAllocationError` (both ``DomainError``) naming the
    children and numbers involved.
    """
    plan = _prepare(request)
    fast = _fast_amounts(request, plan)
    if fast is not None:
        amounts = fast

        def explainer() -> tuple[ChildExplanation, ...]:
            trace = _trace(request, plan)
            if trace.amounts != amounts:  # pragma: no cover - guarded by tests
                raise AssertionError("vectorised and exact allocation disagree")
            return _explanations(request, plan, trace)

    else:
        trace = _trace(request, plan)
        amounts = trace.amounts

        def explainer() -> tuple[ChildExplanation, ...]:
            return _explanations(request, plan, trace)

    return AllocationResult(
        parent=request.parent,
        total=plan.total,
        method=request.spec.method,
        keys=plan.keys,
        amounts=tuple(amounts),
        notes=_notes(request, plan),
        explainer=explainer,
    )


# ---------------------------------------------------------------------------
# validation


def _prepare(request: AllocationRequest) -> _Plan:
    spec = request.spec
    children = request.children
    if not isinstance(spec.method, AllocationMethod):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"method must be an AllocationMethod, got {show(spec.method)}",
            {"method": show(spec.method)},
        )
    if not children:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, "a split needs at least one child", {"children": []}
        )
    if not all(issubclass(t, ChildInput) for t in set(map(type, children))):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, "children must be ChildInput objects", {}
        )
    units = request.units
    if not isinstance(units, Units):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, "units must be a Units value", {}
        )
    parent = request.parent
    if not is_int_amount(parent) or not 0 <= parent <= BIGINT_MAX:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"the amount to split must be a whole amount from 0 to "
            f"{units.amount(BIGINT_MAX)}, got {amount_text(parent, units)}",
            {"parent": show(parent)},
        )
    step = spec.step
    if not is_int_amount(step) or not 1 <= step <= BIGINT_MAX:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"step must be a positive integer, got {show(step)}",
            {"step": show(step)},
        )
    total = buffered_total(parent, spec.over_assignment, units=units, label=request.parent_key)
    keys = tuple(map(attrgetter("key"), children))
    _check_keys(keys)
    names = keys if all(c.label is None for c in children) else tuple(c.name for c in children)
    n = len(children)
    columns: dict[str, dict[int, int]] = {}
    for name in ("amount", "locked_amount", "floor", "cap"):
        columns[name] = column = _sparse_column(children, name, n)
        bad = [i for i, v in column.items() if not (is_int_amount(v) and 0 <= v <= BIGINT_MAX)]
        if bad:
            raise AllocationInputError(
                AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
                f"{name.replace('_', ' ')} must be a whole amount from 0 to "
                f"{units.amount(BIGINT_MAX)}: "
                + ", ".join(
                    f"{names[i]} {amount_text(column[i], units)}" for i in bad[:_MAX_LISTED]
                ),
                {
                    "field": name,
                    "children": [keys[i] for i in bad[:_MAX_LISTED]],
                    "values": [show(column[i]) for i in bad[:_MAX_LISTED]],
                },
            )
    floors, caps, locks = columns["floor"], columns["cap"], columns["locked_amount"]
    is_manual = spec.method is AllocationMethod.MANUAL
    manual = columns["amount"] if is_manual else {}
    bad_bounds: list[str] = []
    if floors or caps:
        for i in sorted(set(floors) | set(caps)):
            lo, hi = floors.get(i, 0), caps.get(i)
            if hi is not None and lo > hi:
                bad_bounds.append(
                    f"{names[i]}: floor {units.amount(lo)} above cap {units.amount(hi)}"
                )
            for label, value in (("locked amount", locks.get(i)), ("manual amount", manual.get(i))):
                if value is not None and value < lo:
                    bad_bounds.append(
                        f"{names[i]}: {label} {units.amount(value)} below its floor "
                        f"{units.amount(lo)}"
                    )
                elif value is not None and hi is not None and value > hi:
                    bad_bounds.append(
                        f"{names[i]}: {label} {units.amount(value)} above its cap "
                        f"{units.amount(hi)}"
                    )
    if bad_bounds:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_BOUNDS,
            "bounds contradict: " + "; ".join(bad_bounds[:_MAX_LISTED]),
            {"problems": bad_bounds[:_MAX_LISTED]},
        )

    fixed: dict[int, tuple[int, AdjustmentKind]] = {
        i: (value, AdjustmentKind.LOCK) for i, value in sorted(locks.items())
    }
    for i, value in sorted(manual.items()):
        if i in fixed and fixed[i][0] != value:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                f"{names[i]} is locked at {units.amount(fixed[i][0])} but its manual amount "
                f"is {units.amount(value)}",
                {"children": [keys[i]], "locked_amount": fixed[i][0], "amount": value},
            )
        fixed.setdefault(i, (value, AdjustmentKind.MANUAL))
    fixed_sum = sum(v for v, _ in fixed.values())
    if fixed_sum > total:
        named = sorted(fixed)
        raise InfeasibleAllocationError(
            AllocationErrorCode.LOCKED_EXCEEDS_TOTAL,
            f"locked{' and manual' if is_manual else ''} amounts add up to "
            f"{units.amount(fixed_sum)}, above the {units.amount(total)} to split: "
            + ", ".join(f"{names[i]} {units.amount(fixed[i][0])}" for i in named[:_MAX_LISTED]),
            {
                "children": [keys[i] for i in named[:_MAX_LISTED]],
                "amounts": [fixed[i][0] for i in named[:_MAX_LISTED]],
                "locked_sum": fixed_sum,
                "total": total,
            },
        )
    free = [i for i in range(n) if i not in fixed] if fixed else list(range(n))
    distributable = total - fixed_sum
    share_method: AllocationMethod | None = spec.method
    if is_manual:
        share_method = spec.manual.fallback
        if share_method is None and (free or distributable):
            without = [keys[i] for i in free]
            if without:
                message = (
                    f"no manual amount for {', '.join(names[i] for i in free[:_MAX_LISTED])} "
                    "and no fallback method to spread the remainder"
                )
            else:
                message = (
                    f"manual amounts add up to {units.amount(fixed_sum)}, not "
                    f"{units.amount(total)} (difference {units.signed(total - fixed_sum)})"
                )
            raise InfeasibleAllocationError(
                AllocationErrorCode.MANUAL_MISMATCH,
                message,
                {
                    "children": without[:_MAX_LISTED],
                    "manual_sum": fixed_sum,
                    "total": total,
                    "difference": total - fixed_sum,
                },
            )
        if share_method is AllocationMethod.MANUAL:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                "the MANUAL fallback must be another method",
                {"fallback": share_method.value},
            )
    if not free and distributable:
        code = (
            AllocationErrorCode.MANUAL_MISMATCH
            if is_manual
            else AllocationErrorCode.NOTHING_TO_ABSORB
        )
        raise InfeasibleAllocationError(
            code,
            f"every child is fixed and their amounts add up to {units.amount(fixed_sum)}, "
            f"not {units.amount(total)} (difference {units.signed(distributable)})",
            {"children": list(keys[:_MAX_LISTED]), "fixed_sum": fixed_sum, "total": total},
        )
    if free and _uses_percentages(request, share_method):
        check_percentages(children)
    pct = to_fraction(spec.over_assignment) or Fraction(0)
    return _Plan(keys, names, total, fixed, free, distributable, share_method, floors, caps, pct)


def _check_keys(keys: Sequence[str]) -> None:
    unique = set(keys)
    if set(map(type, keys)) - {str} or "" in unique:
        bad = [i for i, k in enumerate(keys) if not isinstance(k, str) or not k]
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"child keys must be non-empty strings (positions {bad[:_MAX_LISTED]})",
            {"positions": bad[:_MAX_LISTED]},
        )
    if len(unique) != len(keys):
        seen: set[str] = set()
        dupes: list[str] = []
        for k in keys:
            if k in seen and k not in dupes:
                dupes.append(k)
            seen.add(k)
        raise AllocationInputError(
            AllocationErrorCode.DUPLICATE_KEY,
            f"child keys must be unique; repeated: {', '.join(dupes[:_MAX_LISTED])}",
            {"children": dupes[:_MAX_LISTED]},
        )


def _sparse_column(children: Sequence[ChildInput], name: str, n: int) -> dict[int, int]:
    """The non-None values of one optional amount field, by child position."""
    getter = attrgetter(name)
    if countOf(map(getter, children), None) == n:
        return {}
    return {i: v for i, v in enumerate(map(getter, children)) if v is not None}


def _uses_percentages(request: AllocationRequest, method: AllocationMethod | None) -> bool:
    spec = request.spec
    if not spec.weights.percentages:
        return False
    if method is AllocationMethod.WEIGHTS:
        return True
    return method is AllocationMethod.BLEND and any(
        c.method is AllocationMethod.WEIGHTS for c in spec.blend
    )


# ---------------------------------------------------------------------------
# the vectorised path


def _fast_amounts(request: AllocationRequest, plan: _Plan) -> list[int] | None:
    method = plan.share_method
    if method not in _FAST_METHODS or not plan.free:
        return None
    children = request.children
    free = plan.free
    whole = len(free) == len(children)
    if any(i not in plan.fixed for i in plan.caps) or any(
        v for i, v in plan.floors.items() if i not in plan.fixed
    ):
        return None
    subset = children if whole else [children[i] for i in free]
    weights: npt.NDArray[Any] | None
    if method is AllocationMethod.EQUAL:
        weights = np.ones(len(free), dtype=np.int64)
    elif method is AllocationMethod.WEIGHTS:
        weights = _as_array(list(map(attrgetter("weight"), subset)))
    else:
        default = request.spec.potential.penetration
        if default is not None:
            rate = to_fraction(default)
            if rate is None or rate <= 0:
                return None
        penetrations = list(map(attrgetter("penetration"), subset))
        if penetrations.count(None) != len(penetrations):
            return None
        weights = _as_array(list(map(attrgetter("potential"), subset)))
    if weights is None or (plan.distributable and not weights.any()):
        return None  # the exact path raises the canonical error
    keys = plan.keys if whole else [plan.keys[i] for i in free]
    step = request.spec.step
    units, leftover = divmod(plan.distributable, step)
    try:
        parts = apportion_array(units, weights, keys)
    except AllocationInputError:
        return None  # the exact path raises the canonical error
    if step != 1:
        parts = parts * np.int64(step)
        if leftover:
            top = int(parts.max())
            candidates = np.flatnonzero(parts == top).tolist()
            wl = weights.tolist()
            taker = min(candidates, key=lambda j: (-wl[j], keys[j], j))
            parts[taker] += leftover
    amounts: list[int] = parts.tolist()
    if whole:
        return amounts
    out = [0] * len(children)
    for i, (value, _) in plan.fixed.items():
        out[i] = value
    for i, value in zip(free, amounts, strict=True):
        out[i] = value
    return out


# ---------------------------------------------------------------------------
# the exact path


def _trace(request: AllocationRequest, plan: _Plan) -> _Trace:
    children = request.children
    out = [0] * len(children)
    for i, (value, _) in plan.fixed.items():
        out[i] = value
    if not plan.free:
        return _Trace(out, None, None)
    assert plan.share_method is not None
    free_children = [children[i] for i in plan.free]
    shares = compute_shares(
        plan.share_method, free_children, plan.free, request.spec, request.units
    )
    caps = [plan.caps.get(i) for i in plan.free]
    floors = [
        max(plan.floors.get(i, 0), _under(shares.floors.get(j, 0), caps[j]))
        for j, i in enumerate(plan.free)
    ]
    keys = [plan.keys[i] for i in plan.free]
    dist = distribute(
        plan.distributable,
        shares.values,
        floors,
        caps,
        keys,
        request.spec.step,
        names=[plan.names[i] for i in plan.free],
        units=request.units,
    )
    for i, value in zip(plan.free, dist.amounts, strict=True):
        out[i] = value
    return _Trace(out, shares, dist)


def _under(floor: int, cap: int | None) -> int:
    """A method-derived floor (no-history rule FLOOR) never exceeds the child's own cap."""
    return floor if cap is None else min(floor, cap)


def _explanations(
    request: AllocationRequest, plan: _Plan, trace: _Trace
) -> tuple[ChildExplanation, ...]:
    spec = request.spec
    units = request.units
    method = spec.method.value
    step = spec.step
    buffer = buffer_info(request.parent, plan.total, plan.over_assignment)

    def text(i: int, final: int, basis: str, adjustments: tuple[Adjustment, ...]) -> str:
        return sentence(
            plan.names[i],
            final,
            request.parent,
            request.parent_key,
            basis,
            adjustments,
            units=units,
            total=plan.total,
            over_assignment=plan.over_assignment,
        )

    out: list[ChildExplanation | None] = [None] * len(request.children)
    for i, (value, kind) in plan.fixed.items():
        detail = (
            f"locked at {units.amount(value)}"
            if kind is AdjustmentKind.LOCK
            else f"manual amount {units.amount(value)}"
        )
        adjustments: tuple[Adjustment, ...] = (Adjustment(kind, detail, after=str(value)),)
        out[i] = ChildExplanation(
            key=plan.keys[i],
            method=method,
            inputs={},
            share=None,
            proportional=None,
            unrounded=str(value),
            final=value,
            adjustments=adjustments,
            text=text(i, value, "", adjustments),
            buffer=buffer,
        )
    if trace.shares is not None and trace.dist is not None:
        shares, dist = trace.shares, trace.dist
        fallback = (
            f"fallback {plan.share_method.value}: "
            if spec.method is AllocationMethod.MANUAL and plan.share_method is not None
            else ""
        )
        for j, i in enumerate(plan.free):
            final = trace.amounts[i]
            adjustments = _adjustments(j, shares, dist, final, step, units)
            basis = fallback + shares.basis[j]
            out[i] = ChildExplanation(
                key=plan.keys[i],
                method=method,
                inputs=shares.inputs[j],
                share=float(shares.values[j]),
                proportional=dec(dist.proportional[j]),
                unrounded=dec(dist.unrounded[j]),
                final=final,
                adjustments=adjustments,
                text=text(i, final, basis, adjustments),
                components=tuple(shares.components[j]),
                buffer=buffer,
            )
    assert all(e is not None for e in out)
    return tuple(e for e in out if e is not None)


def _adjustments(
    j: int, shares: Shares, dist: Distribution, final: int, step: int, units: Units
) -> tuple[Adjustment, ...]:
    adjustments = list(shares.notes[j])
    proportional = dist.proportional[j]
    unrounded = dist.unrounded[j]
    clamp = dist.clamp[j]
    if clamp == "CAP":
        cap = dist.caps[j]
        assert cap is not None
        adjustments.append(
            Adjustment(
                AdjustmentKind.CAP,
                f"held by its cap {units.amount(cap)} (proportional {units.exact(proportional)})",
                before=dec(proportional),
                after=dec(unrounded),
            )
        )
    elif clamp == "FLOOR":
        adjustments.append(
            Adjustment(
                AdjustmentKind.FLOOR,
                f"held by its floor {units.amount(dist.floors[j])} "
                f"(proportional {units.exact(proportional)})",
                before=dec(proportional),
                after=dec(unrounded),
            )
        )
    elif unrounded != proportional:
        delta = unrounded - proportional
        adjustments.append(
            Adjustment(
                AdjustmentKind.REDISTRIBUTION,
                f"{units.signed_exact(delta)} from water-filling around capped or floored siblings",
                before=dec(proportional),
                after=dec(unrounded),
            )
        )
    took = dist.leftover if dist.leftover_index == j else 0
    rounded = final - took
    if Fraction(rounded) != unrounded:
        if step == 1:
            how = "up (largest remainder)" if rounded > unrounded else "down"
            detail = f"rounded {how} from {units.exact(unrounded)} to {units.amount(rounded)}"
        else:
            detail = (
                f"rounded to a multiple of {units.amount(step)}: {units.exact(unrounded)} -> "
                f"{units.amount(rounded)}"
            )
        adjustments.append(
            Adjustment(AdjustmentKind.ROUNDING, detail, before=dec(unrounded), after=str(rounded))
        )
    if took:
        adjustments.append(
            Adjustment(
                AdjustmentKind.LEFTOVER,
                f"took the rounding leftover {units.amount(took)} (largest amount)",
                before=str(rounded),
                after=str(final),
            )
        )
    return tuple(adjustments)


def _notes(request: AllocationRequest, plan: _Plan) -> tuple[str, ...]:
    spec = request.spec
    units = request.units
    notes = [
        f"{spec.method.value} split of {units.amount(plan.total)} over {len(plan.keys)} "
        f"children ({len(plan.fixed)} fixed, {len(plan.free)} by "
        f"{plan.share_method.value if plan.share_method else 'hand'})"
    ]
    if plan.total != request.parent:
        notes.append(
            f"over-assignment {sig_text(plan.over_assignment)} %: children add up to "
            f"{units.amount(plan.total)} for a parent of {units.amount(request.parent)}"
        )
    if spec.step != 1:
        notes.append(
            f"rounded to multiples of {units.amount(spec.step)}; the leftover (amount mod "
            f"{units.amount(spec.step)}) goes to the child with the largest amount that stays "
            "within its cap"
        )
    notes.append("rounding: largest remainder; ties go to the larger share, then the smaller key")
    return tuple(notes)
