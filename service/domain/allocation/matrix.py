"""Two-way and N-way splits: iterative proportional fitting and controlled rounding.

Split a parent along two dimensions at once (region x product) so that the
cells match row targets and column targets at once, starting from a seed table
(prior-year actuals), then round to integers keeping every margin exact.

Documented rules
----------------
* **Margins.** One integer target ``>= 0`` per member of each dimension; every
  dimension's targets add up to the same total, else ``MARGINS_MISMATCH`` with
  the totals.
* **Seed.** Finite, non-negative, at most ``1e300`` (``INVALID_WEIGHTS`` naming
  the cells). The fit runs in float64 on the seed divided by its largest value,
  so every positive seed value must be at least ``1e-280`` times the largest
  (else ``INVALID_WEIGHTS`` naming the cell; write 0 for an empty cell). ``prior``
  is a number from 0 to ``1e6`` and ``tolerance`` a finite number ``>= 0``.
* **Zero-cell rule.** A *structural zero* (listed in ``structural_zeros`` /
  ``zero_mask``) must stay 0 and does. A seed cell that is 0 but not structural
  is *empty history*, not impossibility: it starts at a small prior,
  ``prior x mean(positive seed cells)`` (``prior`` defaults to ``1e-3``; when no
  seed cell is positive every cell starts at 1, i.e. the independence table).
  With ``prior = 0`` empty cells stay 0 like structural ones.
* **Zero margins.** A member with a positive target but no cell that may be
  non-zero is ``ZERO_MARGIN_CELLS`` naming it.
* **IPF.** Rescale along each dimension in turn (rows, then columns, ...) until
  the largest absolute margin residual is at most
  ``max(tolerance, 64 * 2**-52 * total)`` (``tolerance`` in units, default
  ``1e-4``; the second term is float64's resolution at that total), or
  ``max_iterations`` is reached. At the cap, a residual below
  ``0.5 / max(rows, columns)`` is still rounded (exactly, see below) and
  reported with ``converged=False``; a larger one is ``NOT_CONVERGED`` with the
  iterations and the residual (typically a structural-zero pattern that cannot
  meet the margins).
* **Controlled rounding (2-D).** Each row of the fitted table is first scaled
  *exactly* (rational arithmetic) to its target, then every cell is rounded
  down or up: the row deficits are integers, the cells to round up are chosen
  greedily by largest fractional part (ties: row key, then column key) and the
  choice is completed by a max-flow (Dinic) so every column total is exact too.
  This always succeeds when the scaled table's column sums exceed their targets
  by less than one unit in total (the case after convergence for totals up to
  about ``1e13`` units); otherwise the band is widened: each cell within
  ``k + 1`` of its value for ``k = 1, 2, 4, ...``, the ``k`` used is reported
  as ``rounding_band`` (0 means every cell is its floor or its ceiling).
  ``ROUNDING_INFEASIBLE`` only if no band works.
* **Order.** Rows and columns are processed in key order, so reordering the
  input changes nothing but the order of the output.
* **Three or more dimensions** (:func:`split_table`, 1-D margins per
  dimension): IPF over every dimension; rounding recursively: the table summed
  over the first dimension is rounded (same procedure) to integer targets for
  the flattened remaining dimensions, then the first dimension x flattened rest
  is re-fitted and rounded as a 2-D table. Every 1-D margin is exact and every
  cell is the floor or the ceiling of the re-fitted table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from service.domain.allocation.errors import (
    AllocationErrorCode,
    AllocationInputError,
    ConvergenceError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import (
    BIGINT_MAX,
    NUMBER_RULE,
    Number,
    format_decimal,
    from_json_number,
    is_int_amount,
    json_number,
    show,
    to_fraction,
)
from service.domain.allocation.flow import MaxFlow
from service.domain.allocation.rounding import integerize
from service.domain.allocation.units import MINOR, Units

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_PRIOR = 1e-3
DEFAULT_TOLERANCE = 1e-4
"""Largest margin residual accepted, in units (minor units): a hundredth of a cent."""
DEFAULT_MAX_ITERATIONS = 2000
_FLOAT_RESOLUTION = 64 * 2.0**-52
MAX_SEED = 1e300
"""Largest seed value (the fit runs in float64)."""
MIN_SEED_RATIO = 1e-280
"""Smallest positive seed value, relative to the largest one."""
MAX_PRIOR = 10**6
_MAX_LISTED = 20


@dataclass(frozen=True, eq=False)
class IpfFit:
    """A fitted table and how the fit went."""

    table: FloatArray
    iterations: int
    max_residual: float
    converged: bool


@dataclass(frozen=True)
class ControlledRounding:
    """An integer table whose row and column totals equal the targets exactly."""

    cells: tuple[tuple[int, ...], ...]
    rounding_band: int
    """0: every cell is the floor or ceiling of the row-scaled fitted value."""
    scaled: tuple[tuple[str, ...], ...] = field(repr=False, compare=False)
    """The row-scaled fitted values as decimal strings (what was rounded)."""


@dataclass(frozen=True, slots=True)
class CellExplanation:
    """How one cell of a two-way split came about."""

    row: str
    col: str
    seed: float
    start: float
    rule: str
    """``SEED`` (seed used as is), ``PRIOR`` (empty history: prior used), ``STRUCTURAL_ZERO``."""
    fitted: str
    final: int
    rounding: str
    """``EXACT``, ``DOWN``, ``UP`` or ``BAND`` (moved by more than rounding, see rounding_band)."""
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "col": self.col,
            "seed": self.seed,
            "start": self.start,
            "rule": self.rule,
            "fitted": self.fitted,
            "final": self.final,
            "rounding": self.rounding,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class MatrixRequest:
    """A two-way split: row and column targets and a seed table (rows x columns)."""

    row_keys: tuple[str, ...]
    col_keys: tuple[str, ...]
    row_targets: tuple[int, ...]
    col_targets: tuple[int, ...]
    seed: tuple[tuple[Number, ...], ...]
    structural_zeros: tuple[tuple[str, str], ...] = ()
    """``(row_key, col_key)`` cells that must stay 0."""
    prior: Number = DEFAULT_PRIOR
    tolerance: float = DEFAULT_TOLERANCE
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    units: Units = field(default=MINOR, compare=False)
    """How texts print amounts (not stored)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "row_keys": list(self.row_keys),
            "col_keys": list(self.col_keys),
            "row_targets": list(self.row_targets),
            "col_targets": list(self.col_targets),
            "seed": [[json_number(v) for v in row] for row in self.seed],
            "structural_zeros": [list(c) for c in self.structural_zeros],
            "prior": json_number(self.prior),
            "tolerance": self.tolerance,
            "max_iterations": self.max_iterations,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatrixRequest:
        try:
            return cls(
                row_keys=tuple(str(k) for k in data["row_keys"]),
                col_keys=tuple(str(k) for k in data["col_keys"]),
                row_targets=tuple(data["row_targets"]),
                col_targets=tuple(data["col_targets"]),
                seed=tuple(tuple(from_json_number(v, "seed") for v in row) for row in data["seed"]),
                structural_zeros=tuple(
                    (str(r), str(c)) for r, c in data.get("structural_zeros", [])
                ),
                prior=from_json_number(data.get("prior", DEFAULT_PRIOR), "prior"),
                tolerance=float(data.get("tolerance", DEFAULT_TOLERANCE)),
                max_iterations=int(data.get("max_iterations", DEFAULT_MAX_ITERATIONS)),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                f"malformed matrix request: {show(str(exc), 120)}",
                {},
            ) from None


