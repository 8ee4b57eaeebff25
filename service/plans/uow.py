"""Units of work: the one transaction of a change, with its audit entries and the
idempotency record of the request that asked for it.

A use case never opens a transaction itself: ``service.plans.usecase.execute``
opens the unit of work its use case declares and hands it in.

- ``UnitOfWork``: one transaction; ``record(...)`` adds audit entries; at the
  end the entries are written and, when the request carried an
  ``Idempotency-Key``, that key is marked applied, in the same commit. So a
  change, its audit trail and the fact that it was applied never disagree.
- ``VersionEdit``: also locks one version row and checks the revision the client
  last read (a stale one is a ``CONFLICT``); the revision moves only when the
  edit recorded a change, so an edit that changes nothing bumps nothing.
- ``DraftEdit``: a ``VersionEdit`` of a draft, with the nodes it touches checked
  against a scoped planner's subtrees.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from service.auth import Principal
from service.db import idempotency
from service.db import repositories as repo
from service.db.engine import Session
from service.db.models import PlanVersion, TargetNode
from service.domain import tree
from service.domain.audit import AuditAction
from service.domain.tree import InvalidInputError, VersionState
from service.plans.access import require_scope


@dataclass(frozen=True, slots=True)
class Change:
    """Who asks for a change, why, and under which request: what every use case is
    given besides its command."""

    principal: Principal
    reason: str | None = None
    """The caller's reason, cleaned (``service.domain.tree.clean_reason``)."""
    request_id: str | None = None
    idempotency: tuple[str, str] | None = None
    """(subject, key) of the request's ``Idempotency-Key``, when it has one."""
    idempotency_attempt: uuid.UUID | None = None
    """The attempt holding that key: only it may mark the key applied."""


@dataclass
class UnitOfWork:
    session: Session
    change: Change
    action: AuditAction
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def principal(self) -> Principal:
        return self.change.principal

    def record(
        self,
        *,
        plan_id: int | None = None,
        version_id: int | None = None,
        node_key: int | None = None,
        owner_id: int | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """Add an audit entry: who (the caller), what, before and after, and why."""
        self.entries.append(
            {
                "actor": self.principal.subject,
                "action": self.action.value,
                "plan_id": plan_id,
                "version_id": version_id,
                "node_key": node_key,
                "owner_id": owner_id,
                "before": before,
                "after": after,
                "reason": reason if reason is not None else self.change.reason,
                "request_id": self.change.request_id,
            }
        )

    @property
    def changed(self) -> bool:
        """Whether this unit recorded any change."""
        return bool(self.entries)

    async def finish(self) -> None:
        await repo.add_audit_entries(self.session, self.entries)
        if self.change.idempotency is not None:
            subject, key = self.change.idempotency
            await idempotency.mark_applied(
                self.session, subject=subject, key=key, attempt=self.change.idempotency_attempt
            )


@dataclass
class VersionEdit(UnitOfWork):
    """A change of one version: its row is locked and the client's revision checked."""

    version: PlanVersion = field(init=False)

    async def open(self, version_id: int, revision: int, what: str, field_name: str) -> None:
        """Lock the version; ``what`` and ``field_name`` name the input that led to it
        ("nodeId is not a known node")."""
        version = await repo.version_for_update(self.session, version_id)
        if version is None:
            raise InvalidInputError("NOT_FOUND", f"{field_name} is not a known {what}", field_name)
        self.version = version
        self.check(revision)

    def check(self, revision: int) -> None:
        if self.version.revision != revision:
            raise InvalidInputError(
                "CONFLICT",
                f"the version changed since you read it (you sent revision {revision}, it is "
                f"now {self.version.revision}); reload and apply your change again",
                "revision",
                current_revision=self.version.revision,
            )

    async def finish(self) -> None:
        if self.changed:
            await repo.bump_revision(self.session, self.version)
        await super().finish()
        await self.session.refresh(self.version)


@dataclass
class DraftEdit(VersionEdit):
    """An edit of a draft's tree."""

    async def open(self, version_id: int, revision: int, what: str, field_name: str) -> None:
        await super().open(version_id, revision, what, field_name)
        tree.check_draft(
            VersionState(self.version.state), f"version {self.version.number}", field_name
        )

    async def node(self, key: int, field_name: str = "nodeId") -> TargetNode:
        """A node of this draft that the caller may change."""
        node = await repo.node(self.session, self.version.id, key)
        if node is None:
            raise InvalidInputError("NOT_FOUND", f"{field_name} is not a known node", field_name)
        await self.check_scope([node])
        return node

    async def check_scope(self, nodes: Sequence[TargetNode]) -> None:
        await require_scope(self.session, self.principal, nodes)
