"""Extreme but parseable numbers: they work exactly or fail with a clear DomainError.

Every numeric input of the allocation layer (weights, history, growth,
potentials, rates, percentages, buffers, seeds, priors, amounts) is fed values
from ``1e-300`` to ``1e309``, integers of hundreds or thousands of digits,
decimals with huge exponents, NaN and infinities. The layer must never raise
anything but a :class:`DomainError` (no ``OverflowError`` while formatting an
explanation, no ``ValueError`` from the 4,300-digit ``int`` to ``str`` limit),
its results must add up exactly and stay within ``0 .. 2**63 - 1``, and its
stored dicts must be strict JSON.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.allocation import (
    BIGINT_MAX,
    AllocationErrorCode,
    AllocationInputError,
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    BlendComponent,
    ChildInput,
    HistoryOptions,
    MatrixRequest,
    NoHistoryRule,
    PeriodInput,
    PotentialOptions,
    SeasonalOptions,
    TreeNode,
    Units,
    WeightsOptions,
    allocate,
    apportion,
    cascade,
    fit_ipf,
    rebalance,
    replan_remainder,
    retarget,
    split_matrix,
)
from service.domain.allocation.exact import sig_text, to_fraction
from service.domain.allocation.rebalance import CurrentChild
from service.domain.errors import DomainError
from tests.domain.strategies import PROFILE, keys_for

M = AllocationMethod

EXTREME_STRINGS = [
    "1e309",
    "1e-300",
    "1e400",
    "1e-400",
    "1e401",
    "0.5",
    "9" * 60,
    "0." + "0" * 50 + "1",
    "1/3",
    "1e999999",
    "NaN",
    "-Infinity",
    "-1",
    "abc",
    "",
]

extreme_numbers: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=10**300, max_value=10**420),
    st.sampled_from([10**5000, -(10**5000), 2**63, 2**63 - 1, 2**64, 0, 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-300, max_value=1.7e308),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(0, 10**6), st.integers(-420, 420)),
    st.sampled_from(EXTREME_STRINGS),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [Decimal("1e999999"), Decimal("-1e-999999"), Decimal("sNaN"), Decimal("1e309")]
    ),
    st.fractions(),
    st.builds(Fraction, st.integers(0, 10**450), st.integers(1, 10**450)),
    st.just(True),
)
maybe = st.one_of(st.none(), extreme_numbers)

# Valid but extreme: every size from 1e-300 to 1e309 (and integers up to 399 digits),
# written as floats, strings, Decimals, ints and Fractions.
big_or_small: st.SearchStrategy[Any] = st.one_of(
    st.floats(min_value=1e-300, max_value=1.7e308),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(1, 999), st.integers(-300, 309)),
    st.builds(lambda m, e: Decimal(f"{m}e{e}"), st.integers(1, 999), st.integers(-300, 309)),
    st.integers(0, 10**399),
    st.builds(Fraction, st.integers(1, 10**300), st.integers(1, 10**300)),
    st.sampled_from([0, 0.5, 1, "1e309", "1e-300", 1e-300, 5e-324]),
)


def _json_strict(data: object) -> None:
    json.dumps(data, allow_nan=False)


HOSTILE_FIELDS = [
    None,
    "weight",
    "history",
    "growth",
    "potential",
    "penetration",
    "amount",
    "locked_amount",
    "floor",
    "cap",
    "blend",
    "no_history_floor",
    "reserved_share",
    "default_penetration",
    "lag",
    "ramp",
    "ramp_factors",
    "step",
    "over_assignment",
    "parent",
]


@st.composite
def extreme_requests(draw: st.DrawFn) -> AllocationRequest:
    """Every number valid but of extreme size, except (usually) one hostile field that
    may hold anything at all (NaN, 10**5000, "abc", True, ...)."""
    hostile = draw(st.sampled_from(HOSTILE_FIELDS))

    def num(name: str, usual: st.SearchStrategy[Any] = big_or_small) -> Any:
        return draw(extreme_numbers if name == hostile else usual)

    def opt(name: str, usual: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(st.none(), st.none(), usual)) if name != hostile else num(name)

    method = draw(st.sampled_from(list(M)))
    n = draw(st.integers(1, 4))
    periods = draw(st.integers(0, 3))
    small_amounts = st.integers(0, 10**6)
    children = []
    for key in keys_for(n):
        children.append(
            ChildInput(
                key=key,
                weight=num("weight"),
                history=tuple(
                    draw(st.one_of(st.none(), big_or_small))
                    if hostile != "history"
                    else num("history")
                    for _ in range(periods)
                ),
                growth=opt("growth", big_or_small),
                potential=num("potential"),
                penetration=opt("penetration", big_or_small),
                amount=opt("amount", small_amounts),
                locked_amount=opt("locked_amount", small_amounts),
                floor=opt("floor", small_amounts),
                cap=opt("cap", st.integers(10**5, 10**7)),
            )
        )
    blend = tuple(
        BlendComponent(m, num("blend"))
        for m in draw(
            st.lists(st.sampled_from([M.EQUAL, M.WEIGHTS, M.HISTORY, M.POTENTIAL]), max_size=3)
        )
    )
    spec = AllocationSpec(
        method,
        weights=WeightsOptions(percentages=draw(st.booleans())),
        history=HistoryOptions(
            no_history=draw(st.sampled_from(list(NoHistoryRule))),
            no_history_floor=num("no_history_floor", st.integers(0, 100)),
            reserved_share=num("reserved_share", st.sampled_from(["0.1", 0, 1, "1e-300"])),
        ),
        potential=PotentialOptions(penetration=opt("default_penetration", big_or_small)),
        blend=blend,
        seasonal=SeasonalOptions(
            lag=num("lag", st.one_of(st.integers(0, 3), st.integers(0, 10**30))),
            ramp=num("ramp", st.one_of(st.integers(0, 3), st.integers(0, 10**30))),
            ramp_factors=draw(
                st.tuples(extreme_numbers)
                if hostile == "ramp_factors"
                else st.one_of(st.none(), st.tuples(st.sampled_from([0, "1e-300", 1, 0.5])))
            ),
        ),
        step=num("step", st.sampled_from([1, 1, 1, 100, 7])),
        over_assignment=num(
            "over_assignment", st.sampled_from([0, 0, "10", "1e-300", 1e-300, "1/3", 300])
        ),
    )
    parent = num("parent", st.one_of(st.integers(0, 10**6), st.integers(0, BIGINT_MAX // 1000)))
    return AllocationRequest(parent, tuple(children), spec, "the plan", Units(2))


@PROFILE
@given(extreme_requests())
def test_allocate_never_raises_anything_but_a_domain_error(request: AllocationRequest) -> None:
    try:
        result = allocate(request)
        explanations = result.explanations
        stored = result.to_dict()
        spec = request.to_dict()
    except DomainError as exc:
        assert exc.message and exc.code in AllocationErrorCode.__members__
        _json_strict(exc.details)
        return
    assert sum(result.amounts) == result.total <= BIGINT_MAX
    assert all(0 <= a <= BIGINT_MAX for a in result.amounts)
    assert all(e.text for e in explanations)
    _json_strict(stored)
    _json_strict(spec)


@pytest.mark.parametrize(
    "big",
    [1e308, "1e309", "1e399", Decimal("1e309"), 10**399, Fraction(10**399, 3)],
    ids=["1e308", "s1e309", "s1e399", "d1e309", "int399", "frac399"],
)
@pytest.mark.parametrize(
    "small",
    [0.5, "1e-300", 1e-300, 5e-324, Fraction(1, 10**399)],
    ids=["half", "s1e-300", "f1e-300", "denormal", "frac-399"],
)
def test_a_huge_weight_next_to_a_small_one_is_exact(big: Any, small: Any) -> None:
    """The issue's example: ``1e309`` next to ``0.5`` once overflowed a float."""
    request = AllocationRequest(
        10**12,
        (ChildInput("East", weight=big), ChildInput("West", weight=small)),
        AllocationSpec(M.WEIGHTS),
        "the plan",
        Units(2),
    )
    result = allocate(request)
    assert result.amounts == (10**12, 0)  # the small share is below half a cent
    east, west = result.explanations
    assert east.text.startswith("East: 10000000000.00 = 100 % of the plan: weight ")
    assert "e+" in east.text  # 1e+308 .. 1e+399, printed exactly, never "inf"
    assert west.text.startswith("West: 0.00 = 0 % of the plan")
    _json_strict(result.to_dict())