@dataclass(frozen=True)
class MatrixResult:
    """Integer cells (rows x columns, in the request's order) with exact margins."""

    row_keys: tuple[str, ...]
    col_keys: tuple[str, ...]
    cells: tuple[tuple[int, ...], ...]
    fitted: tuple[tuple[float, ...], ...]
    iterations: int
    max_residual: float
    converged: bool
    rounding_band: int
    notes: tuple[str, ...]
    start: tuple[tuple[float, ...], ...] = field(repr=False, compare=False)
    seed: tuple[tuple[float, ...], ...] = field(repr=False, compare=False)
    rules: tuple[tuple[str, ...], ...] = field(repr=False, compare=False)
    scaled: tuple[tuple[str, ...], ...] = field(repr=False, compare=False)
    units: Units = field(default=MINOR, repr=False, compare=False)

    def cell(self, row_key: str, col_key: str) -> int:
        return self.cells[self.row_keys.index(row_key)][self.col_keys.index(col_key)]

    @cached_property
    def explanations(self) -> tuple[CellExplanation, ...]:
        """One explanation per cell, row by row."""
        out: list[CellExplanation] = []
        for r, row_key in enumerate(self.row_keys):
            for c, col_key in enumerate(self.col_keys):
                final = self.cells[r][c]
                scaled = Fraction(self.scaled[r][c])
                if scaled == final:
                    rounding = "EXACT"
                elif final == scaled.__floor__():
                    rounding = "DOWN"
                elif final == scaled.__ceil__():
                    rounding = "UP"
                else:
                    rounding = "BAND"
                rule = self.rules[r][c]
                start_text = {
                    "SEED": f"seed {self.seed[r][c]:g}",
                    "PRIOR": f"empty history, prior {self.start[r][c]:.6g}",
                    "STRUCTURAL_ZERO": "structural zero",
                }[rule]
                text = (
                    f"{row_key} x {col_key}: {self.units.amount(final)} ({start_text}; fitted "
                    f"{self.units.exact(scaled)}; rounded {rounding.lower()})"
                )
                out.append(
                    CellExplanation(
                        row_key,
                        col_key,
                        self.seed[r][c],
                        self.start[r][c],
                        rule,
                        self.scaled[r][c],
                        final,
                        rounding,
                        text,
                    )
                )
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "row_keys": list(self.row_keys),
            "col_keys": list(self.col_keys),
            "cells": [list(r) for r in self.cells],
            "fitted": [list(r) for r in self.fitted],
            "iterations": self.iterations,
            "max_residual": self.max_residual,
            "converged": self.converged,
            "rounding_band": self.rounding_band,
            "notes": list(self.notes),
            "explanations": [e.to_dict() for e in self.explanations],
        }


