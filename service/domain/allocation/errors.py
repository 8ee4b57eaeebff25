"""Typed errors of the allocation layer.

Every error is a :class:`~service.domain.errors.DomainError` whose ``code`` is one
of :class:`AllocationErrorCode` and whose ``details`` name the children and the
numbers involved (``details["children"]`` is a list of child keys; amounts are
``int``; shares and rates are ``float`` or exact decimal strings).

Three families, so callers can branch on the class as well as on the code:

* :class:`AllocationInputError`: the input itself is malformed (duplicate keys,
  a NaN or negative weight, a missing history, percentages not summing to 100).
* :class:`InfeasibleAllocationError`: the input is well formed but the
  constraints cannot all hold (locks above the parent, floors above it, caps
  below it, a lag that displaces targets nowhere, an overshoot).
* :class:`ConvergenceError`: iterative proportional fitting did not reach its
  tolerance within its iteration cap.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from service.domain.errors import DomainError


class AllocationErrorCode(StrEnum):
    """Machine codes of allocation errors (values equal names, for GraphQL enums)."""

    INVALID_INPUT = "INVALID_INPUT"
    """Malformed input: wrong type, empty key, unknown option, bad step or rate."""
    DUPLICATE_KEY = "DUPLICATE_KEY"
    """Two children (or rows, columns, periods, nodes) share a key."""
    UNKNOWN_KEY = "UNKNOWN_KEY"
    """A key names no child (rebalance target, structural-zero cell, tree root)."""
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    """An amount is negative or above the PostgreSQL bigint range (2**63-1)."""
    INVALID_BOUNDS = "INVALID_BOUNDS"
    """A floor above its cap, or an amount (locked, manual, set or rolled up) outside its
    node's floor and cap."""
    INVALID_WEIGHTS = "INVALID_WEIGHTS"
    """A weight, history value, attribute or rate is negative, NaN or infinite."""
    ZERO_WEIGHTS = "ZERO_WEIGHTS"
    """All weights of the children that must absorb a positive amount are zero."""
    PERCENTAGES_NOT_100 = "PERCENTAGES_NOT_100"
    """A percentage table does not sum to 100."""
    MISSING_INPUT = "MISSING_INPUT"
    """A child lacks the input its method needs (weight, potential, amount)."""
    MISSING_HISTORY = "MISSING_HISTORY"
    """A child has no history and the no-history rule is ERROR."""
    LOCKED_EXCEEDS_TOTAL = "LOCKED_EXCEEDS_TOTAL"
    """Locked (or manual) amounts add up to more than the amount to split."""
    NOTHING_TO_ABSORB = "NOTHING_TO_ABSORB"
    """Every child is locked but the locks do not add up to the amount to split."""
    FLOORS_EXCEED_TOTAL = "FLOORS_EXCEED_TOTAL"
    """Floors add up to more than what is left after the locks."""
    CAPS_BELOW_TOTAL = "CAPS_BELOW_TOTAL"
    """Caps add up to less than what is left after the locks."""
    STEP_INFEASIBLE = "STEP_INFEASIBLE"
    """The rounding step leaves no multiple of the step inside a child's bounds."""
    LAG_NO_RECEIVER = "LAG_NO_RECEIVER"
    """A sales-cycle lag displaces a share but no later period can receive it."""
    MANUAL_MISMATCH = "MANUAL_MISMATCH"
    """Manual amounts do not add up to the amount to split and no fallback is set."""
    LOCKED = "LOCKED"
    """A move would change a locked node (a roll-up through a locked ancestor)."""
    REBALANCE_INFEASIBLE = "REBALANCE_INFEASIBLE"
    """The siblings cannot absorb the change within their locks and bounds."""
    TREE_INCONSISTENT = "TREE_INCONSISTENT"
    """A node's children do not add up to it, or the tree is malformed."""
    OVERSHOOT = "OVERSHOOT"
    """Actuals to date already exceed the year's target (rule ERROR)."""
    MARGINS_MISMATCH = "MARGINS_MISMATCH"
    """Row and column targets of a two-way split add up to different totals."""
    ZERO_MARGIN_CELLS = "ZERO_MARGIN_CELLS"
    """A row or column with a positive target has no cell that may be non-zero."""
    NOT_CONVERGED = "NOT_CONVERGED"
    """Iterative proportional fitting did not converge within its iteration cap."""
    ROUNDING_INFEASIBLE = "ROUNDING_INFEASIBLE"
    """No integer table within the rounding band meets every margin exactly."""


class AllocationError(DomainError):
    """Base class of allocation errors."""

    def __init__(
        self, code: AllocationErrorCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(str(code), message, details)


class AllocationInputError(AllocationError):
    """The allocation input is malformed."""


class InfeasibleAllocationError(AllocationError):
    """The allocation input is well formed but its constraints cannot all hold."""


class ConvergenceError(AllocationError):
    """Iterative proportional fitting did not converge."""
