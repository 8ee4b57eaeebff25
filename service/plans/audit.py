"""Reading the audit trail: a version's, a node's or an owner's changes, oldest first."""

from __future__ import annotations

from dataclasses import dataclass

from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import AuditEntry
from service.domain.paging import Page, PageRequest


@dataclass(frozen=True, slots=True)
class AuditScope:
    """Whose trail: a version's, one node's within its version, or an owner's."""

    version_id: int | None = None
    node_key: int | None = None
    owner_id: int | None = None


async def audit_page(db: Database, scope: AuditScope, request: PageRequest) -> Page[AuditEntry]:
    async with db.read_session() as session:
        return await repo.audit_page(
            session,
            request,
            version_id=scope.version_id,
            node_key=scope.node_key,
            owner_id=scope.owner_id,
        )


async def audit_count(db: Database, scope: AuditScope) -> int:
    async with db.read_session() as session:
        return await repo.audit_count(
            session, version_id=scope.version_id, node_key=scope.node_key, owner_id=scope.owner_id
        )
