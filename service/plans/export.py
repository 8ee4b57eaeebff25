"""A version as a table (for ``quotatree export plan``), and edited leaf targets back
into a new draft (``quotatree import plan``) through the node-edit use cases.

The table has one row per node in tree order: its key, depth, the path of
dimensions that led to it (its *level path*, e.g. ``Regions > Regions > Channels``),
its member per dimension, its target, owner, and attainment as of a date.
Writing it to XLSX or CSV is ``service.plan_files``' job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from service.auth import Principal
from service.db import repositories as repo
from service.db.engine import Database
from service.domain.errors import DomainError
from service.domain.money import format_amount, parse_amount
from service.domain.tree import InvalidInputError
from service.plans import nodes, versions
from service.plans.attainment import version_attainment
from service.plans.uow import Change


@dataclass(frozen=True, slots=True)
class Row:
    key: int
    depth: int
    level_path: tuple[str, ...]
    """Names of the dimensions split along from the root to this node."""
    members: dict[str, tuple[str, str]]
    """Per dimension name: (code, name) of the node's member (the deepest one)."""
    path: tuple[tuple[str, str], ...]
    """(code, name) of the member of every step from the root."""
    leaf: bool
    target: Decimal
    owner: str | None
    locked: bool
    actual: Decimal | None
    attainment_percent: Decimal | None
    status: str | None


@dataclass(frozen=True, slots=True)
class PlanTable:
    plan_name: str
    version_number: int
    version_state: str
    currency: str | None
    unit: str | None
    digits: int
    as_of: date
    dimensions: list[str]
    """Dimension names in the order they first appear in the tree."""
    rows: list[Row]


async def plan_table(db: Database, version_id: int, as_of: date) -> PlanTable:
    """The version's nodes in tree order, with attainment as of ``as_of``."""
    async with db.read_session() as session:
        (version,) = await repo.versions_by_ids(session, [version_id])
        if version is None:
            raise InvalidInputError("NOT_FOUND", "--version is not a known version", "version")
        (plan,) = await repo.plans_by_ids(session, [version.plan_id])
        assert plan is not None
        (root,) = await repo.roots_by_version_ids(session, [version_id])
        assert root is not None
        tree = await repo.subtree(session, root)
        member_ids = sorted({m for n in tree for _, m in n.coordinates})
        members = {m.id: m for m in await repo.members_by_ids(session, member_ids) if m}
        dimension_ids = sorted({m.dimension_id for m in members.values()})
        dims = {d.id: d for d in await repo.dimensions_by_ids(session, dimension_ids) if d}
        owner_ids = sorted({n.owner_id for n in tree if n.owner_id is not None})
        owners = {o.id: o for o in await repo.owners_by_ids(session, owner_ids) if o}
    numbers = await version_attainment(db, version_id, as_of)
    digits = plan.minor_digits
    parents = {n.parent_key for n in tree}

    def amount(minor: int) -> Decimal:
        return Decimal(format_amount(minor, digits))

    def dimension_name(dimension_id: int) -> str:
        d = dims[dimension_id]
        return "Calendar" if d.plan_id is not None else d.name

    order: list[str] = []
    rows: list[Row] = []
    for n in tree:
        path = tuple(dimension_name(d) for d, _ in n.coordinates)
        slice_: dict[str, tuple[str, str]] = {}
        for d, m in n.coordinates:
            name = dimension_name(d)
            if name not in order:
                order.append(name)
            slice_[name] = (members[m].code, members[m].name)
        a = numbers.node(n.key)
        rows.append(
            Row(
                key=n.key,
                depth=n.depth,
                level_path=path,
                members=slice_,
                path=tuple((members[m].code, members[m].name) for _, m in n.coordinates),
                leaf=n.key not in parents,
                target=amount(n.target),
                owner=owners[n.owner_id].name if n.owner_id in owners else None,
                locked=n.locked,
                actual=amount(a.actual) if a is not None else None,
                attainment_percent=a.attainment_percent if a is not None else None,
                status=a.status.value if a is not None else None,
            )
        )
    return PlanTable(
        plan_name=plan.name,
        version_number=version.number,
        version_state=version.state,
        currency=plan.currency,
        unit=plan.unit,
        digits=digits,
        as_of=as_of,
        dimensions=order,
        rows=rows,
    )


