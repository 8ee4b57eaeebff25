"""A small integer max-flow (Dinic) for controlled rounding.

Pure Python; graphs here are bipartite (source -> rows -> columns -> sink) with
a few thousand arcs. Deterministic: arcs are explored in insertion order.
"""

from __future__ import annotations

from collections import deque


class MaxFlow:
    """Directed graph with integer capacities; ``max_flow`` augments in place."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        self.head: list[list[int]] = [[] for _ in range(nodes)]
        self.to: list[int] = []
        self.cap: list[int] = []

    def add_edge(self, u: int, v: int, capacity: int) -> int:
        """Add ``u -> v`` with ``capacity``; returns the arc id (its reverse is ``id ^ 1``)."""
        arc = len(self.to)
        self.to.extend((v, u))
        self.cap.extend((capacity, 0))
        self.head[u].append(arc)
        self.head[v].append(arc + 1)
        return arc

    def push(self, arc: int, amount: int) -> None:
        """Send ``amount`` along ``arc`` (used to seed the flow with a greedy start)."""
        self.cap[arc] -= amount
        self.cap[arc ^ 1] += amount

    def flow(self, arc: int) -> int:
        """Flow on an arc created by :meth:`add_edge` (its reverse residual)."""
        return self.cap[arc ^ 1]

    def max_flow(self, source: int, sink: int) -> int:
        """Augment to a maximum flow; returns the flow added by this call."""
        total = 0
        while True:
            level = self._levels(source, sink)
            if level[sink] < 0:
                return total
            pointer = [0] * self.nodes
            while True:
                pushed = self._augment(source, sink, level, pointer)
                if not pushed:
                    break
                total += pushed

    def _levels(self, source: int, sink: int) -> list[int]:
        level = [-1] * self.nodes
        level[source] = 0
        queue = deque([source])
        to, cap, head = self.to, self.cap, self.head
        while queue:
            u = queue.popleft()
            for arc in head[u]:
                v = to[arc]
                if cap[arc] > 0 and level[v] < 0:
                    level[v] = level[u] + 1
                    queue.append(v)
        return level

    def _augment(self, source: int, sink: int, level: list[int], pointer: list[int]) -> int:
        """One augmenting path in the level graph (iterative DFS); 0 when blocked."""
        to, cap, head = self.to, self.cap, self.head
        path: list[int] = []
        u = source
        while True:
            if u == sink:
                amount = min(cap[a] for a in path)
                for a in path:
                    cap[a] -= amount
                    cap[a ^ 1] += amount
                return amount
            arcs = head[u]
            advanced = False
            while pointer[u] < len(arcs):
                arc = arcs[pointer[u]]
                v = to[arc]
                if cap[arc] > 0 and level[v] == level[u] + 1:
                    path.append(arc)
                    u = v
                    advanced = True
                    break
                pointer[u] += 1
            if advanced:
                continue
            if u == source:
                return 0
            level[u] = -1  # dead end: never enter it again in this phase
            arc = path.pop()
            u = to[arc ^ 1]
            pointer[u] += 1
