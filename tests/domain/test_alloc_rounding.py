"""Hamilton / largest-remainder apportionment: known answers, properties, exactness."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from service.domain.allocation import (
    AllocationErrorCode,
    AllocationInputError,
    apportion,
    apportion_array,
    apportion_exact,
)
from service.domain.allocation.rounding import _lr_exact, _lr_float, _lr_int64, integerize
from tests.domain.strategies import BIG, PROFILE, any_weight, big_amounts, keys_for, weight_lists

# ---------------------------------------------------------------------------
# known answers


def test_hamilton_1792_vetoed_house_apportionment() -> None:
    """Hamilton's method for the 1792 bill (120 seats, 1790 census) that Washington vetoed.

    Source: COMAP, *For All Practical Purposes*, ch. 14 "Apportionment",
    Example 6 "The Vetoed Apportionment Bill by Hamilton's Method", Table 14.5
    (populations of the 1790 census: total 3,615,920; lower quotas sum to 111,
    the 9 surplus seats go to NJ, VA, CT, SC, DE, VT, MA, NC, NH).
    """
    population = {
        "Connecticut": 236_841,
        "Delaware": 55_540,
        "Georgia": 70_835,
        "Kentucky": 68_705,
        "Maryland": 278_514,
        "Massachusetts": 475_327,
        "New Hampshire": 141_822,
        "New Jersey": 179_570,
        "New York": 331_589,
        "North Carolina": 353_523,
        "Pennsylvania": 432_879,
        "Rhode Island": 68_446,
        "South Carolina": 206_236,
        "Vermont": 85_533,
        "Virginia": 630_560,
    }
    published = {
        "Connecticut": 8,
        "Delaware": 2,
        "Georgia": 2,
        "Kentucky": 2,
        "Maryland": 9,
        "Massachusetts": 16,
        "New Hampshire": 5,
        "New Jersey": 6,
        "New York": 11,
        "North Carolina": 12,
        "Pennsylvania": 14,
        "Rhode Island": 2,
        "South Carolina": 7,
        "Vermont": 3,
        "Virginia": 21,
    }
    assert sum(population.values()) == 3_615_920
    states = list(population)
    seats = apportion(120, [population[s] for s in states], states)
    assert dict(zip(states, seats, strict=True)) == published
    # and every path agrees, floats included
    floats = np.array([float(population[s]) for s in states])
    assert apportion_array(120, floats, states).tolist() == seats


def test_largest_remainder_textbook_election_example() -> None:
    """Largest remainder method with the Hare quota, 10 seats, 100,000 votes.

    Source: Wikipedia, "Largest remainders method", worked example (Yellows
    47,000; Whites 16,000; Reds 15,800; Greens 12,000; Blues 6,100; Pinks 3,100
    -> 5, 2, 1, 1, 1, 0 seats).
    """
    parties = ["Yellows", "Whites", "Reds", "Greens", "Blues", "Pinks"]
    votes = [47_000, 16_000, 15_800, 12_000, 6_100, 3_100]
    assert apportion(10, votes, parties) == [5, 2, 1, 1, 1, 0]


def test_hand_checked_small_cases() -> None:
    # 100 over three equal weights: quotas 33.33..; the extra unit goes to the smallest key
    assert apportion(100, [1, 1, 1], ["c", "b", "a"]) == [33, 33, 34]
    # remainders tie at .5: the larger weight wins (quotas 0.5 and 1.5)
    assert apportion(2, [1, 3], ["a", "b"]) == [0, 2]
    # integer quotas are kept
    assert apportion(1000, [1, 2, 3, 4]) == [100, 200, 300, 400]
    # zero weight gets zero
    assert apportion(7, [0, 1, 1]) == [0, 4, 3]


def test_decimal_reading_of_floats_gives_the_human_tie() -> None:
    """0.1 + 0.2 + 0.3 + 0.4: quotas of 5 are 0.5, 1, 1.5, 2 read as decimals.

    The tie between 0.5 and 1.5 goes to the larger weight (0.3). Read as binary
    doubles the 0.1 child would win (its double is slightly above 0.1).
    """
    assert apportion(5, [0.1, 0.2, 0.3, 0.4], ["a", "b", "c", "d"]) == [0, 1, 2, 2]
    assert apportion(5, ["0.1", "0.2", "0.3", "0.4"], ["a", "b", "c", "d"]) == [0, 1, 2, 2]


def test_largest_parent_is_exact() -> None:
    """2**63-1 split 3 ways: float64 would lose the cents; the integer paths do not."""
    parent = BIG
    out = apportion(parent, [1.0, 1.0, 1.0], ["a", "b", "c"])
    q, r = divmod(parent, 3)
    assert out == [q + 1, q, q] if r == 1 else out == [q + 1, q + 1, q]
    assert sum(out) == parent
    weights = [0.3, 0.3000000000000001, 0.4]
    out = apportion(parent, weights)
    exact = [parent * Fraction(repr(w)) / sum(Fraction(repr(x)) for x in weights) for w in weights]
    assert sum(out) == parent
    assert all(abs(a - e) < 1 for a, e in zip(out, exact, strict=True))


# ---------------------------------------------------------------------------
# properties


@PROFILE
@given(total=st.integers(0, 10**15), weights=weight_lists(max_size=15))
def test_sum_quota_rule_and_zero_weights(total: int, weights: list[object]) -> None:
    keys = keys_for(len(weights))
    out = apportion(total, weights, keys)  # type: ignore[arg-type]
    assert sum(out) == total
    fracs = [Fraction(str(w)) if not isinstance(w, Fraction) else w for w in weights]
    s = sum(fracs)
    for amount, w in zip(out, fracs, strict=True):
        quota = total * w / s
        assert amount >= 0
        assert quota.__floor__() <= amount <= quota.__ceil__()
        if w == 0:
            assert amount == 0


@PROFILE
@given(total=st.integers(0, 10**12), weights=weight_lists(min_size=2, max_size=12), data=st.data())
def test_order_of_children_does_not_matter(
    total: int, weights: list[object], data: st.DataObject
) -> None:
    keys = keys_for(len(weights))
    out = dict(zip(keys, apportion(total, weights, keys), strict=True))  # type: ignore[arg-type]
    perm = data.draw(st.permutations(range(len(weights))))
    shuffled = apportion(total, [weights[i] for i in perm], [keys[i] for i in perm])  # type: ignore[arg-type]
    assert dict(zip([keys[i] for i in perm], shuffled, strict=True)) == out


@PROFILE
@given(total=st.integers(0, 10**12), weights=weight_lists(min_size=2, max_size=12))
def test_monotone_in_weight(total: int, weights: list[object]) -> None:
    fracs = [Fraction(str(w)) if not isinstance(w, Fraction) else w for w in weights]
    out = apportion(total, weights)  # type: ignore[arg-type]
    for i in range(len(fracs)):
        for j in range(len(fracs)):
            if fracs[i] > fracs[j]:
                assert out[i] >= out[j]
            if fracs[i] == fracs[j]:
                assert abs(out[i] - out[j]) <= 1


@PROFILE
@given(total=st.integers(0, 10**12), weights=weight_lists(max_size=12))
def test_idempotent_and_deterministic(total: int, weights: list[object]) -> None:
    first = apportion(total, weights)  # type: ignore[arg-type]
    assert apportion(total, weights) == first  # type: ignore[arg-type]
    if total:
        # an apportionment re-apportioned by itself is itself
        assert apportion(total, first) == first


# ---------------------------------------------------------------------------
# the vectorised paths equal the exact one


@PROFILE
@given(
    total=st.one_of(st.integers(0, 10**6), st.integers(0, 10**13), big_amounts),
    weights=st.lists(
        st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=40,
    ),
)
@example(total=5, weights=[0.1, 0.2, 0.3, 0.4])
@example(total=BIG, weights=[1.0, 1.0, 1.0])
@example(total=10**13, weights=[1e-300, 1.0, 5e-324])
def test_float_path_equals_exact(total: int, weights: list[float]) -> None:
    assume(any(weights))
    keys = keys_for(len(weights))
    expected = apportion_exact(total, weights, keys)
    assert apportion(total, weights, keys) == expected
    assert apportion(total, np.array(weights), keys) == expected
    if total <= BIG:
        assert apportion_array(total, np.array(weights), keys).tolist() == expected
    direct = _lr_float(total, np.array(weights), keys, min(weights)) if total <= BIG else None
    if direct is not None:  # when the certified path accepts, it must be right
        assert direct.tolist() == expected


@PROFILE
@given(
    total=st.one_of(st.integers(0, 10**9), big_amounts),
    weights=st.lists(st.integers(0, 10**12), min_size=1, max_size=40),
)
def test_int64_path_equals_exact(total: int, weights: list[int]) -> None:
    assume(any(weights))
    keys = keys_for(len(weights))
    expected = _lr_exact(total, weights, keys)
    assert apportion(total, weights, keys) == expected
    direct = _lr_int64(total, np.array(weights, dtype=np.int64), keys)
    if direct is not None:
        assert direct.tolist() == expected


def test_adversarial_near_ties_fall_back_to_exact() -> None:
    """Weights one ulp apart, repeated weights and integral quotas: all paths agree."""
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(2, 30)
        base = rng.choice([0.1, 1 / 3, 7.0, 123.456, 1e-3])
        weights = [base] * n
        for i in rng.sample(range(n), rng.randint(0, n)):
            weights[i] = float(np.nextafter(base, np.inf if rng.random() < 0.5 else 0))
        total = rng.choice([n, 10 * n + 1, 10**12 + 3, BIG, rng.randint(0, 10**9)])
        keys = [f"k{rng.randint(0, 10**6):07d}-{i}" for i in range(n)]
        assert apportion(total, weights, keys) == apportion_exact(total, weights, keys)


def test_vectorised_path_on_a_million_children_matches_exact_sample() -> None:
    """The certified float path on 1,000,000 random weights: exact sum, quota rule, and
    identical to the exact path on the same input (checked once, it is slow)."""
    rng = np.random.default_rng(2026)
    weights = rng.random(1_000_000)
    total = 12_000_000_000
    fast = apportion_array(total, weights)
    assert int(fast.sum()) == total
    assert _lr_float(total, weights, None, float(weights.min())) is not None  # certified
    quotas = weights * (total / weights.sum())
    assert (np.abs(fast - quotas) < 1.0 + 1e-6).all()
    sample = slice(0, 2000)
    small = apportion(10**7, weights[sample])
    assert small == apportion_exact(10**7, weights[sample].tolist())


@PROFILE
@given(
    st.lists(st.fractions(min_value=0, max_value=100, max_denominator=50), min_size=1, max_size=10)
)
def test_integerize_keeps_ratios(values: list[Fraction]) -> None:
    ints = integerize(values)
    assert all(isinstance(v, int) for v in ints)
    for a, b, x, y in zip(values, ints, values[1:], ints[1:], strict=False):
        assert a * y == x * b


# ---------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("weights", "code", "named"),
    [
        ([1, -1], AllocationErrorCode.INVALID_WEIGHTS, ["m001"]),
        ([1.0, float("nan")], AllocationErrorCode.INVALID_WEIGHTS, ["m001"]),
        ([float("inf"), 1.0], AllocationErrorCode.INVALID_WEIGHTS, ["m000"]),
        ([True, 1], AllocationErrorCode.INVALID_WEIGHTS, ["m000"]),
        (["abc", 1, "-2"], AllocationErrorCode.INVALID_WEIGHTS, ["m000", "m002"]),
        ([0, 0.0], AllocationErrorCode.ZERO_WEIGHTS, ["m000", "m001"]),
        ([], AllocationErrorCode.ZERO_WEIGHTS, []),
    ],
)
def test_invalid_weights_are_typed_errors_naming_children(
    weights: list[object], code: str, named: list[str]
) -> None:
    keys = keys_for(len(weights))
    with pytest.raises(AllocationInputError) as info:
        apportion(10, weights, keys)  # type: ignore[arg-type]
    assert info.value.code == code
    assert info.value.details["children"] == named


def test_zero_total_with_zero_weights_is_fine_and_negative_total_is_not() -> None:
    assert apportion(0, [0, 0]) == [0, 0]
    with pytest.raises(AllocationInputError) as info:
        apportion(-1, [1])
    assert info.value.code == AllocationErrorCode.AMOUNT_OUT_OF_RANGE


@PROFILE
@given(total=st.integers(1, 10**9), weights=st.lists(any_weight, min_size=1, max_size=8))
def test_numpy_and_list_inputs_agree(total: int, weights: list[object]) -> None:
    assume(any(Fraction(str(w)) if not isinstance(w, Fraction) else w for w in weights))
    keys = keys_for(len(weights))
    expected = apportion_exact(total, weights, keys)  # type: ignore[arg-type]
    assert apportion(total, weights, keys) == expected  # type: ignore[arg-type]


def test_tie_break_by_key_then_position_even_with_repeated_keys() -> None:
    assert apportion(2, [1, 1, 1]) == [1, 1, 0]  # no keys: earlier positions first
    assert apportion(2, [1, 1, 1], ["b", "a", "a"]) == [0, 1, 1]
    assert apportion(1, [1, 1, 1], ["b", "a", "a"]) == [0, 1, 0]
    assert apportion(2, [1.0, 1.0, 1.0], ["b", "a", "c"]) == [1, 1, 0]
    # a large tie set (1000 equal weights, 7 units left over) goes to the 7 smallest keys
    keys = [f"k{(i * 7919) % 1000:04d}" for i in range(1000)]
    out = apportion(1007, [1] * 1000, keys)
    assert sorted(k for k, a in zip(keys, out, strict=True) if a == 2) == sorted(keys)[:7]


def test_domain_imports_no_web_or_database_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, service.domain.allocation, service.domain.errors; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'strawberry', 'fastapi', 'asyncpg', 'alembic', 'starlette'}]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
