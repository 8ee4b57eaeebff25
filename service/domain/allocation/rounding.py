"""Exact integer apportionment: Hamilton's largest-remainder method.

``apportion(total, weights, keys)`` returns non-negative integers that add up
**exactly** to ``total`` and are as close as Hamilton's method gets to the exact
quotas ``q_i = total * w_i / sum(w)``:

1. every child first gets ``floor(q_i)``;
2. the ``k = total - sum(floor(q_i))`` units left over (``0 <= k < n``) go one
   each to the ``k`` children with the largest remainders ``q_i - floor(q_i)``.

**Tie-break (documented, deterministic).** Among equal remainders the child with
the larger weight comes first, then the smaller key (plain ``str`` order, i.e.
code-point order), then the earlier position (only reachable when keys repeat
or are not given). The same input therefore always gives the same cents, and
reordering the children changes nothing but their order in the output.

Consequences, all covered by tests: every amount is ``floor(q_i)`` or
``ceil(q_i)`` (the quota rule); a zero weight gets 0; a larger weight never gets
less (monotonicity); integer quotas are returned unchanged, so re-apportioning
an apportionment is the identity (idempotence).

**Exactness.** Weights are exact rationals (see :mod:`.exact`). Three
implementations give the same answer, the fastest that is provably exact for
the input is used:

* ``int64``: integer weights (or decimal weights with at most 6 places, scaled)
  when ``total * max(w)`` and ``n * max(w)`` fit in ``int64``: floors and
  remainders are exact integer numpy operations.
* ``float`` (certified): any finite ``float64`` weights. Quotas are computed in
  float with a rigorous error bound ``E`` (pairwise sum of depth ``h``: relative
  error ``<= (h + 6) * 2**-53``, covering the decimal reading of each float).
  The result is accepted only if every floor is certain (each fractional part is
  more than ``E`` away from 0 and 1) and the selection is certain (the selected
  and unselected remainders are more than ``2E`` apart, and remainders tied in
  float belong to equal weights, hence are equal exactly). Otherwise:
* ``exact``: Python integers over a common denominator. Always exact, any size
  (parents up to and beyond ``2**63 - 1``), slower.

A test (``tests/domain/test_alloc_rounding.py``) proves the vectorised paths
equal the exact one on random and adversarial inputs (near-ties, huge parents).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from service.domain.allocation.errors import AllocationErrorCode, AllocationInputError
from service.domain.allocation.exact import Number, is_int_amount, show, to_fraction

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_INT64_MAX = 2**63 - 1
_U = 2.0**-53
_TINY = 2.0**-1000
_MAX_LISTED = 20


def apportion(
    total: int,
    weights: Sequence[Number] | npt.NDArray[Any],
    keys: Sequence[str] | None = None,
) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton's method).

    ``keys`` (unique strings, same length as ``weights``) drive the tie-break;
    without them the position does. Raises :class:`AllocationInputError` for a
    negative total, negative/NaN/infinite weights (``INVALID_WEIGHTS``) or all
    weights zero while ``total > 0`` (``ZERO_WEIGHTS``).
    """
    return [int(x) for x in _apportion(total, weights, keys)]


def apportion_array(
    total: int,
    weights: Sequence[Number] | npt.NDArray[Any],
    keys: Sequence[str] | None = None,
) -> IntArray:
    """:func:`apportion` returning an ``int64`` numpy array (the vectorised kernel).

    Requires ``total <= 2**63 - 1`` (each amount then fits ``int64``).
    """
    if is_int_amount(total) and total > _INT64_MAX:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"total {total} is above 2**63-1; use apportion() for Python ints",
            {"total": total},
        )
    result = _apportion(total, weights, keys)
    if isinstance(result, np.ndarray):
        return result
    return np.array(result, dtype=np.int64)


def apportion_exact(
    total: int, weights: Sequence[Number], keys: Sequence[str] | None = None
) -> list[int]:
    """The reference implementation (Python integers only); same answer as :func:`apportion`."""
    _check_total(total)
    fracs = _to_fractions(weights, keys)
    _check_fractions(total, fracs, keys)
    return _lr_exact(total, integerize(fracs), keys)


# ---------------------------------------------------------------------------
# dispatch