def test_shares_of_extreme_weights_are_exact() -> None:
    weights = ["1e309", "1e309", "2e309"]
    request = AllocationRequest(
        100,
        tuple(ChildInput(k, weight=w) for k, w in zip("abc", weights, strict=True)),
        AllocationSpec(M.WEIGHTS),
    )
    assert allocate(request).amounts == (25, 25, 50)
    tiny = ["1e-300", "3e-300"]
    request = AllocationRequest(
        100,
        tuple(ChildInput(k, weight=w) for k, w in zip("ab", tiny, strict=True)),
        AllocationSpec(M.WEIGHTS),
    )
    assert allocate(request).amounts == (25, 75)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("weight", 10**5000, "weight <an integer of about"),
        ("weight", "1e401", "weight '1e401'"),
        ("weight", Decimal("1e999999"), "weight Decimal('1E+999999')"),
        ("potential", float("inf"), "potential inf"),
        ("growth", "1e999", "growth '1e999'"),
    ],
    ids=["int-5000-digits", "str-1e401", "decimal-1e999999", "inf", "growth-1e999"],
)
def test_numbers_beyond_the_rule_name_the_child_and_the_input(
    field: str, value: Any, named: str
) -> None:
    method = {"weight": M.WEIGHTS, "potential": M.POTENTIAL, "growth": M.HISTORY}[field]
    east = ChildInput("EAST", label="East", history=(1, 2), weight=1, potential=1)
    west = ChildInput("WEST", label="West", history=(1, 2), weight=1, potential=1)
    east = ChildInput(**{**_fields(east), field: value})
    with pytest.raises(AllocationInputError) as info:
        allocate(AllocationRequest(100, (east, west), AllocationSpec(method)))
    assert f"East {named}" in info.value.message
    assert "400 digits" in info.value.message
    assert info.value.details["children"] == ["EAST"]


