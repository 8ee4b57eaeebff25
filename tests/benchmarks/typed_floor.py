"""The floor of a typed GraphQL answer: strawberry alone, no HTTP, no database.

A schema of the same shape as the service's for the benchmark's small query
(a ``Node`` interface, ``TargetNode`` with its children and the slice
coordinates with their dimension and member) whose fields are plain
attributes, the cheapest kind strawberry has, over objects built beforehand,
executed with the parser and validation caches. What any strawberry server
pays for that document's typed answer before it does anything else: its
inverse bounds the requests per second one process can serve on one core.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time

import strawberry
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.type(name="Dimension")
class FloorDimension:
    name: str


@strawberry.type(name="Member")
class FloorMember:
    code: str
    name: str


@strawberry.type(name="SliceCoordinate")
class FloorCoordinate:
    dimension: FloorDimension
    member: FloorMember


@strawberry.interface(name="Node")
class FloorNodeInterface:
    id: strawberry.ID


@strawberry.type(name="TargetNode")
class FloorNode(FloorNodeInterface):
    target: str
    share: float | None
    slice: list[FloorCoordinate]
    children: list[FloorNode]


def _tree(children: int, coordinates: int) -> FloorNode:
    def node(i: int, kids: list[FloorNode]) -> FloorNode:
        path = [
            FloorCoordinate(
                dimension=FloorDimension(name=f"Dimension {j}"),
                member=FloorMember(code=f"M{i}.{j}", name=f"Member {i}.{j}"),
            )
            for j in range(coordinates)
        ]
        return FloorNode(
            id=strawberry.ID(f"node-{i}"), target="1234.56", share=0.05, slice=path, children=kids
        )

    return node(0, [node(i + 1, []) for i in range(children)])


def _schema(root: FloorNode) -> strawberry.Schema:
    @strawberry.type(name="Query")
    class FloorQuery:
        @strawberry.field
        def node(self, id: strawberry.ID) -> FloorNodeInterface | None:
            return root

    return strawberry.Schema(
        FloorQuery,
        types=[FloorNode],
        extensions=[lambda: ParserCache(maxsize=16), lambda: ValidationCache(maxsize=16)],
    )


def answer(query: str, children: int, coordinates: int) -> dict[str, object]:
    """The data of one execution of ``query`` (to check the floor does the same work)."""
    schema = _schema(_tree(children, coordinates))
    result = asyncio.run(schema.execute(query, variable_values={"id": "x"}))
    if result.errors or result.data is None:
        raise RuntimeError(f"typed floor: {result.errors}")
    return result.data


def seconds_per_query(
    query: str, children: int, coordinates: int, repeats: int = 5, per_batch: int = 50
) -> float:
    """Best of ``repeats`` batches: seconds per execution of ``query`` (variable ``id``)."""
    schema = _schema(_tree(children, coordinates))

    async def batch(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            result = await schema.execute(query, variable_values={"id": "x"})
            if result.errors:
                raise RuntimeError(f"typed floor: {result.errors}")
        return (time.perf_counter() - start) / n

    async def measure() -> float:
        await batch(10)
        best = math.inf
        for _ in range(repeats):
            gc.collect()
            best = min(best, await batch(per_batch))
        return best

    return asyncio.run(measure())