def _apportion(
    total: int,
    weights: Sequence[Number] | npt.NDArray[Any],
    keys: Sequence[str] | None,
) -> IntArray | list[int]:
    _check_total(total)
    n = len(weights)
    if keys is not None and len(keys) != n:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"{len(keys)} keys for {n} weights",
            {"keys": len(keys), "weights": n},
        )
    if n == 0:
        if total:
            raise AllocationInputError(
                AllocationErrorCode.ZERO_WEIGHTS,
                f"cannot split {total} over no children",
                {"children": [], "total": total},
            )
        return []
    arr = _as_array(weights)
    if arr is not None:
        if arr.dtype == np.float64:
            floats: FloatArray = arr.astype(np.float64, copy=False)
            wmin, wmax = float(floats.min()), float(floats.max())
            if not (math.isfinite(wmin) and math.isfinite(wmax) and wmin >= 0):
                bad = np.flatnonzero(~(np.isfinite(floats) & (floats >= 0)))
                _raise_invalid([int(i) for i in bad], [float(floats[i]) for i in bad], keys)
            if total == 0:
                return np.zeros(n, dtype=np.int64)
            if wmax == 0:
                _raise_zero(total, n, keys)
            scaled = _decimal_scaled(floats, wmax)
            if scaled is not None:
                out = _lr_int64(total, scaled, keys)
                if out is not None:
                    return out
            out = _lr_float(total, floats, keys, wmin)
            if out is not None:
                return out
        else:
            ints: IntArray = arr.astype(np.int64, copy=False)
            if (ints < 0).any():
                bad = np.flatnonzero(ints < 0)
                _raise_invalid([int(i) for i in bad], [int(ints[i]) for i in bad], keys)
            if total == 0:
                return np.zeros(n, dtype=np.int64)
            if not ints.any():
                _raise_zero(total, n, keys)
            out = _lr_int64(total, ints, keys)
            if out is not None:
                return out
            return _lr_exact(total, ints.tolist(), keys)
    fracs = _to_fractions(weights, keys)
    _check_fractions(total, fracs, keys)
    if total == 0:
        return [0] * n
    return _lr_exact(total, integerize(fracs), keys)


def _as_array(weights: Sequence[Number] | npt.NDArray[Any]) -> npt.NDArray[Any] | None:
    """A float64/int64 view when the weights are plain floats or machine ints, else None."""
    if isinstance(weights, np.ndarray):
        if weights.ndim != 1:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT, "weights must be one-dimensional", {}
            )
        kind = weights.dtype.kind
        if kind == "f":
            return weights.astype(np.float64, copy=False)
        if kind == "i" or (kind == "u" and weights.dtype.itemsize < 8):
            return weights.astype(np.int64, copy=False)
        if kind == "u" and (weights.size == 0 or int(weights.max()) <= _INT64_MAX):
            return weights.astype(np.int64)
        return None
    kinds = set(map(type, weights))
    if kinds == {float}:
        return np.array(weights, dtype=np.float64)
    if kinds == {int}:
        try:
            return np.array(weights, dtype=np.int64)
        except OverflowError:
            return None
    return None


def _decimal_scaled(w: FloatArray, wmax: float) -> IntArray | None:
    """Integers ``N`` with ``w == N / 10**p`` (p <= 6) read as decimals, if such exist.

    Valid when ``max(w) * 10**p < 2**52``: then a float's interval of values
    holds at most one number with ``p`` decimals, which is therefore the decimal
    it prints as (see :mod:`.exact`), and ``N / 10**p`` is exactly that decimal.
    """
    probe = w[:64]
    for places in range(7):
        scale = 10.0**places
        if wmax * scale >= 2.0**52:
            return None
        n_probe = np.round(probe * scale)
        if not (n_probe / scale == probe).all():
            continue
        scaled = np.round(w * scale)
        if (scaled / scale == w).all():
            return scaled.astype(np.int64)
    return None


# ---------------------------------------------------------------------------
# the three implementations


def _lr_int64(total: int, w: IntArray, keys: Sequence[str] | None) -> IntArray | None:
    """Exact largest remainder in int64 arithmetic, or None when it could overflow."""
    n = int(w.size)
    wmax = int(w.max())
    if wmax == 0 or wmax > _INT64_MAX // n or total > _INT64_MAX // wmax:
        return None
    s = int(w.sum())
    prod = w * np.int64(total)
    amounts, rems = np.divmod(prod, np.int64(s))
    k = total - int(amounts.sum())
    if k:
        v = int(np.partition(rems, n - k)[n - k])
        above = np.flatnonzero(rems > v)
        tie = np.flatnonzero(rems == v)
        amounts[above] += 1
        _add_ties(amounts, tie, k - int(above.size), w, keys)
    return amounts