@dataclass(frozen=True, eq=False)
class TableResult:
    """An N-way split: integer cells with every 1-D margin exact."""

    axis_keys: tuple[tuple[str, ...], ...]
    cells: IntArray
    fitted: FloatArray
    iterations: int
    max_residual: float
    rounding_band: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis_keys": [list(k) for k in self.axis_keys],
            "cells": self.cells.tolist(),
            "fitted": self.fitted.tolist(),
            "iterations": self.iterations,
            "max_residual": self.max_residual,
            "rounding_band": self.rounding_band,
        }


# ---------------------------------------------------------------------------
# public functions


def split_matrix(request: MatrixRequest) -> MatrixResult:
    """Fit the seed to both margins (IPF) and round with every row and column total exact."""
    rows, cols = request.row_keys, request.col_keys
    _check_keys(rows, "row")
    _check_keys(cols, "column")
    m, n = len(rows), len(cols)
    if len(request.row_targets) != m or len(request.col_targets) != n:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"{len(request.row_targets)} row targets for {m} rows, "
            f"{len(request.col_targets)} column targets for {n} columns",
            {},
        )
    if len(request.seed) != m or any(len(r) != n for r in request.seed):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, f"the seed must be {m} rows x {n} columns", {}
        )
    units = request.units
    seed = _seed_array(request.seed, rows, cols)
    mask = np.zeros((m, n), dtype=bool)
    row_index = {k: i for i, k in enumerate(rows)}
    col_index = {k: i for i, k in enumerate(cols)}
    for r_key, c_key in request.structural_zeros:
        if r_key not in row_index or c_key not in col_index:
            raise AllocationInputError(
                AllocationErrorCode.UNKNOWN_KEY,
                f"structural zero ({r_key}, {c_key}) names an unknown row or column",
                {"row": r_key, "col": c_key},
            )
        mask[row_index[r_key], col_index[c_key]] = True
    row_order = sorted(range(m), key=lambda i: rows[i])
    col_order = sorted(range(n), key=lambda i: cols[i])
    ix = np.ix_(row_order, col_order)
    fit = fit_ipf(
        seed[ix],
        [[request.row_targets[i] for i in row_order], [request.col_targets[i] for i in col_order]],
        axis_keys=[[rows[i] for i in row_order], [cols[i] for i in col_order]],
        zero_mask=mask[ix],
        prior=request.prior,
        tolerance=request.tolerance,
        max_iterations=request.max_iterations,
        units=units,
    )
    _require_usable(fit, units)
    rounding = _controlled(
        fit.table,
        [request.row_targets[i] for i in row_order],
        [request.col_targets[i] for i in col_order],
        [rows[i] for i in row_order],
        [cols[i] for i in col_order],
        units,
    )
    start = _start_table(seed[ix], mask[ix], request.prior)
    inv_r = np.argsort(row_order)
    inv_c = np.argsort(col_order)
    cells = tuple(tuple(rounding.cells[a][b] for b in inv_c) for a in inv_r)
    scaled = tuple(tuple(rounding.scaled[a][b] for b in inv_c) for a in inv_r)
    fitted = fit.table[np.ix_(inv_r, inv_c)]
    start_back = start[np.ix_(inv_r, inv_c)]
    rules = tuple(
        tuple(
            "STRUCTURAL_ZERO" if mask[r, c] else ("SEED" if seed[r, c] > 0 else "PRIOR")
            for c in range(n)
        )
        for r in range(m)
    )
    notes = (
        f"IPF: {fit.iterations} iterations, largest margin residual "
        f"{fit.max_residual / 10**units.digits:.3g}"
        + ("" if fit.converged else " (iteration cap reached; close enough to round exactly)"),
        "controlled rounding: every row and column total exact; "
        + (
            "every cell rounded down or up"
            if rounding.rounding_band == 0
            else f"cells within {rounding.rounding_band + 1} of their fitted value"
        ),
    )
    return MatrixResult(
        row_keys=rows,
        col_keys=cols,
        cells=cells,
        fitted=tuple(tuple(float(v) for v in row) for row in fitted),
        iterations=fit.iterations,
        max_residual=fit.max_residual,
        converged=fit.converged,
        rounding_band=rounding.rounding_band,
        notes=notes,
        start=tuple(tuple(float(v) for v in row) for row in start_back),
        seed=tuple(tuple(float(v) for v in row) for row in seed),
        rules=rules,
        scaled=scaled,
        units=units,
    )


