"""Property-based tests of ``allocate`` over every method and constraint.

For any request the engine either raises a typed ``AllocationError`` or returns
amounts that add up exactly, are never negative, keep locks and manual amounts,
hold every floor and cap, follow the step rule, are deterministic and do not
depend on the order of the children (beyond the documented tie-break).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

from hypothesis import assume, event, given
from hypothesis import strategies as st

from service.domain.allocation import (
    AdjustmentKind,
    AllocationError,
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    BlendComponent,
    ChildInput,
    HistoryOptions,
    ManualOptions,
    NoHistoryRule,
    SeasonalOptions,
    allocate,
)
from service.domain.allocation.engine import _fast_amounts, _prepare, _trace
from tests.domain.strategies import BIG, PROFILE, any_weight, keys_for

M = AllocationMethod
SMALL_WEIGHT = st.one_of(st.integers(0, 1000), st.integers(0, 10**5).map(lambda n: n / 100))


@st.composite
def requests(
    draw: st.DrawFn,
    methods: tuple[AllocationMethod, ...] = tuple(M),
    constrained: bool | None = None,
    plain: bool = False,
) -> AllocationRequest:
    """Random requests; ``plain`` keeps to float/int weights without per-child rates."""
    method = draw(st.sampled_from(methods))
    n = draw(st.integers(1, 9))
    parent = draw(
        st.one_of(st.integers(0, 10**6), st.integers(0, 10**15), st.integers(0, BIG // 2))
    )
    periods = draw(st.integers(1, 3))
    if constrained is None:
        constrained = draw(st.booleans())
    children = []
    for key in keys_for(n):
        history = tuple(
            draw(st.lists(st.one_of(SMALL_WEIGHT, st.none()), min_size=periods, max_size=periods))
        )
        child = ChildInput(
            key,
            weight=draw(SMALL_WEIGHT if plain else st.one_of(SMALL_WEIGHT, any_weight)),
            history=history if draw(st.integers(0, 5)) else (),
            growth=draw(st.one_of(st.none(), st.sampled_from([-0.5, 0, 0.1, 2]))),
            potential=draw(SMALL_WEIGHT),
            penetration=None
            if plain
            else draw(st.one_of(st.none(), st.sampled_from([0.01, 0.5, 1]))),
        )
        if constrained:
            slice_ = max(parent // (2 * n), 1)
            if draw(st.integers(0, 5)) == 0:
                child = replace(child, locked_amount=draw(st.integers(0, slice_)))
            elif draw(st.integers(0, 3)) == 0:
                child = replace(child, floor=draw(st.integers(0, slice_)))
            if child.locked_amount is None and draw(st.integers(0, 3)) == 0:
                lo = child.floor or 0
                child = replace(child, cap=draw(st.integers(lo, lo + 3 * slice_)))
        if method is M.MANUAL and draw(st.booleans()):
            child = replace(
                child, amount=draw(st.integers(0, max(parent // n, 0))), locked_amount=None
            )
        children.append(child)
    spec = AllocationSpec(
        method,
        history=HistoryOptions(
            no_history=draw(
                st.sampled_from(
                    [NoHistoryRule.ZERO, NoHistoryRule.FLOOR, NoHistoryRule.RESERVED_SHARE]
                )
            ),
            no_history_floor=draw(st.integers(0, 100)),
            reserved_share=draw(st.sampled_from([0, 0.05, "0.5"])),
        ),
        blend=(
            BlendComponent(M.HISTORY, draw(st.sampled_from([0, 0.6, 1]))),
            BlendComponent(draw(st.sampled_from([M.POTENTIAL, M.WEIGHTS, M.EQUAL])), 0.4),
        ),
        seasonal=SeasonalOptions(lag=draw(st.integers(0, 2)), ramp=draw(st.integers(0, 2))),
        manual=ManualOptions(fallback=draw(st.sampled_from([None, M.EQUAL, M.WEIGHTS, M.HISTORY]))),
        step=draw(st.sampled_from([1, 1, 1, 10, 100, 1000])),
        over_assignment=draw(st.sampled_from([0, 0, 5, 12.5])),
    )
    return AllocationRequest(parent, tuple(children), spec)


def check_invariants(request: AllocationRequest) -> list[int] | None:
    try:
        result = allocate(request)
    except AllocationError as exc:
        event(f"error {exc.code}")
        assert exc.message and isinstance(exc.details, dict)
        json.dumps(exc.to_dict())
        return None
    event("ok")
    amounts = list(result.amounts)
    assert all(isinstance(a, int) for a in amounts)
    assert sum(amounts) == result.total >= request.parent
    assert all(a >= 0 for a in amounts)
    step = request.spec.step
    off_step = 0
    for child, amount in zip(request.children, amounts, strict=True):
        if child.locked_amount is not None:
            assert amount == child.locked_amount
            continue
        if request.spec.method is M.MANUAL and child.amount is not None:
            assert amount == child.amount
            continue
        if child.floor is not None:
            assert amount >= child.floor
        if child.cap is not None:
            assert amount <= child.cap
        off_step += amount % step != 0
    assert off_step <= 1
    # explanations agree with the amounts and are plain JSON
    assert [e.final for e in result.explanations] == amounts
    assert [e.key for e in result.explanations] == list(result.keys)
    json.dumps(result.to_dict())
    return amounts


@PROFILE
@given(requests())
def test_every_method_keeps_every_invariant(request: AllocationRequest) -> None:
    check_invariants(request)


@PROFILE
@given(requests(), st.data())
def test_deterministic_and_order_free(request: AllocationRequest, data: st.DataObject) -> None:
    amounts = check_invariants(request)
    assume(amounts is not None)
    assert amounts is not None
    assert list(allocate(request).amounts) == amounts  # same input, same cents
    if request.spec.method is M.SEASONAL:
        return  # time children are ordered: position is an input
    perm = data.draw(st.permutations(range(len(request.children))))
    shuffled = replace(request, children=tuple(request.children[i] for i in perm))
    out = allocate(shuffled)
    assert out.as_mapping() == dict(zip(allocate(request).keys, amounts, strict=True))


@PROFILE
@given(requests())
def test_stored_request_recomputes_the_same_cents(request: AllocationRequest) -> None:
    amounts = check_invariants(request)
    assume(amounts is not None)
    stored = json.loads(json.dumps(request.to_dict()))
    again = AllocationRequest.from_dict(stored)
    assert list(allocate(again).amounts) == amounts
    assert again.to_dict() == request.to_dict()


@PROFILE
@given(
    st.one_of(
        requests(methods=(M.EQUAL, M.WEIGHTS, M.POTENTIAL), constrained=False, plain=True),
        requests(methods=(M.EQUAL, M.WEIGHTS, M.POTENTIAL)),
    )
)
def test_vectorised_path_equals_exact_path(request: AllocationRequest) -> None:
    try:
        plan = _prepare(request)
        exact = _trace(request, plan).amounts
    except AllocationError:
        assume(False)
        return
    fast = _fast_amounts(request, plan)
    event("vectorised" if fast is not None else "exact only")
    if fast is not None:
        assert fast == exact


@PROFILE
@given(requests(methods=(M.WEIGHTS, M.HISTORY, M.POTENTIAL, M.BLEND, M.SEASONAL, M.EQUAL)))
def test_larger_share_never_gets_less(request: AllocationRequest) -> None:
    """Among children held at no bound, a larger share never gets a smaller amount."""
    amounts = check_invariants(request)
    assume(amounts is not None)
    result = allocate(request)
    bounded = {
        AdjustmentKind.CAP,
        AdjustmentKind.FLOOR,
        AdjustmentKind.LOCK,
        AdjustmentKind.NO_HISTORY,
    }
    free = [
        e
        for e in result.explanations
        if e.share is not None and not {a.kind for a in e.adjustments} & bounded
    ]
    for a in free:
        for b in free:
            if a.share is not None and b.share is not None and a.share > b.share:
                assert a.final >= b.final


@PROFILE
@given(
    parent=st.integers(0, 10**12),
    weights=st.lists(SMALL_WEIGHT, min_size=1, max_size=10),
    step=st.sampled_from([1, 100]),
)
def test_weights_monotone_and_resplit_is_idempotent(
    parent: int, weights: list[object], step: int
) -> None:
    assume(any(weights))
    keys = keys_for(len(weights))
    children = tuple(ChildInput(k, weight=w) for k, w in zip(keys, weights, strict=True))  # type: ignore[arg-type]
    first = allocate(AllocationRequest(parent, children, AllocationSpec(M.WEIGHTS, step=step)))
    for i, wi in enumerate(weights):
        for j, wj in enumerate(weights):
            if wi > wj:  # type: ignore[operator]
                assert first.amounts[i] >= first.amounts[j]
    # splitting the same parent again by the result gives the result back
    again = tuple(ChildInput(k, weight=a) for k, a in zip(keys, first.amounts, strict=True))
    if any(first.amounts):
        second = allocate(AllocationRequest(parent, again, AllocationSpec(M.WEIGHTS, step=step)))
        assert second.amounts == first.amounts


def test_the_generator_mostly_produces_feasible_requests() -> None:
    """Guard against a vacuous property suite: most generated requests must succeed."""
    outcomes: Counter[str] = Counter()

    @PROFILE
    @given(requests())
    def sample(request: AllocationRequest) -> None:
        outcomes["ok" if check_invariants(request) is not None else "error"] += 1

    sample()
    assert outcomes["ok"] >= outcomes["error"]
