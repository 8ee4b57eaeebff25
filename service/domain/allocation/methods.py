"""Shares per method: exact rational shares of the children that absorb the amount.

``compute_shares`` returns, for the children that are not locked (the *free*
children, in request order), non-negative exact shares (summing to 1, or all
zero), plus what the explanation needs: the inputs used, a short basis text,
BLEND components and method-level adjustments (lag, no history, missing values).

Documented rules
----------------
* **Inputs of locked children are not read**: shares are computed among the
  free children only (a locked child needs no weight, history or potential).
* **WEIGHTS**: weights must be finite and ``>= 0``; a missing weight is
  ``MISSING_INPUT``. With ``percentages=True`` the weights given (on all
  children, locked ones included) must sum to 100 within ``1e-9`` (an exact
  sum); shares are the weights over their actual sum.
* **No-history floor**: the FLOOR rule's amount never exceeds the child's own
  cap (the cap wins).
* **HISTORY**: all non-empty histories have the same length (periods aligned,
  oldest first); values must be finite and ``>= 0``; ``None`` marks a missing
  value, counted as 0 and reported (``MISSING_VALUES``). A child whose history
  is empty or all ``None`` has *no history* and gets the caller's
  :class:`NoHistoryRule`. ``AVERAGE_OF_SHARES`` averages ``h[i,p] / sum_i h[i,p]``
  over the periods whose total is positive (periods with a zero total are left
  out of the average); ``SHARE_OF_TOTAL`` is ``sum_p h[i,p] / sum_{i,p} h[i,p]``
  (Gross & Sohl 1990, methods "average historical proportions" and
  "proportions of historical averages"). Growth ``g >= -1`` multiplies the
  history share by ``1 + g`` before renormalising.
* **POTENTIAL**: ``potential * penetration`` with the child's penetration, else
  the spec's default, else 1. Missing potential is ``MISSING_INPUT``.
* **BLEND**: components EQUAL, WEIGHTS, HISTORY or POTENTIAL with non-negative
  weights (normalised to sum 1); ``share = sum_c beta_c * share_c``. A component
  with positive weight whose shares are all zero is ``ZERO_WEIGHTS``.
* **SEASONAL**: the profile is the HISTORY share of each period (one value per
  past year; growth is ignored) or the given weights. Lag / ramp factors ``f_t``
  (see :class:`SeasonalOptions`) reduce period ``t`` to ``profile_t * f_t``; the
  displaced share ``sum profile_t * (1 - f_t)`` is spread over the periods with
  ``f_t = 1`` in proportion to their profile. No such period with a positive
  profile while something is displaced is ``LAG_NO_RECEIVER``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from service.domain.allocation.errors import (
    AllocationErrorCode,
    AllocationInputError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import (
    BIGINT_MAX,
    MAX_DIGITS,
    NUMBER_RULE,
    Number,
    is_int_amount,
    json_number,
    show,
    sig_text,
    to_float,
    to_fraction,
)
from service.domain.allocation.explain import Adjustment, AdjustmentKind, ComponentShare, share_text
from service.domain.allocation.model import (
    AllocationMethod,
    AllocationSpec,
    ChildInput,
    HistoryMode,
    HistoryOptions,
    NoHistoryRule,
    ProfileSource,
)
from service.domain.allocation.units import MINOR, Units

PERCENT_TOLERANCE = 1e-9
"""Percentages must sum to 100 within this absolute tolerance."""
_PERCENT_TOLERANCE = Fraction(1, 10**9)

BLENDABLE = frozenset(
    {
        AllocationMethod.EQUAL,
        AllocationMethod.WEIGHTS,
        AllocationMethod.HISTORY,
        AllocationMethod.POTENTIAL,
    }
)
_MAX_LISTED = 20


@dataclass
class Shares:
    """Shares of the free children plus what their explanations need (all lists by child)."""

    values: list[Fraction]
    inputs: list[dict[str, Any]]
    basis: list[str]
    notes: list[list[Adjustment]]
    components: list[list[ComponentShare]]
    floors: dict[int, int] = field(default_factory=dict)
    """Extra floors by position among the free children (NoHistoryRule.FLOOR)."""


def compute_shares(
    method: AllocationMethod,
    children: Sequence[ChildInput],
    positions: Sequence[int],
    spec: AllocationSpec,
    units: Units = MINOR,
) -> Shares:
    """Exact shares of ``children`` (the free ones, ``positions`` in the request) by ``method``."""
    if method is AllocationMethod.EQUAL:
        return _equal(children)
    if method is AllocationMethod.WEIGHTS:
        return _weights(children, spec.weights.percentages)
    if method is AllocationMethod.HISTORY:
        return _history(children, spec.history, use_growth=True, units=units)
    if method is AllocationMethod.POTENTIAL:
        return _potential(children, spec.potential.penetration)
    if method is AllocationMethod.BLEND:
        return _blend(children, spec, units)
    if method is AllocationMethod.SEASONAL:
        return _seasonal(children, positions, spec, units)
    raise AllocationInputError(
        AllocationErrorCode.INVALID_INPUT,
        f"{method.value} does not produce shares (a MANUAL fallback must be another method)",
        {"method": method.value},
    )


def check_percentages(children: Sequence[ChildInput]) -> None:
    """Percentages given on the children must sum to 100 (within ``PERCENT_TOLERANCE``).

    The sum is exact (each percentage read by the number rule, a float as the
    decimal it prints as), so ``1e309`` next to ``0.5`` is simply far from 100.
    """
    given = [c for c in children if c.weight is not None]
    total = Fraction(0)
    for c in given:
        frac = to_fraction(c.weight)
        if frac is None:
            return  # reported as INVALID_WEIGHTS by the method itself
        total += frac
    if abs(total - 100) > _PERCENT_TOLERANCE:
        raise AllocationInputError(
            AllocationErrorCode.PERCENTAGES_NOT_100,
            f"percentages sum to {sig_text(total, 12)}, not 100 (over {len(given)} children)",
            {
                "children": [c.key for c in given[:_MAX_LISTED]],
                "sum": sig_text(total, 17),
                "difference": sig_text(total - 100, 17),
            },
        )


# ---------------------------------------------------------------------------


def _normalise(weights: Sequence[Fraction]) -> list[Fraction]:
    total = sum(weights, Fraction(0))
    if total == 0:
        return [Fraction(0)] * len(weights)
    return [w / total for w in weights]


def _empty(n: int) -> Shares:
    return Shares(
        values=[Fraction(0)] * n,
        inputs=[{} for _ in range(n)],
        basis=[""] * n,
        notes=[[] for _ in range(n)],
        components=[[] for _ in range(n)],
    )


def _equal(children: Sequence[ChildInput]) -> Shares:
    n = len(children)
    out = _empty(n)
    out.values = [Fraction(1, n)] * n
    out.basis = [f"equal share 1/{n}"] * n
    return out


def _parse_column(
    children: Sequence[ChildInput], name: str, values: Sequence[Number | None], *, required: bool
) -> list[Fraction | None]:
    """Exact non-negative values of one input column; raises naming the children at fault."""
    missing: list[ChildInput] = []
    bad: list[tuple[ChildInput, Any]] = []
    out: list[Fraction | None] = []
    for child, value in zip(children, values, strict=True):
        if value is None:
            if required:
                missing.append(child)
            out.append(None)
            continue
        frac = to_fraction(value)
        if frac is None or frac < 0:
            bad.append((child, value))
            out.append(None)
        else:
            out.append(frac)
    if bad:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_WEIGHTS,
            f"{name} must be {NUMBER_RULE}: "
            + ", ".join(f"{c.name} {name} {show(v)}" for c, v in bad[:_MAX_LISTED]),
            {
                "input": name,
                "children": [c.key for c, _ in bad[:_MAX_LISTED]],
                "values": [show(v) for _, v in bad[:_MAX_LISTED]],
                "count": len(bad),
            },
        )
    if missing:
        raise AllocationInputError(
            AllocationErrorCode.MISSING_INPUT,
            f"{name} is missing for {', '.join(c.name for c in missing[:_MAX_LISTED])}"
            + (f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""),
            {
                "input": name,
                "children": [c.key for c in missing[:_MAX_LISTED]],
                "count": len(missing),
            },
        )
    return out


def _weights(children: Sequence[ChildInput], percentages: bool) -> Shares:
    parsed = _parse_column(children, "weight", [c.weight for c in children], required=True)
    weights = [w if w is not None else Fraction(0) for w in parsed]
    out = _empty(len(children))
    out.values = _normalise(weights)
    total = sum(weights, Fraction(0))
    for i, child in enumerate(children):
        assert child.weight is not None
        name = "percentage" if percentages else "weight"
        out.inputs[i] = {name: json_number(child.weight)}
        if percentages:
            out.basis[i] = f"percentage {sig_text(weights[i], 6)} %"
        else:
            out.basis[i] = f"weight {_num(weights[i])} of {_num(total)}"
    return out


def _potential(children: Sequence[ChildInput], default_rate: Number | None) -> Shares:
    potentials = _parse_column(
        children, "potential", [c.potential for c in children], required=True
    )
    rates_given = [c.penetration if c.penetration is not None else default_rate for c in children]
    rates = _parse_column(children, "penetration", rates_given, required=False)
    out = _empty(len(children))
    weights: list[Fraction] = []
    for i, child in enumerate(children):
        potential = potentials[i]
        assert potential is not None
        rate = rates[i]
        weights.append(potential * (rate if rate is not None else 1))
        inputs: dict[str, Any] = {"potential": json_number(child.potential)}  # type: ignore[arg-type]
        basis = f"potential {_num(potential)}"
        if rate is not None:
            raw = rates_given[i]
            assert raw is not None
            inputs["penetration"] = json_number(raw)
            basis += f" x penetration {_num(rate)}"
        out.inputs[i] = inputs
        out.basis[i] = basis
    out.values = _normalise(weights)
    return out


def _history(
    children: Sequence[ChildInput],
    options: HistoryOptions,
    *,
    use_growth: bool,
    units: Units = MINOR,
) -> Shares:
    n = len(children)
    lengths = {len(c.history) for c in children if c.history}
    if len(lengths) > 1:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"histories must cover the same periods; lengths differ: {sorted(lengths)}",
            {
                "children": [c.key for c in children if c.history][:_MAX_LISTED],
                "lengths": sorted(lengths),
            },
        )
    periods = lengths.pop() if lengths else 0
    # parse every value, collecting the invalid ones
    bad: list[tuple[ChildInput, int, Any]] = []
    table: list[list[Fraction | None]] = []
    for child in children:
        row: list[Fraction | None] = []
        for value in child.history:
            if value is None:
                row.append(None)
                continue
            frac = to_fraction(value)
            if frac is None or frac < 0:
                bad.append((child, len(row), value))
                row.append(None)
            else:
                row.append(frac)
        table.append(row)
    if bad:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_WEIGHTS,
            f"history values must be {NUMBER_RULE}: "
            + ", ".join(
                f"{c.name} history period {p + 1} {show(v)}" for c, p, v in bad[:_MAX_LISTED]
            ),
            {
                "input": "history",
                "children": [c.key for c, _, _ in bad[:_MAX_LISTED]],
                "periods": [p for _, p, _ in bad[:_MAX_LISTED]],
                "values": [show(v) for _, _, v in bad[:_MAX_LISTED]],
                "count": len(bad),
            },
        )
    growth: list[Fraction] = [Fraction(0)] * n
    if use_growth:
        bad_growth: list[tuple[ChildInput, Any]] = []
        for i, child in enumerate(children):
            if child.growth is None:
                continue
            g = to_fraction(child.growth)
            if g is None or g < -1:
                bad_growth.append((child, child.growth))
            else:
                growth[i] = g
        if bad_growth:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                f"growth rates must be >= -1 (-100 %), finite, with at most {MAX_DIGITS} "
                "digits before or after the decimal point: "
                + ", ".join(f"{c.name} growth {show(v)}" for c, v in bad_growth[:_MAX_LISTED]),
                {"input": "growth", "children": [c.key for c, _ in bad_growth[:_MAX_LISTED]]},
            )

    has = [any(v is not None for v in row) for row in table]
    without = [i for i in range(n) if not has[i]]
    rule = options.no_history
    if without and rule is NoHistoryRule.ERROR:
        keys = [children[i].key for i in without]
        raise AllocationInputError(
            AllocationErrorCode.MISSING_HISTORY,
            f"no history for {', '.join(children[i].name for i in without[:_MAX_LISTED])}"
            + (f" and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else "")
            + "; choose a no-history rule (ZERO, FLOOR or RESERVED_SHARE)",
            {"children": keys[:_MAX_LISTED], "count": len(keys)},
        )
    reserved = Fraction(0)
    if rule is NoHistoryRule.RESERVED_SHARE:
        r = to_fraction(options.reserved_share)
        if r is None or not 0 <= r <= 1:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                f"reserved_share must be between 0 and 1, got {show(options.reserved_share)}",
                {"reserved_share": show(options.reserved_share)},
            )
        reserved = r
    if rule is NoHistoryRule.FLOOR and not (
        is_int_amount(options.no_history_floor) and 0 <= options.no_history_floor <= BIGINT_MAX
    ):
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            "no_history_floor must be a whole amount from 0 to 2**63-1 minor units, got "
            f"{show(options.no_history_floor)}",
            {"no_history_floor": show(options.no_history_floor)},
        )

    with_history = [i for i in range(n) if has[i]]
    totals = [
        sum((table[i][p] or Fraction(0) for i in with_history), Fraction(0)) for p in range(periods)
    ]
    raw: list[Fraction] = [Fraction(0)] * n
    used_periods = [p for p in range(periods) if totals[p] > 0]
    if options.mode is HistoryMode.AVERAGE_OF_SHARES:
        if used_periods:
            for i in with_history:
                raw[i] = sum(
                    ((table[i][p] or Fraction(0)) / totals[p] for p in used_periods), Fraction(0)
                ) / len(used_periods)
    else:
        grand = sum(totals, Fraction(0))
        if grand:
            for i in with_history:
                raw[i] = sum((v or Fraction(0) for v in table[i]), Fraction(0)) / grand
    grown = [raw[i] * (1 + growth[i]) for i in range(n)]
    values = _normalise(grown)
    if without and rule is NoHistoryRule.RESERVED_SHARE:
        each = reserved / len(without)
        values = [v * (1 - reserved) for v in values]
        for i in without:
            values[i] = each
        values = _normalise(values)

    out = _empty(n)
    out.values = values
    mode_text = (
        "average of period shares"
        if options.mode is HistoryMode.AVERAGE_OF_SHARES
        else "share of summed history"
    )
    for i, child in enumerate(children):
        inputs: dict[str, Any] = {
            "history": [None if v is None else json_number(v) for v in child.history]
        }
        if has[i]:
            inputs["history_share"] = to_float(raw[i])
            basis = f"history share {share_text(raw[i])} ({mode_text}, {len(used_periods)} periods)"
            if use_growth and growth[i]:
                inputs["growth"] = json_number(child.growth)  # type: ignore[arg-type]
                basis += f", growth {_signed_pct(growth[i])}"
            missing = [p for p, v in enumerate(child.history) if v is None]
            if missing:
                out.notes[i].append(
                    Adjustment(
                        AdjustmentKind.MISSING_VALUES,
                        f"history missing for period(s) {', '.join(str(p + 1) for p in missing)}; "
                        "counted as 0",
                    )
                )
        else:
            basis = "no history"
            if rule is NoHistoryRule.ZERO:
                detail = "no history: rule ZERO, share 0"
            elif rule is NoHistoryRule.FLOOR:
                detail = f"no history: rule FLOOR, floor {units.amount(options.no_history_floor)}"
                out.floors[i] = options.no_history_floor
            else:
                detail = (
                    f"no history: rule RESERVED_SHARE, an equal part of the reserved "
                    f"{share_text(reserved)} share"
                )
            out.notes[i].append(Adjustment(AdjustmentKind.NO_HISTORY, detail))
        out.inputs[i] = inputs
        out.basis[i] = basis
    return out


def _blend(children: Sequence[ChildInput], spec: AllocationSpec, units: Units) -> Shares:
    if not spec.blend:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, "BLEND needs at least one component", {}
        )
    betas: list[Fraction] = []
    for comp in spec.blend:
        if comp.method not in BLENDABLE:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                "BLEND components must be EQUAL, WEIGHTS, HISTORY or POTENTIAL, "
                f"not {comp.method.value}",
                {"method": comp.method.value},
            )
        beta = to_fraction(comp.weight)
        if beta is None or beta < 0:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_WEIGHTS,
                f"blend weight of {comp.method.value} must be a finite non-negative number, "
                f"got {show(comp.weight)}",
                {"method": comp.method.value, "value": show(comp.weight)},
            )
        betas.append(beta)
    betas = _normalise(betas)
    if not any(betas):
        raise AllocationInputError(
            AllocationErrorCode.ZERO_WEIGHTS,
            "all blend weights are zero",
            {"methods": [c.method.value for c in spec.blend]},
        )
    n = len(children)
    out = _empty(n)
    values = [Fraction(0)] * n
    parts: list[list[str]] = [[] for _ in range(n)]
    for comp, beta in zip(spec.blend, betas, strict=True):
        shares = compute_shares(comp.method, children, range(n), spec, units)
        if beta and n and not any(shares.values):
            raise AllocationInputError(
                AllocationErrorCode.ZERO_WEIGHTS,
                f"blend component {comp.method.value} gives every child a zero share",
                {"method": comp.method.value, "children": [c.key for c in children[:_MAX_LISTED]]},
            )
        for i in range(n):
            values[i] += beta * shares.values[i]
            out.components[i].append(
                ComponentShare(
                    comp.method.value, to_float(beta), to_float(shares.values[i]), shares.inputs[i]
                )
            )
            out.notes[i].extend(shares.notes[i])
            parts[i].append(
                f"{_pct(beta)} {comp.method.value} share {share_text(shares.values[i])}"
            )
        for i, floor in shares.floors.items():
            out.floors[i] = max(out.floors.get(i, 0), floor)
    out.values = _normalise(values)
    out.basis = [", ".join(p) for p in parts]
    return out


def _seasonal(
    children: Sequence[ChildInput],
    positions: Sequence[int],
    spec: AllocationSpec,
    units: Units = MINOR,
) -> Shares:
    options = spec.seasonal
    if options.source is ProfileSource.HISTORY:
        base = _history(children, spec.history, use_growth=False, units=units)
    else:
        base = _weights(children, percentages=False)
    factors = _ramp_factors(options.lag, options.ramp, options.ramp_factors, positions)
    profile = base.values
    reduced = [p * f for p, f in zip(profile, factors, strict=True)]
    displaced = sum((p - r for p, r in zip(profile, reduced, strict=True)), Fraction(0))
    receivers = [i for i, f in enumerate(factors) if f == 1]
    receiving = sum((profile[i] for i in receivers), Fraction(0))
    if displaced and not receiving:
        keys = [c.key for c in children]
        raise InfeasibleAllocationError(
            AllocationErrorCode.LAG_NO_RECEIVER,
            f"the lag / ramp displaces a share of {share_text(displaced)} but no later period "
            "without reduction has a positive profile to receive it",
            {"children": keys[:_MAX_LISTED], "displaced_share": to_float(displaced)},
        )
    values = list(reduced)
    if displaced:
        for i in receivers:
            values[i] += displaced * profile[i] / receiving
    out = base
    out.values = _normalise(values)
    for i in range(len(children)):
        out.inputs[i] = {
            **base.inputs[i],
            "profile": to_float(profile[i]),
            "ramp_factor": to_float(factors[i]),
        }
        out.basis[i] = f"seasonal profile {share_text(profile[i])}" + (
            f" (from {base.basis[i]})" if options.source is ProfileSource.HISTORY else ""
        )
        if factors[i] != 1:
            out.notes[i].append(
                Adjustment(
                    AdjustmentKind.LAG,
                    f"sales-cycle ramp factor {sig_text(factors[i], 4)}: "
                    f"share {share_text(profile[i])} -> {share_text(reduced[i])}",
                    before=share_text(profile[i]),
                    after=share_text(reduced[i]),
                )
            )
        elif displaced and profile[i]:
            added = displaced * profile[i] / receiving
            out.notes[i].append(
                Adjustment(
                    AdjustmentKind.LAG,
                    f"receives share {share_text(added)} displaced from lagged periods",
                    before=share_text(profile[i]),
                    after=share_text(profile[i] + added),
                )
            )
    return out


def _ramp_factors(
    lag: int, ramp: int, given: tuple[Number, ...] | None, positions: Sequence[int]
) -> list[Fraction]:
    if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"lag must be an integer >= 0, got {show(lag)}",
            {"lag": show(lag)},
        )
    if isinstance(ramp, bool) or not isinstance(ramp, int) or ramp < 0:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"ramp must be an integer >= 0, got {show(ramp)}",
            {"ramp": show(ramp)},
        )
    if given is not None:
        if not isinstance(given, tuple | list):
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                f"ramp factors must be a list of numbers, got {show(given)}",
                {"ramp_factors": show(given)},
            )
        factors: list[Fraction] = []
        for value in given:
            f = to_fraction(value)
            if f is None or not 0 <= f <= 1:
                raise AllocationInputError(
                    AllocationErrorCode.INVALID_INPUT,
                    f"ramp factors must be between 0 and 1, got {show(value)}",
                    {"ramp_factors": [show(v) for v in given]},
                )
            factors.append(f)
        return [factors[t] if t < len(factors) else Fraction(1) for t in positions]
    out: list[Fraction] = []
    for t in positions:
        if t < lag:
            out.append(Fraction(0))
        elif t < lag + ramp:
            out.append(Fraction(t - lag + 1, ramp + 1))
        else:
            out.append(Fraction(1))
    return out


def _num(value: Fraction) -> str:
    """An input number for a text: whole numbers in full (up to 15 digits), else 6
    significant digits; exact for any size (``1e+309``), never through a float."""
    if value.denominator == 1 and abs(value.numerator) < 10**15:
        return str(value.numerator)
    return sig_text(value, 6)


def _pct(value: Fraction) -> str:
    return f"{sig_text(value * 100, 4)} %"


def _signed_pct(value: Fraction) -> str:
    return f"{'+' if value >= 0 else ''}{sig_text(value * 100, 4)} %"