def fit_ipf(
    seed: npt.ArrayLike,
    margins: Sequence[Sequence[int]],
    *,
    axis_keys: Sequence[Sequence[str]] | None = None,
    zero_mask: npt.ArrayLike | None = None,
    prior: Number = DEFAULT_PRIOR,
    tolerance: float = DEFAULT_TOLERANCE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    units: Units = MINOR,
) -> IpfFit:
    """Iterative proportional fitting of ``seed`` (N-D) to one integer margin per dimension.

    Applies the zero-cell rule (see the module docstring), checks the margins,
    and returns the fit whether or not it converged (``converged`` says).
    """
    x = _float_table(seed)
    nd = x.ndim
    keys = _axis_keys(axis_keys, x.shape)
    if nd < 1 or x.size == 0:
        raise AllocationInputError(AllocationErrorCode.INVALID_INPUT, "the seed table is empty", {})
    if not np.isfinite(x).all() or (x < 0).any() or (x > MAX_SEED).any():
        bad = np.argwhere(~(np.isfinite(x) & (x >= 0) & (x <= MAX_SEED)))[:_MAX_LISTED]
        cells = ["/".join(keys[d][i] for d, i in enumerate(idx)) for idx in bad.tolist()]
        raise AllocationInputError(
            AllocationErrorCode.INVALID_WEIGHTS,
            f"seed values must be finite, >= 0 and at most 1e300: {', '.join(cells)}",
            {"cells": cells},
        )
    x = _normalised(x, keys)
    mask = np.zeros(x.shape, dtype=bool) if zero_mask is None else np.array(zero_mask, dtype=bool)
    if mask.shape != x.shape:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, "the zero mask must have the seed's shape", {}
        )
    targets = _check_margins(margins, x.shape, keys, units)
    if (
        not isinstance(tolerance, float | int)
        or isinstance(tolerance, bool)
        or not (tolerance >= 0 and math.isfinite(tolerance))
    ):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"tolerance must be a finite number >= 0, got {show(tolerance)}",
            {},
        )
    if not is_int_amount(max_iterations) or max_iterations < 0:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"max_iterations must be an integer >= 0, got {show(max_iterations)}",
            {},
        )
    start = _start_table(x, mask, prior)
    _check_support(start, targets, keys, units)
    total = float(sum(targets[0]))
    floats = [np.array(t, dtype=np.float64) for t in targets]
    table, iterations, residual = _ipf(start, floats, total, tolerance, max_iterations)
    limit = max(float(tolerance), _FLOAT_RESOLUTION * total)
    return IpfFit(table, iterations, residual, residual <= limit)


def controlled_round(
    table: npt.ArrayLike,
    row_targets: Sequence[int],
    col_targets: Sequence[int],
    *,
    row_keys: Sequence[str] | None = None,
    col_keys: Sequence[str] | None = None,
    units: Units = MINOR,
) -> ControlledRounding:
    """Round a non-negative table to integers with exactly the given row and column totals.

    Zero cells stay zero. With keys, rows and columns are processed in key
    order (the result is in the input order either way).
    """
    x = _float_table(table)
    if x.ndim != 2 or not np.isfinite(x).all() or (x < 0).any():
        raise AllocationInputError(
            AllocationErrorCode.INVALID_WEIGHTS,
            "the table must be two-dimensional, finite and >= 0",
            {},
        )
    m, n = x.shape
    rk = list(row_keys) if row_keys is not None else [f"#{i}" for i in range(m)]
    ck = list(col_keys) if col_keys is not None else [f"#{j}" for j in range(n)]
    _check_margins([row_targets, col_targets], x.shape, [rk, ck], units)
    row_order = sorted(range(m), key=lambda i: rk[i]) if row_keys is not None else list(range(m))
    col_order = sorted(range(n), key=lambda j: ck[j]) if col_keys is not None else list(range(n))
    out = _controlled(
        x[np.ix_(row_order, col_order)],
        [row_targets[i] for i in row_order],
        [col_targets[j] for j in col_order],
        [rk[i] for i in row_order],
        [ck[j] for j in col_order],
        units,
    )
    inv_r = np.argsort(row_order).tolist()
    inv_c = np.argsort(col_order).tolist()
    return ControlledRounding(
        cells=tuple(tuple(out.cells[a][b] for b in inv_c) for a in inv_r),
        rounding_band=out.rounding_band,
        scaled=tuple(tuple(out.scaled[a][b] for b in inv_c) for a in inv_r),
    )