def _lr_float(
    total: int, w: FloatArray, keys: Sequence[str] | None, wmin: float
) -> IntArray | None:
    """Certified float largest remainder; None when the float result cannot be proven exact.

    ``w`` is finite and non-negative with ``min(w) == wmin`` and at least one
    positive value. See the module docstring for the error bound.
    """
    if total > _INT64_MAX:
        return None  # beyond float's exact integers anyway: the exact path takes it
    n = int(w.size)
    pos: npt.NDArray[np.bool_] | None = None
    if wmin < _TINY:
        pos = w > 0
        if (pos & (w < _TINY)).any():
            return None
    s, levels = _pairwise_sum(w)
    if not (math.isfinite(s) and s > 0):
        return None
    c = float(total) / s
    if not (math.isfinite(c) and c > _TINY):
        return None
    frac = w * c
    qmax = float(frac.max())
    if not (math.isfinite(qmax) and qmax < 2.0**52):
        return None
    err = (levels + 6) * _U * 1.01 * qmax + _TINY
    if err >= 0.25:
        return None
    floors = np.floor(frac)
    np.subtract(frac, floors, out=frac)
    # every floor must be certain: each fractional part of a positive weight
    # lies more than err away from 0 and from 1
    if pos is None:
        if float(frac.min()) <= err or float(frac.max()) >= 1.0 - err:
            return None
    elif (pos & ((frac <= err) | (frac >= 1.0 - err))).any():
        return None
    amounts = floors.astype(np.int64)
    k = total - int(amounts.sum())
    if k < 0 or k >= n:
        return None
    if k == 0:
        return amounts
    order = np.argpartition(frac, n - k)
    v = float(frac[order[n - k]])
    rest_max = float(frac[order[: n - k]].max())
    if v - rest_max > 2 * err:
        # the k selected remainders are certainly the k largest exact ones
        amounts[order[n - k :]] += 1
        return amounts
    # near-ties at the threshold: only exact ties between equal weights are resolvable
    if v <= 2 * err:
        return None
    above = np.flatnonzero(frac > v)
    tie = np.flatnonzero(frac == v)
    greater = frac[above]
    if greater.size and float(greater.min()) - v <= 2 * err:
        return None
    smaller = frac[frac < v]
    if smaller.size and v - float(smaller.max()) <= 2 * err:
        return None
    need = k - int(above.size)
    if need < tie.size:
        tied = w[tie]
        if not (tied == tied[0]).all():
            return None
    amounts[above] += 1
    _add_ties(amounts, tie, need, w, keys)
    return amounts


def _lr_exact(total: int, w: Sequence[int], keys: Sequence[str] | None) -> list[int]:
    """Reference largest remainder on non-negative integer weights (Python ints)."""
    s = sum(w)
    n = len(w)
    amounts = [0] * n
    rems = [0] * n
    for i, wi in enumerate(w):
        amounts[i], rems[i] = divmod(total * wi, s)
    k = total - sum(amounts)
    if k:
        if keys is None:
            chosen = heapq.nsmallest(k, range(n), key=lambda i: (-rems[i], -w[i], i))
        else:
            chosen = heapq.nsmallest(k, range(n), key=lambda i: (-rems[i], -w[i], keys[i], i))
        for i in chosen:
            amounts[i] += 1
    return amounts


