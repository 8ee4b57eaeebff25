"""Shared hypothesis strategies and helpers for the allocation tests."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import settings
from hypothesis import strategies as st

from service.domain.allocation import (
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
)

PROFILE = settings.get_profile("quotatree-domain")
BIG = 2**63 - 1

amounts = st.integers(min_value=0, max_value=10**12)
big_amounts = st.integers(min_value=0, max_value=BIG)

# weights as planners give them: ints, decimal floats, strings, Decimals, Fractions
float_weights = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
decimal_floats = st.integers(min_value=0, max_value=10**7).map(lambda n: n / 100)
int_weights = st.integers(min_value=0, max_value=10**9)
exotic_weights = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(lambda n: str(Decimal(n) / 1000)),
    st.integers(min_value=0, max_value=10**6).map(lambda n: Decimal(n) / 7),
    st.fractions(min_value=0, max_value=10**6, max_denominator=1000),
)
any_weight = st.one_of(float_weights, decimal_floats, int_weights, exotic_weights)


def keys_for(n: int) -> list[str]:
    return [f"m{i:03d}" for i in range(n)]


@st.composite
def weight_lists(draw: st.DrawFn, min_size: int = 1, max_size: int = 12) -> list[object]:
    """Non-negative weights with at least one positive."""
    values = draw(st.lists(any_weight, min_size=min_size, max_size=max_size))
    if not any(Fraction(str(v)) if not isinstance(v, Fraction) else v for v in values):
        values[draw(st.integers(0, len(values) - 1))] = 1
    return values


def weights_request(
    parent: int, weights: list[object], keys: list[str] | None = None, **spec: object
) -> AllocationRequest:
    keys = keys or keys_for(len(weights))
    children = tuple(ChildInput(k, weight=w) for k, w in zip(keys, weights, strict=True))  # type: ignore[arg-type]
    return AllocationRequest(parent, children, AllocationSpec(AllocationMethod.WEIGHTS, **spec))  # type: ignore[arg-type]
