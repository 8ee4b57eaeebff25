"""Owners (people and teams), node ownership and what each owner holds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from service.auth import Principal
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import Owner, PlanVersion, TargetNode, TeamMember
from service.domain import tree
from service.domain.tree import InvalidInputError, VersionState
from service.plans.access import require_planner, require_scope
from service.plans.uow import transaction


async def create_person(
    db: Database, principal: Principal, *, name: str, subject: str | None, email: str | None
) -> Owner:
    """A person; ``subject`` is the ``sub`` claim of their tokens (for ``me``)."""
    require_planner(principal, "ownerCreate")
    clean = tree.clean_name(name, "name")
    sub = tree.clean_code(subject, "subject") if subject is not None else None
    mail = tree.clean_name(email, "email", 320) if email is not None else None
    if mail is not None and "@" not in mail:
        raise InvalidInputError("INVALID_VALUE", "email is not an e-mail address", "email")
    async with transaction(db, principal, "ownerCreate") as uow:
        session = uow.session
        if sub is not None and await repo.owner_by_subject(session, sub) is not None:
            raise InvalidInputError("DUPLICATE", f"an owner with subject {sub!r} exists", "subject")
        owner: Owner = await repo.add(
            session, Owner(kind="PERSON", name=clean, subject=sub, email=mail)
        )
        uow.record(owner_id=owner.id, after={"person": clean, "subject": sub})
        return owner


async def create_team(
    db: Database, principal: Principal, *, name: str, lead_id: int | None
) -> Owner:
    require_planner(principal, "teamCreate")
    clean = tree.clean_name(name, "name")
    async with transaction(db, principal, "teamCreate") as uow:
        session = uow.session
        if await repo.team_by_name(session, clean) is not None:
            raise InvalidInputError("DUPLICATE", f"a team named {clean!r} exists", "name")
        if lead_id is not None:
            (lead,) = await repo.owners_by_ids(session, [lead_id])
            if lead is None or lead.kind != "PERSON":
                raise InvalidInputError("NOT_FOUND", "leadId is not a known person", "leadId")
        team: Owner = await repo.add(session, Owner(kind="TEAM", name=clean, lead_id=lead_id))
        if lead_id is not None:
            await repo.add(session, TeamMember(team_id=team.id, person_id=lead_id))
        uow.record(owner_id=team.id, after={"team": clean, "lead": lead_id})
        return team


async def add_team_member(
    db: Database, principal: Principal, *, team_id: int, person_id: int
) -> Owner:
    """Add a person to a team (a person may be in several teams); adding twice is a no-op."""
    require_planner(principal, "teamAddMember")
    async with transaction(db, principal, "teamAddMember") as uow:
        session = uow.session
        team, person = await repo.owners_by_ids(session, [team_id, person_id])
        if team is None or team.kind != "TEAM":
            raise InvalidInputError("NOT_FOUND", "teamId is not a known team", "teamId")
        if person is None or person.kind != "PERSON":
            raise InvalidInputError("NOT_FOUND", "personId is not a known person", "personId")
        try:
            async with session.begin_nested():
                await repo.add(session, TeamMember(team_id=team_id, person_id=person_id))
            uow.record(owner_id=team_id, after={"member": person_id})
        except IntegrityError:
            pass  # already a member
        return team


@dataclass(frozen=True, slots=True)
class Assignment:
    node: TargetNode
    version: PlanVersion


async def assign_owner(
    db: Database,
    principal: Principal,
    *,
    version_id: int,
    key: int,
    revision: int,
    owner_id: int | None,
) -> Assignment:
    """Give a node of a draft one owner (or none)."""
    require_planner(principal, "nodeAssignOwner")
    async with transaction(db, principal, "nodeAssignOwner") as uow:
        session = uow.session
        version = await repo.version_for_update(session, version_id)
        node = await repo.node(session, version_id, key) if version else None
        if version is None or node is None:
            raise InvalidInputError("NOT_FOUND", "nodeId is not a known node", "nodeId")
        tree.check_draft(VersionState(version.state), f"version {version.number}")
        if version.revision != revision:
            raise InvalidInputError(
                "CONFLICT",
                f"the version changed since you read it (you sent revision {revision}, it is "
                f"now {version.revision}); reload and apply your change again",
                "revision",
            )
        await require_scope(session, principal, [node])
        if owner_id is not None:
            (owner,) = await repo.owners_by_ids(session, [owner_id])
            if owner is None:
                raise InvalidInputError("NOT_FOUND", "ownerId is not a known owner", "ownerId")
        before = node.owner_id
        await repo.update_nodes(
            session, [{"version_id": version_id, "key": key, "owner_id": owner_id}]
        )
        for affected in {before, owner_id} - {None}:
            uow.record(
                plan_id=node.plan_id,
                version_id=version_id,
                node_key=key,
                owner_id=affected,
                before={"owner": before},
                after={"owner": owner_id},
            )
        await repo.bump_revision(session, version)
        await session.refresh(version)
        await session.refresh(node)
        return Assignment(node=node, version=version)