# --- the round trip ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EditedTarget:
    line: int
    """Where the edit was read (row number under the header) for messages."""
    key: int
    target: object
    """As read: a number or text; checked by the use case's rules."""


@dataclass
class ImportReport:
    draft_id: int | None = None
    draft_number: int | None = None
    changed: list[tuple[int, int, str, str]] = field(default_factory=list)
    """(line, key, before, after) of every edit applied."""
    moved: int = 0
    """Other nodes whose target moved with them (rebalanced siblings, subtrees)."""
    refused: list[tuple[int, int | None, str]] = field(default_factory=list)
    """(line, key, reason) of every edit not applied."""


async def import_targets(
    db: Database,
    principal: Principal,
    version_id: int,
    edits: Sequence[EditedTarget],
    source: str,
    step: Callable[[str], None] | None = None,
) -> ImportReport:
    """Apply edited leaf targets to a new draft copied from ``version_id``.

    Only rows whose target differs from the version's are edits; each goes through
    ``nodeSetTarget`` (siblings rebalance, the parent keeps its total) and is then
    locked, so that a later edit of a sibling does not move it; the locks taken here
    are released at the end. An edit the rules refuse (not a leaf, unknown key, bad
    amount, nothing left to rebalance) is reported and the others still apply. No
    edit at all: no draft is made.
    """
    report = ImportReport()
    change = Change(principal, reason=f"import of {source}")
    async with db.read_session() as session:
        (version,) = await repo.versions_by_ids(session, [version_id])
        if version is None:
            raise InvalidInputError("NOT_FOUND", "--version is not a known version", "version")
        (plan,) = await repo.plans_by_ids(session, [version.plan_id])
        assert plan is not None
        (root,) = await repo.roots_by_version_ids(session, [version_id])
        assert root is not None
        stored = {n.key: n for n in await repo.subtree(session, root)}
    parents = {n.parent_key for n in stored.values()}
    digits = plan.minor_digits
    wanted: list[tuple[EditedTarget, int]] = []
    for edit in edits:
        node = stored.get(edit.key)
        if node is None:
            report.refused.append((edit.line, edit.key, "no node with this key in the version"))
            continue
        try:
            minor = parse_amount(edit.target, digits, field="target")  # type: ignore[arg-type]
        except DomainError as exc:
            report.refused.append((edit.line, edit.key, exc.message))
            continue
        if minor == node.target:
            continue
        if edit.key in parents:
            report.refused.append(
                (edit.line, edit.key, "not a leaf: edit the leaves below it (their sum follows)")
            )
            continue
        wanted.append((edit, minor))
    if not wanted:
        return report
    draft = await versions.create_draft(
        db, change, versions.DraftCreate(version_id, name=f"Import of {source}")
    )
    report.draft_id, report.draft_number = draft.id, draft.number
    revision = draft.revision
    locked_here: list[int] = []
    for edit, minor in wanted:
        if step is not None:
            step(f"key {edit.key}")
        before = stored[edit.key]
        try:
            done = await nodes.set_target(
                db,
                change,
                nodes.SetTarget(
                    draft.id, edit.key, revision, Decimal(format_amount(minor, digits))
                ),
            )
        except DomainError as exc:
            report.refused.append((edit.line, edit.key, exc.message))
            continue
        revision = done.version.revision
        report.changed.append(
            (
                edit.line,
                edit.key,
                format_amount(before.target, digits),
                format_amount(minor, digits),
            )
        )
        report.moved += len([n for n in done.changed if n.key != edit.key])
        if not before.locked:
            locked = await nodes.lock(db, change, nodes.NodeCommand(draft.id, edit.key, revision))
            revision = locked.version.revision
            locked_here.append(edit.key)
    for key in locked_here:
        unlocked = await nodes.unlock(db, change, nodes.NodeCommand(draft.id, key, revision))
        revision = unlocked.version.revision
    return report
