"""Reading the audit trail: a version's, a node's or an owner's changes, oldest first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuditScope:
    """Whose trail: a version's, one node's within its version, or an owner's."""

    version_id: int | None = None
    node_key: int | None = None
    owner_id: int | None = None