def split_table(
    seed: npt.ArrayLike,
    margins: Sequence[Sequence[int]],
    *,
    axis_keys: Sequence[Sequence[str]] | None = None,
    zero_mask: npt.ArrayLike | None = None,
    prior: Number = DEFAULT_PRIOR,
    tolerance: float = DEFAULT_TOLERANCE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    units: Units = MINOR,
) -> TableResult:
    """N-way split: IPF to one integer margin per dimension, then exact-margin rounding."""
    x = _float_table(seed)
    keys = _axis_keys(axis_keys, x.shape)
    orders = [_key_order(k) if axis_keys is not None else list(range(len(k))) for k in keys]
    ix = np.ix_(*orders)
    mask = None if zero_mask is None else np.array(zero_mask, dtype=bool)[ix]
    sorted_keys = [[keys[d][i] for i in orders[d]] for d in range(x.ndim)]
    sorted_margins = (
        [[margins[d][i] for i in orders[d]] for d in range(x.ndim)]
        if len(margins) == x.ndim
        else margins
    )
    fit = fit_ipf(
        x[ix],
        sorted_margins,
        axis_keys=sorted_keys,
        zero_mask=mask,
        prior=prior,
        tolerance=tolerance,
        max_iterations=max_iterations,
        units=units,
    )
    _require_usable(fit, units)
    cells, band = _round_nd(
        fit.table, [list(m) for m in sorted_margins], sorted_keys, tolerance, max_iterations, units
    )
    inverse = np.ix_(*[np.argsort(o) for o in orders])
    return TableResult(
        axis_keys=tuple(tuple(k) for k in keys),
        cells=cells[inverse],
        fitted=fit.table[inverse],
        iterations=fit.iterations,
        max_residual=fit.max_residual,
        rounding_band=band,
    )


# ---------------------------------------------------------------------------
# IPF


def _ipf(
    x: FloatArray,
    targets: Sequence[FloatArray],
    total: float,
    tolerance: float,
    max_iterations: int,
) -> tuple[FloatArray, int, float]:
    nd = x.ndim
    others = [tuple(a for a in range(nd) if a != d) for d in range(nd)]
    shapes = [tuple(-1 if a == d else 1 for a in range(nd)) for d in range(nd)]
    limit = max(float(tolerance), _FLOAT_RESOLUTION * total)

    def residual() -> float:
        return max(float(np.abs(x.sum(axis=others[d]) - targets[d]).max()) for d in range(nd))

    current = residual()
    iterations = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        while current > limit and iterations < max_iterations:
            iterations += 1
            for d in range(nd):
                sums = x.sum(axis=others[d])
                factor = np.where(sums > 0, targets[d] / sums, 0.0)
                x *= factor.reshape(shapes[d])
            current = residual()
    return x, iterations, current


def _start_table(seed: FloatArray, mask: BoolArray, prior: Number) -> FloatArray:
    p = to_fraction(prior)
    if p is None or not 0 <= p <= MAX_PRIOR:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"prior must be a number from 0 to {MAX_PRIOR}, got {show(prior)}",
            {"prior": show(prior)},
        )
    x = np.where(mask, 0.0, seed)
    positive = x > 0
    if p > 0:
        base = float(x[positive].mean()) if positive.any() else 1.0
        fill = float(p) * base if positive.any() else 1.0
        x = np.where(~mask & ~positive, fill, x)
    return x


