"""Stored allocation data for people: buffers of stored splits, and display dicts.

The tree stores what the allocation layer produced, in integer minor units:
a node's ``split_spec`` (how its children were made) and each child's
``explanation`` (why it has its amount). This module reads them back:

* :func:`buffer_of` gives the quota-buffer percentage a stored split carries,
  for every shape of ``split_spec``:

  - a one-dimension split, :meth:`AllocationRequest.to_dict`
    (``{"parent", "parent_key", "spec": {..., "over_assignment"}, "children"}``):
    ``spec.over_assignment``;
  - a two-dimension split's node (``{"matrix", "rows", "columns", ...}``): its
    children are the rows, so the rows request's ``spec.over_assignment``;
  - a row of a two-dimension split (``{"matrix_row": true, "columns"}``): 0, its
    cells add up exactly to the row (the stored columns request describes the
    column margins of the whole matrix, not this row);
  - no split (``None``): 0.

* :func:`display_explanation` and :func:`display_split_spec` return a copy in
  which every *amount* is a decimal string in currency units (``digits``
  decimals; fractional minor units keep up to 6 more decimals, exactly), ready
  for a client. Everything else (shares, weights, history, rates, texts, which
  are already written in currency units) is copied unchanged. Amount fields:

  - explanations: ``final``, ``previous``, ``proportional``, ``unrounded``,
    ``fitted`` (matrix cells), every adjustment's ``before`` / ``after``
    (except ``LAG`` adjustments, which measure shares), the ``inputs`` named
    ``current``, ``previous``, ``target``, ``actual``, ``amount``,
    ``locked_amount``, ``floor``, ``cap``, and ``buffer.parent`` /
    ``buffer.total``;
  - split specs: the request's ``parent``, each child's ``amount``,
    ``locked_amount``, ``floor``, ``cap``, ``spec.step`` and
    ``spec.history.no_history_floor``; a matrix's ``row_targets``,
    ``col_targets`` and ``max_residual``; the ``rows`` / ``columns`` requests.

  A value that is not a number where an amount is expected is copied as it is
  (stored data is never a reason to fail a read).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from service.domain.allocation.errors import AllocationErrorCode, AllocationInputError
from service.domain.allocation.exact import show, to_fraction
from service.domain.allocation.units import Units, decimal_units

EXPLANATION_AMOUNTS = ("final", "previous", "proportional", "unrounded", "fitted")
INPUT_AMOUNTS = frozenset(
    {"current", "previous", "target", "actual", "amount", "locked_amount", "floor", "cap"}
)
CHILD_AMOUNTS = ("amount", "locked_amount", "floor", "cap")
SHARE_ADJUSTMENTS = frozenset({"LAG"})
"""Adjustment kinds whose ``before`` / ``after`` are shares, not amounts."""


def buffer_of(split_spec: Mapping[str, Any] | None) -> Fraction:
    """The quota-buffer percentage (over-assignment) of a stored split; 0 for none.

    Raises ``INVALID_INPUT`` when the stored value is not a percentage ``>= 0``.
    """
    if not split_spec:
        return Fraction(0)
    if not isinstance(split_spec, Mapping):
        raise _malformed("a split spec must be an object")
    if split_spec.get("matrix_row"):
        return Fraction(0)
    request = split_spec.get("rows") if "matrix" in split_spec else split_spec
    if not isinstance(request, Mapping):
        raise _malformed("the rows of a two-dimension split must be an object")
    spec = request.get("spec")
    if spec is None:
        return Fraction(0)
    if not isinstance(spec, Mapping):
        raise _malformed("spec must be an object")
    value = spec.get("over_assignment", 0)
    pct = to_fraction(value)
    if pct is None or pct < 0 or isinstance(value, bool):
        raise _malformed(f"the stored over_assignment is not a percentage >= 0: {show(value)}")
    return pct


def display_explanation(stored: Mapping[str, Any] | None, digits: int) -> dict[str, Any] | None:
    """A stored explanation with its amounts as decimal strings in currency units."""
    if stored is None:
        return None
    units = Units(digits)
    out: dict[str, Any] = copy.deepcopy(dict(stored))
    for name in EXPLANATION_AMOUNTS:
        if name in out:
            out[name] = _amount(out[name], units)
    inputs = out.get("inputs")
    if isinstance(inputs, dict):
        for name in INPUT_AMOUNTS & set(inputs):
            inputs[name] = _amount(inputs[name], units)
    adjustments = out.get("adjustments")
    if isinstance(adjustments, list):
        for adjustment in adjustments:
            if isinstance(adjustment, dict) and adjustment.get("kind") not in SHARE_ADJUSTMENTS:
                for name in ("before", "after"):
                    if name in adjustment:
                        adjustment[name] = _amount(adjustment[name], units)
    buffer = out.get("buffer")
    if isinstance(buffer, dict):
        for name in ("parent", "total"):
            if name in buffer:
                buffer[name] = _amount(buffer[name], units)
    return out


def display_split_spec(stored: Mapping[str, Any] | None, digits: int) -> dict[str, Any] | None:
    """A stored split spec with its amounts as decimal strings in currency units."""
    if stored is None:
        return None
    units = Units(digits)
    out: dict[str, Any] = copy.deepcopy(dict(stored))
    if "matrix" in out or "matrix_row" in out:
        matrix = out.get("matrix")
        if isinstance(matrix, dict):
            for name in ("row_targets", "col_targets"):
                if isinstance(matrix.get(name), list):
                    matrix[name] = [_amount(v, units) for v in matrix[name]]
        for name in ("rows", "columns"):
            if isinstance(out.get(name), dict):
                _request(out[name], units)
        if "max_residual" in out:
            out["max_residual"] = _amount(out["max_residual"], units)
        return out
    _request(out, units)
    return out


# ---------------------------------------------------------------------------


def _request(data: dict[str, Any], units: Units) -> None:
    if "parent" in data:
        data["parent"] = _amount(data["parent"], units)
    children = data.get("children")
    if isinstance(children, list):
        for child in children:
            if isinstance(child, dict):
                for name in CHILD_AMOUNTS:
                    if name in child:
                        child[name] = _amount(child[name], units)
    spec = data.get("spec")
    if isinstance(spec, dict):
        if "step" in spec:
            spec["step"] = _amount(spec["step"], units)
        history = spec.get("history")
        if isinstance(history, dict) and "no_history_floor" in history:
            history["no_history_floor"] = _amount(history["no_history_floor"], units)


def _amount(value: Any, units: Units) -> Any:
    """An amount in minor units (int, float or decimal string) as a decimal string in
    currency units; anything else unchanged."""
    if value is None or isinstance(value, bool):
        return value
    frac = to_fraction(value) if isinstance(value, int | float | str) else None
    if frac is None:
        return value
    return decimal_units(frac, units.digits)


def _malformed(message: str) -> AllocationInputError:
    return AllocationInputError(AllocationErrorCode.INVALID_INPUT, message, {})
