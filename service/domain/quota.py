"""What an owner holds: totals without double counting, by period and by coordinate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.domain.paths import is_within


@dataclass(frozen=True, slots=True)
class HeldNode:
    key: int
    sort_path: str
    """The node's place in tree order (``service.domain.paths``): a prefix of its
    descendants' sort paths, and sorting by it lists the tree in order."""
    target: int
    coordinates: tuple[tuple[int, int], ...]
    """(dimension id, member id) pairs root to node."""


@dataclass(frozen=True, slots=True)
class Quota:
    total: int
    nodes: tuple[HeldNode, ...]
    """The topmost held nodes (a node below another held node is inside it)."""
    by_period: tuple[tuple[int | None, int], ...]
    """(time member id or None for "the whole year", amount), in tree order of the
    nodes that first hold each period."""
    by_coordinate: tuple[tuple[int, int, int], ...]
    """(dimension id, member id, amount) over the held nodes' slices."""


def quota(held: Sequence[HeldNode], time_dimension_id: int | None) -> Quota:
    """Sum an owner's nodes.

    Nodes inside another held node are not added again (the outer one already
    holds them). By period: each node counts under the deepest time member of
    its slice, or under ``None`` when the node is not split by time (the whole
    fiscal year). By coordinate: each node counts under the deepest member of
    every dimension in its slice.
    """
    ordered = sorted(held, key=lambda n: n.sort_path)
    top: list[HeldNode] = []
    for node in ordered:
        # In tree order a subtree is contiguous: a node inside a held one comes right
        # after it or after other nodes of the same subtree, so the last kept decides.
        if top and is_within(node.sort_path, top[-1].sort_path):
            continue
        top.append(node)
    periods: dict[int | None, int] = {}
    coordinates: dict[tuple[int, int], int] = {}
    for node in top:
        deepest: dict[int, int] = {}
        for dimension, member in node.coordinates:
            deepest[dimension] = member
        period = deepest.get(time_dimension_id) if time_dimension_id is not None else None
        periods[period] = periods.get(period, 0) + node.target
        for dimension, member in deepest.items():
            coordinates[(dimension, member)] = coordinates.get((dimension, member), 0) + node.target
    return Quota(
        total=sum(n.target for n in top),
        nodes=tuple(top),
        by_period=tuple(periods.items()),
        by_coordinate=tuple((d, m, a) for (d, m), a in coordinates.items()),
    )