def _add_ties(
    amounts: IntArray,
    tie: npt.NDArray[np.intp],
    need: int,
    w: npt.NDArray[Any],
    keys: Sequence[str] | None,
) -> None:
    """Give +1 to ``need`` of the tied children: larger weight, then smaller key, then position."""
    if need <= 0:
        return
    if need >= tie.size:
        amounts[tie] += 1
        return
    idx = tie.tolist()
    tied_weights = w[tie]
    if (tied_weights == tied_weights[0]).all():
        # equal weights (EQUAL splits, repeated weights): order by key, then position,
        # comparing the strings directly instead of through a key function
        if keys is None:
            amounts[tie[:need]] += 1
            return
        names = list(map(keys.__getitem__, idx))
        if need <= len(names) // 2:
            cutoff = heapq.nsmallest(need, names)[-1]
        else:
            cutoff = sorted(names)[need - 1]
        chosen_idx = [i for i, k in zip(idx, names, strict=True) if k <= cutoff]
        if len(chosen_idx) > need:  # repeated keys at the cutoff: earlier positions first
            below = [i for i in chosen_idx if keys[i] < cutoff]
            chosen_idx = below + [i for i in chosen_idx if keys[i] == cutoff][: need - len(below)]
        amounts[chosen_idx] += 1
        return
    wl = tied_weights.tolist()
    order = range(len(idx))
    if keys is None:
        chosen = heapq.nsmallest(need, order, key=lambda j: (-wl[j], idx[j]))
    else:
        chosen = heapq.nsmallest(need, order, key=lambda j: (-wl[j], keys[idx[j]], idx[j]))
    amounts[[idx[j] for j in chosen]] += 1


def _pairwise_sum(x: FloatArray) -> tuple[float, int]:
    """Pairwise sum and its depth ``h``; relative error <= h * 2**-53 for x >= 0."""
    levels = 0
    while x.size > 1:
        if x.size & 1:
            x = np.concatenate((x, np.zeros(1)))
        x = x[0::2] + x[1::2]
        levels += 1
    return (float(x[0]) if x.size else 0.0), levels


# ---------------------------------------------------------------------------
# exact helpers shared with the engine


def integerize(values: Sequence[Fraction]) -> list[int]:
    """Non-negative rationals scaled to integers over their least common denominator."""
    den = math.lcm(*(v.denominator for v in values)) if values else 1
    return [v.numerator * (den // v.denominator) for v in values]


def _to_fractions(
    weights: Sequence[Number] | npt.NDArray[Any], keys: Sequence[str] | None
) -> list[Fraction]:
    values = weights.tolist() if isinstance(weights, np.ndarray) else list(weights)
    fracs: list[Fraction] = []
    bad: list[int] = []
    for i, value in enumerate(values):
        # exact ints and fractions of any size (integerised shares can exceed the input
        # magnitude rule); everything else by the number rule
        frac = (
            Fraction(value)
            if isinstance(value, int | Fraction) and not isinstance(value, bool)
            else to_fraction(value)
        )
        if frac is None or frac < 0:
            bad.append(i)
            fracs.append(Fraction(0))
        else:
            fracs.append(frac)
    if bad:
        _raise_invalid(bad, [values[i] for i in bad], keys)
    return fracs


def _check_fractions(total: int, fracs: Sequence[Fraction], keys: Sequence[str] | None) -> None:
    if total and not any(fracs):
        _raise_zero(total, len(fracs), keys)


def _check_total(total: int) -> None:
    if not is_int_amount(total) or total < 0:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"the amount to split must be a non-negative integer, got {show(total)}",
            {"total": total if is_int_amount(total) else show(total)},
        )


def _names(indices: Sequence[int], keys: Sequence[str] | None) -> list[str]:
    return [keys[i] if keys is not None else f"#{i}" for i in indices]


def _raise_invalid(
    indices: Sequence[int], values: Sequence[object], keys: Sequence[str] | None
) -> None:
    names = _names(indices[:_MAX_LISTED], keys)
    shown = ", ".join(f"{k}={show(v)}" for k, v in zip(names, values[:_MAX_LISTED], strict=False))
    more = f" and {len(indices) - _MAX_LISTED} more" if len(indices) > _MAX_LISTED else ""
    raise AllocationInputError(
        AllocationErrorCode.INVALID_WEIGHTS,
        f"weights must be finite non-negative numbers: {shown}{more}",
        {
            "children": names,
            "values": [show(v) for v in values[:_MAX_LISTED]],
            "count": len(indices),
        },
    )


def _raise_zero(total: int, n: int, keys: Sequence[str] | None) -> None:
    names = _names(range(min(n, _MAX_LISTED)), keys)
    raise AllocationInputError(
        AllocationErrorCode.ZERO_WEIGHTS,
        f"all {n} weights are zero; cannot split {total} in proportion to them",
        {"children": names, "total": total, "count": n},
    )
