"""Refetching any object by its global id: ``node(id:)`` and ``nodes(ids:)``."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from service.api import ids
from service.api.audit import AuditEntry
from service.api.context import Context
from service.api.dimensions import Dimension, Member
from service.api.imports import FactBatch
from service.api.nodes import TargetNode
from service.api.owners import Owner
from service.api.plans import Plan
from service.api.reviews import Review
from service.api.versions import PlanVersion
from service.domain.tree import InvalidInputError

NODE_TYPES: dict[str, type[Any]] = {
    "Plan": Plan,
    "PlanVersion": PlanVersion,
    "TargetNode": TargetNode,
    "Dimension": Dimension,
    "Member": Member,
    "Owner": Owner,
    "AuditEntry": AuditEntry,
    "Review": Review,
    "FactBatch": FactBatch,
}
"""Every type that implements Node (a test checks the schema has no other)."""
MAX_REFETCH = 100
"""Most ids one ``nodes`` query takes."""


async def _resolve(info: Info[Context, None], values: list[str], field: str) -> list[Any]:
    wanted: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for index, value in enumerate(values):
        parsed = ids.parse(value)
        if parsed is None:
            where = f"{field}.{index}" if field == "ids" else field
            raise InvalidInputError(
                "INVALID_ID",
                f"{where} is not a valid id (ids come from the API and are opaque)",
                where,
            )
        type_name, numbers = parsed
        if type_name in NODE_TYPES:
            wanted[type_name].append((index, ":".join(str(n) for n in numbers)))
    found: list[Any] = [None] * len(values)
    for type_name, items in wanted.items():
        resolved = await NODE_TYPES[type_name].resolve_nodes(
            info=info, node_ids=[local for _, local in items]
        )
        for (index, _), obj in zip(items, resolved, strict=True):
            found[index] = obj
    return found


@strawberry.type
class RefetchQueries:
    @strawberry.field(description="Any object by its global id; null when there is none.")
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> relay.Node | None:
        (found,) = await _resolve(info, [id], "id")
        return found  # type: ignore[no-any-return]

    @strawberry.field(
        description=f"Objects by their global ids, in the same order (null where there is "
        f"none); at most {MAX_REFETCH} ids."
    )
    async def nodes(
        self,
        info: Info[Context, None],
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description=f"Global ids, at most {MAX_REFETCH}."),
        ],
    ) -> list[relay.Node | None]:
        if len(ids) > MAX_REFETCH:
            raise InvalidInputError(
                "TOO_MANY", f"`ids` takes at most {MAX_REFETCH} ids, got {len(ids)}", "ids"
            )
        return await _resolve(info, list(ids), "ids")
