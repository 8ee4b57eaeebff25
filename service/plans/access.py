"""Who may do what. Reads are open to every authenticated role."""

from __future__ import annotations

from service.auth import Principal
from service.domain.errors import DomainError


class ForbiddenError(DomainError):
    """The caller's role does not allow this change."""


def require_planner(principal: Principal, action: str) -> None:
    if not principal.can_write:
        raise ForbiddenError(
            code="FORBIDDEN",
            message=f"{action} needs the planner or admin role; "
            f"this token has {', '.join(sorted(r.value for r in principal.roles))}",
            details={"subject": principal.subject},
        )
