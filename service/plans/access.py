"""Who may do what. Reads are open to every authenticated role."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.db import repositories as repo
from service.db.models import TargetNode
from service.domain.errors import DomainError
from service.domain.paths import path_ids


class ForbiddenError(DomainError):
    """The caller's role does not allow this change."""


NODE_ACTIONS = frozenset(
    {
        "nodeSplit",
        "nodeSplitMatrix",
        "nodeUnsplit",
        "nodeSetTarget",
        "nodeLock",
        "nodeUnlock",
        "nodeUpdate",
        "nodeAssignOwner",
    }
)
"""What a scoped planner (a token acting for named owners) may do, inside their subtrees."""


def require_planner(principal: Principal, action: str) -> None:
    if (
        principal.acts_for is not None
        and not principal.has(Role.ADMIN)
        and action not in NODE_ACTIONS
    ):
        raise ForbiddenError(
            code="FORBIDDEN",
            message=f"{action} is not open to a token scoped to owners "
            f"({', '.join(principal.acts_for)}); it may edit nodes inside their subtrees only",
            details={"subject": principal.subject},
        )
    if not principal.can_write:
        raise ForbiddenError(
            code="FORBIDDEN",
            message=f"{action} needs the planner or admin role; "
            f"this token has {', '.join(sorted(r.value for r in principal.roles))}",
            details={"subject": principal.subject},
        )


async def require_scope(
    session: AsyncSession, principal: Principal, nodes: Sequence[TargetNode]
) -> None:
    """A scoped planner (token claim listing owners) may change only nodes inside the
    subtrees those owners, or the teams of those persons, hold. Admins and unscoped
    planners pass. Refusals are FORBIDDEN user errors naming the node."""
    if principal.has(Role.ADMIN) or principal.acts_for is None or not nodes:
        return
    allowed = await repo.scope_owner_ids(session, principal.acts_for)
    ancestry = {n.key: path_ids(n.path) for n in nodes}
    version_id = nodes[0].version_id
    wanted = sorted({k for keys in ancestry.values() for k in keys})
    owners = {
        n.key: n.owner_id
        for n in await repo.nodes_by_ids(session, [(version_id, k) for k in wanted])
        if n
    }
    for node in nodes:
        if not any(owners.get(k) in allowed for k in ancestry[node.key]):
            raise ForbiddenError(
                code="FORBIDDEN",
                message=f"node {node.key} is outside the subtrees held by "
                f"{', '.join(principal.acts_for) or 'no owner'} (this token's owners); "
                "ask its owner or an admin",
                details={"field": "nodeId", "node": node.key},
            )