def _check_support(
    x: FloatArray, targets: Sequence[Sequence[int]], keys: Sequence[Sequence[str]], units: Units
) -> None:
    nd = x.ndim
    problems: list[str] = []
    for d in range(nd):
        others = tuple(a for a in range(nd) if a != d)
        support = np.asarray((x > 0).any(axis=others) if others else x > 0, dtype=bool)
        for i, t in enumerate(targets[d]):
            if t > 0 and not support[i]:
                problems.append(f"{keys[d][i]} (target {units.amount(t)})")
    if problems:
        raise InfeasibleAllocationError(
            AllocationErrorCode.ZERO_MARGIN_CELLS,
            "a positive target has no cell that may be non-zero: "
            + ", ".join(problems[:_MAX_LISTED]),
            {"members": problems[:_MAX_LISTED]},
        )


def _require_usable(fit: IpfFit, units: Units = MINOR) -> None:
    """Refuse a fit that neither converged nor is close enough to round with certainty.

    At the iteration cap a fit whose largest residual is below ``0.5 / max(shape)``
    units is still used (controlled rounding then provably keeps every cell within
    one unit of it); ``converged`` stays False and the note says so. IPF converges
    slowly (sublinearly) when the margins force some cells to the edge of the
    zero pattern; an unreachable pattern leaves a residual that does not shrink.
    """
    if fit.converged or fit.max_residual < 0.5 / max(fit.table.shape):
        return
    raise ConvergenceError(
        AllocationErrorCode.NOT_CONVERGED,
        f"iterative proportional fitting did not converge: largest margin residual "
        f"{fit.max_residual / 10**units.digits:.6g} after {fit.iterations} iterations (the "
        "structural zeros may "
        "make the margins unreachable; raise max_iterations or the tolerance)",
        {"iterations": fit.iterations, "max_residual": fit.max_residual},
    )


# ---------------------------------------------------------------------------
# controlled rounding


def _controlled(
    x: FloatArray,
    row_targets: Sequence[int],
    col_targets: Sequence[int],
    row_keys: Sequence[str],
    col_keys: Sequence[str],
    units: Units = MINOR,
) -> ControlledRounding:
    """Controlled rounding of ``x`` (already in canonical order)."""
    m, n = x.shape
    base = [[0] * n for _ in range(m)]
    rems = [[0] * n for _ in range(m)]
    dens = [1] * m
    for r in range(m):
        target = row_targets[r]
        cols = np.flatnonzero(x[r] > 0).tolist()
        if target == 0:
            continue
        if not cols:
            raise InfeasibleAllocationError(
                AllocationErrorCode.ZERO_MARGIN_CELLS,
                f"row {row_keys[r]} has target {units.amount(target)} but no positive cell",
                {"members": [row_keys[r]]},
            )
        weights = integerize([Fraction(float(x[r, c])) for c in cols])
        den = sum(weights)
        dens[r] = den
        for c, w in zip(cols, weights, strict=True):
            base[r][c], rems[r][c] = divmod(target * w, den)
    row_need = [row_targets[r] - sum(base[r]) for r in range(m)]
    col_need = [col_targets[c] - sum(base[r][c] for r in range(m)) for c in range(n)]
    scaled = tuple(
        tuple(
            format_decimal(Fraction(base[r][c] * dens[r] + rems[r][c], dens[r])) for c in range(n)
        )
        for r in range(m)
    )
    if min(col_need, default=0) >= 0:
        cells = _round_band0(base, rems, dens, row_need, col_need)
        if cells is not None:
            return ControlledRounding(cells, 0, scaled)
    band = 1
    limit = max(max(row_targets, default=0), max(col_targets, default=0), 1)
    while True:
        cells = _round_band(base, rems, x > 0, row_targets, col_targets, band)
        if cells is not None:
            return ControlledRounding(cells, band, scaled)
        if band >= limit:
            raise InfeasibleAllocationError(
                AllocationErrorCode.ROUNDING_INFEASIBLE,
                "no integer table with these margins fits the non-zero pattern of the fitted table",
                {"rows": list(row_keys[:_MAX_LISTED]), "cols": list(col_keys[:_MAX_LISTED])},
            )
        band *= 2


