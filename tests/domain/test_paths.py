"""Sort paths: string order is tree order, siblings in their defined order; one range per subtree."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain import paths
from service.domain.quota import HeldNode, quota
from service.domain.tree import InvalidInputError
from tests.domain.strategies import PROFILE

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@PROFILE
@given(int64, int64)
def test_int_key_order_is_numeric_order(a: int, b: int) -> None:
    ka, kb = paths.int_key(a), paths.int_key(b)
    assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)
    if a != b:  # self-delimiting: no key is a prefix of another
        assert not kb.startswith(ka)


def test_int_key_examples() -> None:
    assert [paths.int_key(n) for n in (9, 10, 99, 100)] == ["k9", "l10", "l99", "m100"]
    assert [paths.int_key(n) for n in (-1, -9, -10)] == ["j8", "j0", "i89"]
    assert sorted([10, 9, -10, 0, -1, 100], key=paths.int_key) == [-10, -1, 0, 9, 10, 100]
    with pytest.raises(ValueError):
        paths.int_key(2**63)


def test_id_paths() -> None:
    assert paths.path_ids("12.40.41.") == [12, 40, 41]
    assert paths.child_path(None, 12) == "12."
    assert paths.child_path("12.", 9) == "12.9."
    for bad in ("", "12.40", "12..", "a."):
        with pytest.raises(ValueError):
            paths.path_ids(bad)


@dataclass
class Row:
    parent: int | None
    sort_order: int
    tie: int | str
    sort_path: str = ""


codes = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn")),
    min_size=1,
    max_size=6,
)


@st.composite
def trees(draw: st.DrawFn, members: bool) -> list[Row]:
    """A random tree: row 0 is a root, every other row's parent comes before it."""
    size = draw(st.integers(min_value=1, max_value=40))
    ties = draw(
        st.lists(
            codes if members else st.integers(min_value=1, max_value=10**12),
            min_size=size,
            max_size=size,
            unique=True,
        )
    )
    rows = []
    for i in range(size):
        parent = None if i == 0 else draw(st.none() | st.integers(min_value=0, max_value=i - 1))
        order = draw(st.integers(min_value=-3, max_value=12) | st.integers(-(2**31), 2**31 - 1))
        rows.append(Row(parent, order, ties[i]))
    for row in rows:
        above = rows[row.parent].sort_path if row.parent is not None else None
        if members:
            row.sort_path = paths.member_sort_path(above, row.sort_order, str(row.tie))
        else:
            row.sort_path = paths.node_sort_path(above, row.sort_order, int(row.tie))
    return rows


def preorder(rows: list[Row]) -> list[int]:
    """Parents first, siblings by (sort order, key or code): the tree order by hand."""
    out: list[int] = []

    def visit(parent: int | None) -> None:
        children = [i for i, r in enumerate(rows) if r.parent == parent]
        # codes compare by code point, which is their UTF-8 byte order (COLLATE "C")
        for i in sorted(children, key=lambda i: (rows[i].sort_order, rows[i].tie)):
            out.append(i)
            visit(i)

    visit(None)
    return out


def below(rows: list[Row], top: int) -> set[int]:
    found = {top}
    changed = True
    while changed:
        more = {i for i, r in enumerate(rows) if r.parent in found} - found
        changed = bool(more)
        found |= more
    return found


@PROFILE
@given(st.booleans().flatmap(trees))
def test_sort_paths_sort_in_tree_order_and_subtrees_are_ranges(rows: list[Row]) -> None:
    by_sort_path = sorted(range(len(rows)), key=lambda i: rows[i].sort_path)
    assert by_sort_path == preorder(rows)
    for i, row in enumerate(rows):
        low, high = row.sort_path, paths.subtree_end(row.sort_path)
        in_range = {j for j, r in enumerate(rows) if low <= r.sort_path < high}
        assert in_range == below(rows, i)
        assert {j for j, r in enumerate(rows) if paths.is_within(r.sort_path, low)} == in_range


def test_member_sort_paths_are_refused_past_the_limit() -> None:
    deep = paths.member_sort_path(None, 0, "x" * (paths.MAX_SORT_PATH_BYTES - 3))
    assert len(deep.encode()) == paths.MAX_SORT_PATH_BYTES
    with pytest.raises(InvalidInputError) as caught:
        paths.member_sort_path(deep, 0, "y")
    assert caught.value.code == "TOO_LONG"
    assert caught.value.details["field"] == "code"
    with pytest.raises(InvalidInputError):
        paths.member_segment(0, "a\x01b")


def test_quota_periods_come_in_tree_order() -> None:
    """Month nodes whose keys cross a power of ten (9, 10): periods stay in split order,
    and a node inside a held one is not counted twice."""
    root = paths.node_sort_path(None, 0, 1)
    q1 = paths.node_sort_path(root, 0, 8)
    months = [paths.node_sort_path(q1, i, key) for i, key in enumerate((9, 10, 11))]
    held = [
        HeldNode(key=11, sort_path=months[2], target=30, coordinates=((5, 103),)),
        HeldNode(key=10, sort_path=months[1], target=20, coordinates=((5, 102),)),
        HeldNode(key=9, sort_path=months[0], target=10, coordinates=((5, 101),)),
    ]
    result = quota(held, time_dimension_id=5)
    assert result.by_period == ((101, 10), (102, 20), (103, 30))
    assert [n.key for n in result.nodes] == [9, 10, 11]
    outer = HeldNode(key=8, sort_path=q1, target=60, coordinates=((5, 100),))
    result = quota([*held, outer], time_dimension_id=5)
    assert (result.total, result.by_period) == (60, ((100, 60),))
