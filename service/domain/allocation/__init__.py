"""The allocation layer: split a parent amount into exact integer child amounts.

Pure Python + numpy; no database, web or GraphQL import. Public API:

* :func:`allocate` (``AllocationRequest -> AllocationResult``): one split by one
  method with its constraints, see :mod:`.engine`.
* :func:`rebalance` / :func:`cascade`: change one child or one parent and let the
  others follow, see :mod:`.rebalance`.
* :func:`retarget`: set one node's target in a tree (siblings rebalance or
  ancestors roll up; bounds, locks and buffers hold), see :mod:`.retarget`.
* :func:`display_explanation` / :func:`display_split_spec` / :func:`buffer_of`:
  stored allocation data in currency units, see :mod:`.display`.
* :class:`Units`: how texts print amounts (currency units), see :mod:`.units`.
* :func:`split_matrix` / :func:`split_table` / :func:`fit_ipf` /
  :func:`controlled_round`: two-way and N-way splits, see :mod:`.matrix`.
* :func:`replan_remainder`: keep closed periods at their actuals and spread the
  gap over the open ones, see :mod:`.replan`.
* :func:`apportion`: Hamilton's largest-remainder method, see :mod:`.rounding`.
"""

from service.domain.allocation.constraints import buffered_total, unbuffered
from service.domain.allocation.display import buffer_of, display_explanation, display_split_spec
from service.domain.allocation.engine import AllocationResult, allocate
from service.domain.allocation.errors import (
    AllocationError,
    AllocationErrorCode,
    AllocationInputError,
    ConvergenceError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import BIGINT_MAX, Number
from service.domain.allocation.explain import (
    Adjustment,
    AdjustmentKind,
    ChildExplanation,
    ComponentShare,
)
from service.domain.allocation.matrix import (
    CellExplanation,
    ControlledRounding,
    IpfFit,
    MatrixRequest,
    MatrixResult,
    TableResult,
    controlled_round,
    fit_ipf,
    split_matrix,
    split_table,
)
from service.domain.allocation.model import (
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
    WeightsOptions,
)
from service.domain.allocation.rebalance import (
    AbsorbRule,
    CascadeResult,
    CurrentChild,
    NodeChange,
    TreeNode,
    cascade,
    rebalance,
)
from service.domain.allocation.replan import (
    OvershootRule,
    PeriodInput,
    ReplanResult,
    replan_remainder,
)
from service.domain.allocation.retarget import (
    RetargetResult,
    TargetChange,
    TargetMode,
    retarget,
    subtree_needed,
)
from service.domain.allocation.rounding import apportion, apportion_array, apportion_exact
from service.domain.allocation.units import Units

__all__ = [
    "BIGINT_MAX",
    "AbsorbRule",
    "Adjustment",
    "AdjustmentKind",
    "AllocationError",
    "AllocationErrorCode",
    "AllocationInputError",
    "AllocationMethod",
    "AllocationRequest",
    "AllocationResult",
    "AllocationSpec",
    "BlendComponent",
    "CascadeResult",
    "CellExplanation",
    "ChildExplanation",
    "ChildInput",
    "ComponentShare",
    "ControlledRounding",
    "ConvergenceError",
    "CurrentChild",
    "HistoryMode",
    "HistoryOptions",
    "InfeasibleAllocationError",
    "IpfFit",
    "ManualOptions",
    "MatrixRequest",
    "MatrixResult",
    "NoHistoryRule",
    "NodeChange",
    "Number",
    "OvershootRule",
    "PeriodInput",
    "PotentialOptions",
    "ProfileSource",
    "ReplanResult",
    "RetargetResult",
    "SeasonalOptions",
    "TableResult",
    "TargetChange",
    "TargetMode",
    "TreeNode",
    "Units",
    "WeightsOptions",
    "allocate",
    "apportion",
    "apportion_array",
    "apportion_exact",
    "buffer_of",
    "buffered_total",
    "cascade",
    "controlled_round",
    "display_explanation",
    "display_split_spec",
    "fit_ipf",
    "rebalance",
    "replan_remainder",
    "retarget",
    "split_matrix",
    "split_table",
    "subtree_needed",
    "unbuffered",
]