def _round_band0(
    base: list[list[int]],
    rems: list[list[int]],
    dens: list[int],
    row_need: list[int],
    col_need: list[int],
) -> tuple[tuple[int, ...], ...] | None:
    """Round each cell down or up: greedy by fractional part, completed by max-flow."""
    m = len(base)
    n = len(base[0]) if m else 0
    candidates = [(-(rems[r][c] / dens[r]), r, c) for r in range(m) for c in range(n) if rems[r][c]]
    candidates.sort()
    graph = MaxFlow(m + n + 2)
    source, sink = m + n, m + n + 1
    row_arcs = [graph.add_edge(source, r, row_need[r]) for r in range(m)]
    col_arcs = [graph.add_edge(m + c, sink, col_need[c]) for c in range(n)]
    cell_arcs: dict[tuple[int, int], int] = {}
    rows_left = list(row_need)
    cols_left = list(col_need)
    for _, r, c in candidates:
        arc = graph.add_edge(r, m + c, 1)
        cell_arcs[r, c] = arc
        if rows_left[r] and cols_left[c]:
            rows_left[r] -= 1
            cols_left[c] -= 1
            graph.push(row_arcs[r], 1)
            graph.push(arc, 1)
            graph.push(col_arcs[c], 1)
    missing = sum(rows_left)
    if missing and graph.max_flow(source, sink) != missing:
        return None
    cells = [list(row) for row in base]
    for (r, c), arc in cell_arcs.items():
        cells[r][c] += graph.flow(arc)
    return tuple(tuple(row) for row in cells)


def _round_band(
    base: list[list[int]],
    rems: list[list[int]],
    allowed: BoolArray,
    row_targets: Sequence[int],
    col_targets: Sequence[int],
    band: int,
) -> tuple[tuple[int, ...], ...] | None:
    """Integer table within ``[floor - band, ceil + band]`` of each allowed cell, or None."""
    m = len(base)
    n = len(base[0]) if m else 0
    low = [[max(0, base[r][c] - band) if allowed[r, c] else 0 for c in range(n)] for r in range(m)]
    row_need = [row_targets[r] - sum(low[r]) for r in range(m)]
    col_need = [col_targets[c] - sum(low[r][c] for r in range(m)) for c in range(n)]
    if min(col_need, default=0) < 0 or min(row_need, default=0) < 0:
        return None
    graph = MaxFlow(m + n + 2)
    source, sink = m + n, m + n + 1
    for r in range(m):
        graph.add_edge(source, r, row_need[r])
    for c in range(n):
        graph.add_edge(m + c, sink, col_need[c])
    arcs: dict[tuple[int, int], int] = {}
    for r in range(m):
        for c in range(n):
            if allowed[r, c]:
                high = base[r][c] + (1 if rems[r][c] else 0) + band
                arcs[r, c] = graph.add_edge(r, m + c, high - low[r][c])
    if graph.max_flow(source, sink) != sum(row_need):
        return None
    cells = [list(row) for row in low]
    for (r, c), arc in arcs.items():
        cells[r][c] += graph.flow(arc)
    return tuple(tuple(row) for row in cells)


def _round_nd(
    x: FloatArray,
    margins: Sequence[Sequence[int]],
    keys: Sequence[Sequence[str]],
    tolerance: float,
    max_iterations: int,
    units: Units = MINOR,
) -> tuple[IntArray, int]:
    """Round an N-D fitted table (canonical order) with every 1-D margin exact."""
    nd = x.ndim
    if nd == 1:
        return np.array(margins[0], dtype=np.int64), 0
    if nd == 2:
        out = _controlled(x, margins[0], margins[1], keys[0], keys[1], units)
        return np.array(out.cells, dtype=np.int64), out.rounding_band
    rest, band_rest = _round_nd(
        x.sum(axis=0), margins[1:], keys[1:], tolerance, max_iterations, units
    )
    flat_targets = [int(v) for v in rest.ravel().tolist()]
    z = x.reshape(x.shape[0], -1).copy()
    total = float(sum(margins[0]))
    z, iterations, residual = _ipf(
        z,
        [np.array(margins[0], dtype=np.float64), np.array(flat_targets, dtype=np.float64)],
        total,
        tolerance,
        max_iterations,
    )
    if residual > max(float(tolerance), _FLOAT_RESOLUTION * total):
        _require_usable(IpfFit(z, iterations, residual, False), units)
    flat_keys = [f"#{j:09d}" for j in range(z.shape[1])]
    out = _controlled(z, margins[0], flat_targets, keys[0], flat_keys, units)
    cells = np.array(out.cells, dtype=np.int64).reshape(x.shape)
    return cells, max(band_rest, out.rounding_band)


# ---------------------------------------------------------------------------
# validation helpers


def _key_order(keys: Sequence[str]) -> list[int]:
    return sorted(range(len(keys)), key=keys.__getitem__)


def _check_keys(keys: Sequence[str], what: str) -> None:
    if not keys:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, f"no {what}s to split over", {}
        )
    if not all(isinstance(k, str) and k for k in keys):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, f"{what} keys must be non-empty strings", {}
        )
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise AllocationInputError(
            AllocationErrorCode.DUPLICATE_KEY,
            f"{what} keys repeat: {', '.join(dupes[:_MAX_LISTED])}",
            {"children": dupes[:_MAX_LISTED]},
        )