def _fields(child: ChildInput) -> dict[str, Any]:
    return {name: getattr(child, name) for name in child.__slots__}  # type: ignore[attr-defined]


def test_percentages_of_extreme_size_are_summed_exactly() -> None:
    children = (ChildInput("a", weight="1e309"), ChildInput("b", weight=0.5))
    spec = AllocationSpec(M.WEIGHTS, weights=WeightsOptions(percentages=True))
    with pytest.raises(AllocationInputError) as info:
        allocate(AllocationRequest(100, children, spec))
    assert info.value.code == AllocationErrorCode.PERCENTAGES_NOT_100
    assert "1.00000000000e+309" in info.value.message or "1e+309" in info.value.message
    _json_strict(info.value.details)


def test_a_buffer_past_the_largest_amount_is_out_of_range() -> None:
    spec = AllocationSpec(M.EQUAL, over_assignment="1e309")
    with pytest.raises(AllocationInputError) as info:
        allocate(AllocationRequest(100, (ChildInput("a"),), spec, "East", Units(2)))
    assert info.value.code == AllocationErrorCode.AMOUNT_OUT_OF_RANGE
    assert info.value.message.startswith("East (1.00) plus its 1e+309 % buffer is")
    assert "above the largest target 92233720368547758.07" in info.value.message


