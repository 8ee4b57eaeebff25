"""Who may do what. Reads are open to every authenticated role."""

from __future__ import annotations

from collections.abc import Sequence

from service.auth import Principal, Role
from service.db import repositories as repo
from service.db.engine import Session
from service.db.models import TargetNode
from service.domain.errors import DomainError
from service.domain.paths import path_ids


class ForbiddenError(DomainError):
    """The caller's role does not allow this change."""


def require_planner(principal: Principal, action: str, *, node_edit: bool = False) -> None:
    """Changes need the planner or admin role. A planner whose token is scoped to owners
    may only edit nodes (``node_edit``), inside their subtrees (``require_scope``)."""
    if principal.acts_for is not None and not principal.has(Role.ADMIN) and not node_edit:
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
    session: Session, principal: Principal, nodes: Sequence[TargetNode]
) -> None:
    """A scoped planner (token claim listing owners) may change only nodes inside the
    subtrees those owners, or the teams of those persons, hold. Admins and unscoped
    planners pass. Refusals are FORBIDDEN user errors naming the node."""
    if principal.has(Role.ADMIN) or principal.acts_for is None or not nodes:
        return
    allowed = await repo.scope_owner_ids(session, principal.acts_for)
    paths = {n.key: path_ids(n.path) for n in nodes}
    version_id = nodes[0].version_id
    wanted = sorted({k for keys in paths.values() for k in keys})
    owners = {
        n.key: n.owner_id
        for n in await repo.nodes_by_ids(session, [(version_id, k) for k in wanted])
        if n
    }
    for node in nodes:
        if not any(owners.get(k) in allowed for k in paths[node.key]):
            label = await repo.node_label(session, node)
            raise ForbiddenError(
                code="FORBIDDEN",
                message=f"{label} is outside the subtrees held by "
                f"{', '.join(principal.acts_for) or 'no owner'} (this token's owners); "
                "ask its owner or an admin",
                details={"field": "nodeId", "node": node.key},
            )