def _axis_keys(
    axis_keys: Sequence[Sequence[str]] | None, shape: tuple[int, ...]
) -> list[list[str]]:
    if axis_keys is None:
        return [[f"#{i}" for i in range(size)] for size in shape]
    if len(axis_keys) != len(shape) or any(
        len(k) != s for k, s in zip(axis_keys, shape, strict=False)
    ):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, "axis keys must match the seed's shape", {}
        )
    keys = [list(k) for k in axis_keys]
    for k in keys:
        _check_keys(k, "member")
    return keys


def _check_margins(
    margins: Sequence[Sequence[int]],
    shape: tuple[int, ...],
    keys: Sequence[Sequence[str]],
    units: Units = MINOR,
) -> list[list[int]]:
    if len(margins) != len(shape):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            f"{len(margins)} margins for a {len(shape)}-dimensional table",
            {},
        )
    out: list[list[int]] = []
    for d, (margin, size) in enumerate(zip(margins, shape, strict=True)):
        values = list(margin)
        if len(values) != size:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                f"dimension {d} has {size} members but {len(values)} targets",
                {},
            )
        bad = [
            keys[d][i]
            for i, v in enumerate(values)
            if not (is_int_amount(v) and 0 <= v <= BIGINT_MAX)
        ]
        if bad:
            raise AllocationInputError(
                AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
                f"targets must be whole amounts from 0 to {units.amount(BIGINT_MAX)}: "
                f"{', '.join(bad[:_MAX_LISTED])}",
                {"members": bad[:_MAX_LISTED]},
            )
        out.append(values)
    totals = [sum(v) for v in out]
    if len(set(totals)) > 1:
        raise AllocationInputError(
            AllocationErrorCode.MARGINS_MISMATCH,
            "the margins add up to different totals: "
            + ", ".join(f"dimension {d}: {units.amount(t)}" for d, t in enumerate(totals)),
            {"totals": totals},
        )
    if totals and totals[0] > BIGINT_MAX:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"the total {units.amount(totals[0])} is above the largest target "
            f"{units.amount(BIGINT_MAX)}",
            {},
        )
    return out


def _seed_array(
    seed: Sequence[Sequence[Number]], rows: Sequence[str], cols: Sequence[str]
) -> FloatArray:
    """The seed as float64, each value read by the number rule first (exact), so a huge
    or malformed value is named instead of overflowing."""
    values: list[list[float]] = []
    bad: list[str] = []
    for r, row in enumerate(seed):
        out: list[float] = []
        for c, v in enumerate(row):
            frac = to_fraction(v)
            if frac is None or frac < 0 or frac > MAX_SEED:
                bad.append(f"{rows[r]}/{cols[c]}={show(v)}")
                out.append(0.0)
            else:
                out.append(float(frac))
        values.append(out)
    if bad:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_WEIGHTS,
            f"seed values must be {NUMBER_RULE} and at most 1e300: " + ", ".join(bad[:_MAX_LISTED]),
            {"cells": bad[:_MAX_LISTED]},
        )
    return np.array(values, dtype=np.float64)


def _float_table(table: npt.ArrayLike) -> FloatArray:
    """A float64 array of a table given by the caller, or ``INVALID_WEIGHTS``."""
    try:
        return np.array(table, dtype=np.float64)
    except (OverflowError, ValueError, TypeError, ArithmeticError) as exc:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_WEIGHTS,
            f"the table must hold finite numbers >= 0 (at most 1e300): {show(str(exc), 120)}",
            {},
        ) from None


def _normalised(x: FloatArray, keys: Sequence[Sequence[str]]) -> FloatArray:
    """``x`` divided by its largest value (IPF is scale-free); refuses positive values
    below ``MIN_SEED_RATIO`` of the largest, which float64 could not carry through."""
    top = float(x.max()) if x.size else 0.0
    if top <= 0:
        return x
    y = x / top
    tiny = (x > 0) & (y < MIN_SEED_RATIO)
    if tiny.any():
        idx = np.argwhere(tiny)[:_MAX_LISTED]
        cells = ["/".join(keys[d][i] for d, i in enumerate(ix)) for ix in idx.tolist()]
        raise AllocationInputError(
            AllocationErrorCode.INVALID_WEIGHTS,
            f"seed values below {MIN_SEED_RATIO:g} times the largest seed value ({top:g}) "
            f"cannot be fitted in floating point: {', '.join(cells)}; write 0 for an empty cell",
            {"cells": cells},
        )
    return y