@PROFILE
@given(
    st.lists(st.lists(extreme_numbers, min_size=2, max_size=2), min_size=2, max_size=2),
    st.one_of(st.just(1e-3), extreme_numbers),
)
def test_matrix_seeds_and_priors_of_any_size(seed: list[list[Any]], prior: Any) -> None:
    request = MatrixRequest(
        ("r1", "r2"), ("c1", "c2"), (60, 40), (50, 50), tuple(map(tuple, seed)), prior=prior
    )
    try:
        result = split_matrix(request)
        stored = result.to_dict()
    except DomainError as exc:
        assert exc.message
        return
    assert [sum(r) for r in result.cells] == [60, 40]
    assert [sum(c) for c in zip(*result.cells, strict=True)] == [50, 50]
    _json_strict(stored)


def test_matrix_seed_range_rule() -> None:
    ok = split_matrix(
        MatrixRequest(("a", "b"), ("x", "y"), (5, 5), (5, 5), ((1e300, 1e30), (1e30, 1e300)))
    )
    assert ok.cells == ((5, 0), (0, 5))
    with pytest.raises(AllocationInputError) as info:
        split_matrix(MatrixRequest(("a", "b"), ("x", "y"), (5, 5), (5, 5), (("1e309", 1), (1, 1))))
    assert "a/x='1e309'" in info.value.message
    with pytest.raises(AllocationInputError) as info:
        fit_ipf([[1e-300, 1.0], [1.0, 1.0]], [[5, 5], [5, 5]])
    assert "#0/#0" in info.value.message and "write 0 for an empty cell" in info.value.message
    with pytest.raises(AllocationInputError):
        fit_ipf([[10**400, 1]], [[5], [4, 1]])


@PROFILE
@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(0, 10**9), extreme_numbers),
            st.one_of(st.none(), st.integers(-(10**9), 10**9), extreme_numbers),
            st.booleans(),
            maybe,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_replan_with_extreme_numbers(rows: list[tuple[Any, Any, bool, Any]]) -> None:
    periods = [
        PeriodInput(f"p{i}", target=t, actual=a, closed=closed, weight=w)
        for i, (t, a, closed, w) in enumerate(rows)
    ]
    try:
        result = replan_remainder(periods, units=Units(2))
        stored = result.to_dict()
    except DomainError as exc:
        assert exc.message
        return
    assert sum(result.amounts) == result.total <= BIGINT_MAX
    _json_strict(stored)


@PROFILE
@given(
    st.lists(st.one_of(st.integers(0, 10**9), extreme_numbers), min_size=2, max_size=4),
    extreme_numbers,
)
def test_rebalance_cascade_retarget_with_extreme_amounts(amounts: list[Any], new: Any) -> None:
    children = [CurrentChild(f"c{i}", a) for i, a in enumerate(amounts)]
    for call in (
        lambda: rebalance(children, "c0", new, units=Units(2)),
        lambda: cascade(
            [TreeNode("r", None, sum(a for a in amounts if isinstance(a, int)))]
            + [TreeNode(c.key, "r", c.amount) for c in children],
            "r",
            new,
        ),
        lambda: retarget(
            [TreeNode("r", None, 10**6, buffer=new)]
            + [TreeNode(c.key, "r", c.amount) for c in children],
            "c0",
            new,
        ),
    ):
        try:
            call()
        except DomainError as exc:
            assert exc.message
            _json_strict(exc.details)


def test_apportion_and_texts_of_huge_exact_numbers() -> None:
    assert apportion(10, [Fraction(10**399), Fraction(1, 10**399)]) == [10, 0]
    assert apportion(10**400, [0.5, 0.25]) == [10**400 - 10**400 // 3, 10**400 // 3]
    assert sig_text(Fraction(10**309)) == "1e+309"
    assert sig_text(Fraction(1, 3)) == "0.333333"
    assert sig_text(Fraction(123456789)) == "1.23457e+08"
    assert sig_text(Fraction(-5, 2)) == "-2.5"
    assert to_fraction(10**400) is None and to_fraction(10**400 - 1) is not None
    assert to_fraction("1e-400") is None and to_fraction("1e-399") is not None
    assert to_fraction(5e-324) == Fraction(5, 10**324)
