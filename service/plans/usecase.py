"""Write use cases and the one way they run.

A write use case is an ``async def`` of a unit of work and a command, declared
with the unit of work it needs::

    @draft_edit(AuditAction.NODE_LOCK, node_edit=True)
    async def lock(edit: DraftEdit, command: NodeLock) -> NodeEdit: ...

and called as ``await lock(db, change, command)``. ``execute`` does, in this
order and for every use case alike: authorize the caller for the action, clean
the reason, open the transaction and the declared unit of work (for version and
draft edits: lock the version, check its state and the client's revision), run
the use case, write the audit entries and the idempotency record, bump the
revision when something changed, commit. A ``DomainError`` anywhere rolls all of
it back and reaches the caller, who turns it into user errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

from service.db.engine import Database
from service.domain.audit import AuditAction
from service.domain.values import clean_reason
from service.plans.access import require_planner
from service.plans.uow import Change, DraftEdit, UnitOfWork, VersionEdit

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)
R = TypeVar("R")
U = TypeVar("U", bound=UnitOfWork)


class VersionCommand(Protocol):
    """What a version or draft edit's command says about the version it changes."""

    @property
    def version_id(self) -> int: ...

    @property
    def revision(self) -> int: ...


class Opens(Enum):
    TRANSACTION = UnitOfWork
    VERSION = VersionEdit
    DRAFT = DraftEdit


@dataclass(frozen=True, slots=True)
class UseCase(Generic[C, R]):
    action: AuditAction
    opens: Opens
    node_edit: bool
    """Open to a planner whose token is scoped to owners (inside their subtrees)."""
    run: Callable[[Any, C], Awaitable[R]]
    subject: tuple[str, str] = ("node", "nodeId")
    """For version and draft edits: what the command's version came from, and the
    input field naming it (for NOT_FOUND)."""

    async def __call__(self, db: Database, change: Change, command: C) -> R:
        return await execute(db, change, self, command)


async def execute(db: Database, change: Change, use_case: UseCase[C, R], command: C) -> R:
    """Run ``use_case`` in its unit of work; see the module docstring."""
    require_planner(change.principal, use_case.action.value, node_edit=use_case.node_edit)
    change = replace(change, reason=clean_reason(change.reason))
    async with db.session() as session, session.begin():
        uow = use_case.opens.value(session, change, use_case.action)
        if isinstance(uow, VersionEdit):
            versioned: VersionCommand = command  # type: ignore[assignment]
            await uow.open(versioned.version_id, versioned.revision, *use_case.subject)
        result = await use_case.run(uow, command)
        await uow.finish()
        return result


def _declare(
    action: AuditAction, opens: Opens, node_edit: bool, subject: tuple[str, str]
) -> Callable[[Callable[[Any, C], Awaitable[R]]], UseCase[C, R]]:
    def wrap(run: Callable[[Any, C], Awaitable[R]]) -> UseCase[C, R]:
        return UseCase(action=action, opens=opens, node_edit=node_edit, run=run, subject=subject)

    return wrap


def write(
    action: AuditAction,
) -> Callable[[Callable[[UnitOfWork, C], Awaitable[R]]], UseCase[C, R]]:
    """A change in one transaction (creating plans, dimensions, members, owners ...)."""
    return _declare(action, Opens.TRANSACTION, False, ("", ""))


def version_edit(
    action: AuditAction, subject: tuple[str, str] = ("version", "id")
) -> Callable[[Callable[[VersionEdit, C], Awaitable[R]]], UseCase[C, R]]:
    """A change of one version's state (its lifecycle)."""
    return _declare(action, Opens.VERSION, False, subject)


def draft_edit(
    action: AuditAction, *, node_edit: bool = True, subject: tuple[str, str] = ("node", "nodeId")
) -> Callable[[Callable[[DraftEdit, C], Awaitable[R]]], UseCase[C, R]]:
    """A change of a draft's tree."""
    return _declare(action, Opens.DRAFT, node_edit, subject)
