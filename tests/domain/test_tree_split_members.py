"""Split checks return time members in calendar order, whatever the request order.

Issue: "SEASONAL with a lag moves the share of the first members in the order
the request lists them: members sent Q4, Q3, Q2, Q1 put the lag on Q4. Time
splits follow time order whatever the request order."
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.allocation import (
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
    ProfileSource,
    SeasonalOptions,
    allocate,
)
from service.domain.tree import InvalidInputError, MemberFacts, NodeFacts, check_split_members
from tests.domain.strategies import PROFILE

TIME = 7
YEAR = MemberFacts(1, TIME, "FY2027", None, 0, False, (), date(2027, 1, 1))
QUARTERS = [
    MemberFacts(10 + q, TIME, f"Q{q}", 1, 1, False, (1,), date(2027, 3 * q - 2, 1))
    for q in range(1, 5)
]
MONTHS = [
    MemberFacts(100 + m, TIME, f"M{m:02d}", 10 + (m - 1) // 3, 2, False, (1, 10 + (m - 1) // 3),
                date(2027, m, 1))
    for m in range(1, 13)
]  # fmt: skip
ROOT = NodeFacts(key=1, target=1000, split_dimension_id=None, coordinates={})


def split(members: list[MemberFacts], requested: list[int]) -> list[str]:
    out = check_split_members(ROOT, TIME, "calendar", members, requested, implicit_member=YEAR)
    return [m.code for m in out]


def test_quarters_sent_backwards_come_back_in_calendar_order() -> None:
    backwards = [q.id for q in reversed(QUARTERS)]
    assert split(QUARTERS, backwards) == ["Q1", "Q2", "Q3", "Q4"]


@PROFILE
@given(st.permutations(MONTHS))
def test_time_order_does_not_depend_on_the_request_order(months: list[MemberFacts]) -> None:
    assert split(MONTHS, [m.id for m in months]) == [f"M{m:02d}" for m in range(1, 13)]


@PROFILE
@given(st.permutations(["EAST", "WEST", "NORTH", "SOUTH"]))
def test_other_members_keep_the_requested_order(codes: list[str]) -> None:
    members = [MemberFacts(i, 3, c, None, 0, False) for i, c in enumerate(codes, 1)]
    node = NodeFacts(key=1, target=1, split_dimension_id=None, coordinates={})
    out = check_split_members(node, 3, "Regions", members, [m.id for m in members])
    assert [m.code for m in out] == codes


def test_errors_still_name_the_requested_position() -> None:
    retired = [*QUARTERS[:3], MemberFacts(14, TIME, "Q4", 1, 1, True, (1,), date(2027, 10, 1))]
    with pytest.raises(InvalidInputError) as info:
        split(retired, [14, 13, 12, 11])
    assert info.value.field == "memberIds.0"


def test_a_lag_lands_on_the_first_quarter_whatever_the_request_order() -> None:
    """What the use case does: build the children in the order the check returns,
    inputs matched by member id, so the lag holds back Q1 (not Q4)."""
    profile = {"Q1": 1, "Q2": 2, "Q3": 3, "Q4": 4}
    ordered = split(QUARTERS, [q.id for q in reversed(QUARTERS)])
    request = AllocationRequest(
        1000,
        tuple(ChildInput(code, weight=profile[code]) for code in ordered),
        AllocationSpec(
            AllocationMethod.SEASONAL,
            seasonal=SeasonalOptions(source=ProfileSource.GIVEN, lag=1),
        ),
    )
    result = allocate(request).as_mapping()
    assert result["Q1"] == 0
    assert result == {"Q1": 0, "Q2": 222, "Q3": 333, "Q4": 445}
