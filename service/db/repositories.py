"""All SQL of the service. Repositories flush; they never commit.

Each function takes the session of the caller's transaction. Loaders for the
API take a list of keys and return rows in key order (``None`` where missing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Text,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import get_history, set_committed_value
from sqlalchemy.orm.util import identity_key

from service.db.engine import driver_connection
from service.db.errors import UniqueViolation
from service.db.models import (
    AuditEntry,
    Dimension,
    Member,
    Owner,
    Plan,
    PlanVersion,
    TargetNode,
    TeamMember,
)
from service.db.paging import keyset_page, lateral_pages
from service.db.records import null_list, records, select_list
from service.domain import paths
from service.domain.paging import Page, PageRequest, cut

Reader = AsyncConnection | AsyncSession
"""What a Core read executes on: the request's connection (or a session)."""


def _ids(values: Sequence[int]) -> Any:
    """One ``bigint[]`` parameter: ``col = ANY(:ids)`` takes any number of ids in one
    statement (``IN (...)`` would spend a parameter on each, and PostgreSQL allows 32,767)."""
    return bindparam("ids", list(values), type_=ARRAY(BigInteger))


def _pairs(ids: Sequence[tuple[int, int]]) -> Any:
    """A (v, k) table from two bigint[] parameters: one statement for any number of keys."""
    return select(
        func.unnest(bindparam("vs", [v for v, _ in ids], type_=ARRAY(BigInteger))).label("v"),
        func.unnest(bindparam("ks", [k for _, k in ids], type_=ARRAY(BigInteger))).label("k"),
    ).subquery()


# --- plans and versions ---------------------------------------------------------


async def add(session: AsyncSession, obj: Any) -> Any:
    session.add(obj)
    await session.flush()
    return obj


async def plans_page(session: AsyncSession, request: PageRequest) -> Page[Plan]:
    """Plans by id."""
    return await keyset_page(session, select(Plan), [Plan.id], request, lambda p: (p.id,))


async def plans_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Plan)) or 0)


async def plans_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Plan | None]:
    rows = {
        p.id: p for p in await session.scalars(select(Plan).where(Plan.id == func.any(_ids(ids))))
    }
    return [rows.get(i) for i in ids]


async def versions_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[PlanVersion | None]:
    stmt = select(PlanVersion).where(PlanVersion.id == func.any(_ids(ids)))
    rows = {v.id: v for v in await session.scalars(stmt)}
    return [rows.get(i) for i in ids]


async def versions_pages(
    session: AsyncSession, keys: Sequence[tuple[int, PageRequest]]
) -> list[Page[PlanVersion]]:
    """A page of versions per plan, by number."""
    return await lateral_pages(
        session,
        PlanVersion,
        lambda k: select(PlanVersion).where(PlanVersion.plan_id == k.c.scope),
        ((PlanVersion.number, Integer),),
        [("scope", BigInteger, [p for p, _ in keys])],
        [r for _, r in keys],
    )


async def versions_count(session: AsyncSession, plan_ids: Sequence[int]) -> list[int]:
    stmt = (
        select(PlanVersion.plan_id, func.count())
        .where(PlanVersion.plan_id == func.any(_ids(plan_ids)))
        .group_by(PlanVersion.plan_id)
    )
    counts = {p: int(n) for p, n in (await session.execute(stmt)).all()}
    return [counts.get(i, 0) for i in plan_ids]


async def version_for_update(session: AsyncSession, version_id: int) -> PlanVersion | None:
    """Lock the version row: every change to a version's tree is serialised on it."""
    stmt = select(PlanVersion).where(PlanVersion.id == version_id).with_for_update()
    return (await session.scalars(stmt)).one_or_none()


async def bump_revision(session: AsyncSession, version: PlanVersion) -> None:
    """Record a change to the version's tree: revision + 1 (checked against stale writers)."""
    version.updated_at = func.now()
    await session.flush()


# --- target nodes ----------------------------------------------------------------


async def new_node_keys(session: AsyncSession, count: int) -> list[int]:
    rows = await session.execute(
        text("SELECT nextval('target_node_key_seq') FROM generate_series(1, :n)"), {"n": count}
    )
    return [int(r[0]) for r in rows]


async def node(session: AsyncSession, version_id: int, key: int) -> TargetNode | None:
    return await session.get(TargetNode, (version_id, key))


async def nodes_by_ids(
    session: AsyncSession, ids: Sequence[tuple[int, int]]
) -> list[TargetNode | None]:
    if not ids:
        return []
    pairs = _pairs(ids)
    stmt = select(TargetNode).join(
        pairs, (TargetNode.version_id == pairs.c.v) & (TargetNode.key == pairs.c.k)
    )
    rows = {(n.version_id, n.key): n for n in await session.scalars(stmt)}
    return [rows.get(i) for i in ids]


async def children_by_parent_ids(
    session: AsyncSession, ids: Sequence[tuple[int, int]]
) -> list[list[TargetNode]]:
    if not ids:
        return []
    pairs = _pairs(ids)
    stmt = (
        select(TargetNode)
        .join(
            pairs,
            (TargetNode.version_id == pairs.c.v) & (TargetNode.parent_key == pairs.c.k),
        )
        .order_by(TargetNode.version_id, TargetNode.parent_key, TargetNode.sort_order)
    )
    grouped: dict[tuple[int, int], list[TargetNode]] = defaultdict(list)
    for child in await session.scalars(stmt):
        assert child.parent_key is not None
        grouped[(child.version_id, child.parent_key)].append(child)
    return [grouped.get(i, []) for i in ids]


async def roots_by_version_ids(
    session: AsyncSession, version_ids: Sequence[int]
) -> list[TargetNode | None]:
    stmt = select(TargetNode).where(
        TargetNode.version_id == func.any(_ids(version_ids)), TargetNode.parent_key.is_(None)
    )
    rows = {n.version_id: n for n in await session.scalars(stmt)}
    return [rows.get(i) for i in version_ids]


async def add_nodes(session: AsyncSession, nodes: Sequence[TargetNode]) -> None:
    session.add_all(nodes)
    await session.flush()


async def set_split(
    session: AsyncSession,
    node: TargetNode,
    dimension_id: int,
    spec: dict[str, Any],
) -> None:
    await session.execute(
        update(TargetNode)
        .where(TargetNode.version_id == node.version_id, TargetNode.key == node.key)
        .values(split_dimension_id=dimension_id, split_spec=spec, updated_at=func.now())
    )


# --- dimensions and members -------------------------------------------------------


async def dimension_by_name(session: AsyncSession, name: str) -> Dimension | None:
    return (await session.scalars(select(Dimension).where(Dimension.name == name))).one_or_none()


async def dimensions_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Dimension | None]:
    stmt = select(Dimension).where(Dimension.id == func.any(_ids(ids)))
    rows = {d.id: d for d in await session.scalars(stmt)}
    return [rows.get(i) for i in ids]


async def dimensions_page(session: AsyncSession, request: PageRequest) -> Page[Dimension]:
    """Dimensions by id (the organisation's and the plans' calendars)."""
    return await keyset_page(session, select(Dimension), [Dimension.id], request, lambda d: (d.id,))


async def dimensions_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Dimension)) or 0)


async def members_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Member | None]:
    stmt = select(Member).where(Member.id == func.any(_ids(ids)))
    rows = {m.id: m for m in await session.scalars(stmt)}
    return [rows.get(i) for i in ids]


async def member_by_code(session: AsyncSession, dimension_id: int, code: str) -> Member | None:
    stmt = select(Member).where(Member.dimension_id == dimension_id, Member.code == code)
    return (await session.scalars(stmt)).one_or_none()


async def add_member(session: AsyncSession, member: Member, parent: Member | None) -> Member:
    """Insert a member with its paths: the parent's + its id, the parent's sort path + its
    (sort order, code) segment.

    Takes the dimension lock first and reads the parent's paths under it, so a
    concurrent move or reorder of the parent cannot leave the member under stale ones.
    """
    await lock_dimension(session, member.dimension_id)
    parent_path: str | None = None
    parent_sort_path: str | None = None
    member.depth = 0
    if parent is not None:
        stmt = select(Member.path, Member.sort_path, Member.depth).where(Member.id == parent.id)
        parent_path, parent_sort_path, parent_depth = (await session.execute(stmt)).one()
        member.depth = parent_depth + 1
    if member.sort_order is None:
        member.sort_order = 0
    member.sort_path = paths.member_sort_path(parent_sort_path, member.sort_order, member.code)
    member.path = ""
    session.add(member)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise UniqueViolation(str(exc.orig)) from None
    member.path = paths.child_path(parent_path, member.id)
    await session.flush()
    return member


async def members_of_dimension(session: AsyncSession, dimension_id: int) -> list[Member]:
    """Every member of a dimension in tree order."""
    stmt = select(Member).where(Member.dimension_id == dimension_id).order_by(Member.sort_path)
    return list((await session.scalars(stmt)).all())


async def insert_members(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert members (paths are set afterwards by ``recompute_member_paths``); code -> id."""
    if not rows:
        return {}
    result = await session.execute(
        insert(Member).returning(Member.id, Member.code),
        [{"path": "", "sort_path": "", "depth": 0, **row} for row in rows],
    )
    return {code: member_id for member_id, code in result.all()}


async def update_members(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk UPDATE by primary key (each dict carries ``id``)."""
    if rows:
        await session.execute(update(Member), list(rows))


async def recompute_member_paths(session: AsyncSession, dimension_id: int) -> int:
    """Rebuild ``path``, ``sort_path`` and ``depth`` of a dimension's members from
    ``parent_id``, ``sort_order`` and ``code`` (the SQL twin of ``service.domain.paths``).

    One recursive statement whatever the size; only rows whose paths changed are
    written. Returns the number of rows written. Refuses (TOO_LONG, nothing written)
    when a sort path would exceed ``paths.MAX_SORT_PATH_BYTES``.
    """
    result = await session.execute(
        text(
            """
            WITH RECURSIVE tree(id, path, sort_path, depth) AS (
                SELECT id, (id::text || '.') COLLATE "C",
                       (tree_order_int(sort_order) || code || chr(1)) COLLATE "C", 0
                FROM member WHERE dimension_id = :d AND parent_id IS NULL
              UNION ALL
                SELECT m.id, (t.path || m.id::text || '.') COLLATE "C",
                       (t.sort_path || tree_order_int(m.sort_order) || m.code || chr(1))
                           COLLATE "C",
                       t.depth + 1
                FROM member m JOIN tree t ON m.parent_id = t.id
                WHERE m.dimension_id = :d
            ),
            too_long AS (
                SELECT id, octet_length(sort_path) AS size FROM tree
                WHERE octet_length(sort_path) > :max_bytes
                ORDER BY size DESC LIMIT 1
            ),
            written AS (
                UPDATE member
                SET path = tree.path, sort_path = tree.sort_path, depth = tree.depth
                FROM tree
                WHERE member.id = tree.id AND NOT EXISTS (SELECT FROM too_long)
                  AND (member.path <> tree.path OR member.sort_path <> tree.sort_path
                       OR member.depth <> tree.depth)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM written), (SELECT id FROM too_long),
                   (SELECT size FROM too_long)
            """
        ),
        {"d": dimension_id, "max_bytes": paths.MAX_SORT_PATH_BYTES},
    )
    written, too_long, size = result.one()
    if too_long is not None:
        code = await session.scalar(select(Member.code).where(Member.id == too_long))
        paths.check_sort_path_size(str(code), int(size))
    return int(written)


async def reorder_member(session: AsyncSession, member: Member) -> int:
    """Move a member's subtree to its new place in tree order after its ``sort_order``
    or ``code`` changed (call it after setting them, before the flush).

    Takes the dimension lock before anything is written (loads and moves take it
    first too), then rewrites the sort paths of the member and its descendants: one
    index range. Refuses (TOO_LONG, nothing written) a sort path over the limit.
    Returns the number of rows rewritten.
    """
    code_changed = get_history(member, "code").has_changes()
    if not (code_changed or get_history(member, "sort_order").has_changes()):
        return 0
    with session.no_autoflush:
        await lock_dimension(session, member.dimension_id)
    stmt = select(Member.parent_id, Member.sort_path).where(Member.id == member.id)
    parent_id, old = (await session.execute(stmt)).one()
    parent_sort_path = None
    if parent_id is not None:
        parent_sort_path = await session.scalar(
            select(Member.sort_path).where(Member.id == parent_id)
        )
    field = "code" if code_changed else "sortOrder"
    new = f"{parent_sort_path or ''}{paths.member_segment(member.sort_order, member.code)}"
    if new == old:
        return 0
    in_subtree = (
        Member.dimension_id == member.dimension_id,
        Member.sort_path >= old,
        Member.sort_path < paths.subtree_end(old),
    )
    longest = await session.scalar(
        select(func.max(func.octet_length(Member.sort_path))).where(*in_subtree)
    )
    paths.check_sort_path_size(
        member.code, int(longest or 0) - len(old.encode()) + len(new.encode()), field
    )
    result = await session.execute(
        update(Member)
        .where(*in_subtree)
        .values(sort_path=literal(new, Text) + func.substr(Member.sort_path, len(old) + 1))
        .execution_options(synchronize_session=False)
    )
    set_committed_value(member, "sort_path", new)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def member_ancestry(session: AsyncSession, member: Member) -> list[Member]:
    """The member's ancestors and itself, top first (from its materialized path)."""
    ids = paths.path_ids(member.path)
    stmt = select(Member).where(Member.id == func.any(_ids(ids)))
    rows = {m.id: m for m in await session.scalars(stmt)}
    return [rows[i] for i in ids if i in rows]


async def members_by_codes(
    session: AsyncSession, dimension_id: int, codes: Sequence[str]
) -> list[Member | None]:
    stmt = select(Member).where(
        Member.dimension_id == dimension_id,
        Member.code == func.any(bindparam("codes", list(codes), type_=ARRAY(Text))),
    )
    rows = {m.code: m for m in await session.scalars(stmt)}
    return [rows.get(c) for c in codes]


SiblingPageKey = tuple[int, PageRequest]
"""(parent member id, or dimension id for its top level; the page asked for). The
page's keys are (sort order, code)."""

# Codes compare byte by byte (COLLATE "C"), as in the members' sort paths, so children
# and roots list siblings in the same order as the tree-order lists.
_SIBLING_ORDER = ((Member.sort_order, Integer), (Member.code.collate("C"), Text, "code"))


async def member_children(
    session: AsyncSession, keys: Sequence[SiblingPageKey]
) -> list[Page[Member]]:
    """A page of children per parent, in (sort order, code) order."""
    return await lateral_pages(
        session,
        Member,
        lambda k: select(Member).where(Member.parent_id == k.c.scope),
        _SIBLING_ORDER,
        [("scope", BigInteger, [p for p, _ in keys])],
        [r for _, r in keys],
    )


async def member_descendants_page(
    session: AsyncSession, member: Member, max_depth: int | None, request: PageRequest
) -> Page[Member]:
    """The subtree below ``member`` in tree order: one range of its sort path."""
    stmt = _descendants(member, max_depth)
    return await keyset_page(session, stmt, [Member.sort_path], request, lambda m: (m.sort_path,))


async def member_descendants_count(
    session: AsyncSession, member: Member, max_depth: int | None
) -> int:
    stmt = select(func.count()).select_from(_descendants(member, max_depth).subquery())
    return int(await session.scalar(stmt) or 0)


async def member_subtree_height(session: AsyncSession, member: Member) -> int:
    """Levels below ``member`` (0 for a leaf)."""
    stmt = select(func.coalesce(func.max(Member.depth), member.depth)).where(
        Member.dimension_id == member.dimension_id,
        Member.sort_path >= member.sort_path,
        Member.sort_path < paths.subtree_end(member.sort_path),
    )
    return int(await session.scalar(stmt) or member.depth) - member.depth


def _descendants(member: Member, max_depth: int | None) -> Any:
    stmt = select(Member).where(
        Member.dimension_id == member.dimension_id,
        Member.sort_path > member.sort_path,
        Member.sort_path < paths.subtree_end(member.sort_path),
    )
    if max_depth is not None:
        stmt = stmt.where(Member.depth <= member.depth + max_depth)
    return stmt


async def dimension_roots(
    session: AsyncSession, keys: Sequence[SiblingPageKey]
) -> list[Page[Member]]:
    """A page of top-level members per dimension, in (sort order, code) order."""
    return await lateral_pages(
        session,
        Member,
        lambda k: select(Member).where(
            Member.dimension_id == k.c.scope, Member.parent_id.is_(None)
        ),
        _SIBLING_ORDER,
        [("scope", BigInteger, [d for d, _ in keys])],
        [r for _, r in keys],
    )


async def members_page(
    session: AsyncSession, dimension_id: int, request: PageRequest
) -> Page[Member]:
    """Members in tree order (parents before children)."""
    stmt = select(Member).where(Member.dimension_id == dimension_id)
    return await keyset_page(session, stmt, [Member.sort_path], request, lambda m: (m.sort_path,))


async def members_count(session: AsyncSession, dimension_ids: Sequence[int]) -> list[int]:
    stmt = (
        select(Member.dimension_id, func.count())
        .where(Member.dimension_id == func.any(_ids(dimension_ids)))
        .group_by(Member.dimension_id)
    )
    counts = {d: int(n) for d, n in (await session.execute(stmt)).all()}
    return [counts.get(i, 0) for i in dimension_ids]


async def lock_dimension(session: AsyncSession, dimension_id: int) -> None:
    """Serialise structural changes (loads, moves) of one dimension's hierarchy."""
    await session.execute(
        select(Dimension.id).where(Dimension.id == dimension_id).with_for_update()
    )


async def members_by_dimension_codes(
    session: AsyncSession, keys: Sequence[tuple[int, str]]
) -> list[Member | None]:
    if not keys:
        return []
    pairs = select(
        func.unnest(bindparam("ds", [d for d, _ in keys], type_=ARRAY(BigInteger))).label("d"),
        func.unnest(bindparam("cs", [c for _, c in keys], type_=ARRAY(Text))).label("c"),
    ).subquery()
    stmt = select(Member).join(
        pairs, (Member.dimension_id == pairs.c.d) & (Member.code == pairs.c.c)
    )
    rows = {(m.dimension_id, m.code): m for m in await session.scalars(stmt)}
    return [rows.get(k) for k in keys]


# --- versions: copy and diff ---------------------------------------------------------

NODE_COPY_COLUMNS = (
    "key, plan_id, parent_key, path, sort_path, depth, sort_order, dimension_id, member_id, "
    "coordinates, target, split_dimension_id, split_spec, explanation, locked, floor, cap, "
    "strategy, kpis, owner_id"
)


async def copy_nodes(session: AsyncSession, source_id: int, target_id: int) -> int:
    """Copy every node of a version into another: one INSERT ... SELECT, keys kept."""
    result = await session.execute(
        text(
            f"INSERT INTO target_node (version_id, {NODE_COPY_COLUMNS}) "
            f"SELECT :target, {NODE_COPY_COLUMNS} FROM target_node WHERE version_id = :source"
        ),
        {"source": source_id, "target": target_id},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def next_version_number(session: AsyncSession, plan_id: int) -> int:
    stmt = select(func.coalesce(func.max(PlanVersion.number), 0) + 1).where(
        PlanVersion.plan_id == plan_id
    )
    return int(await session.scalar(stmt) or 1)


async def published_versions(session: AsyncSession, plan_id: int) -> list[PlanVersion]:
    stmt = (
        select(PlanVersion)
        .where(PlanVersion.plan_id == plan_id, PlanVersion.state == "PUBLISHED")
        .with_for_update()
    )
    return list((await session.scalars(stmt)).all())


async def plan_for_update(session: AsyncSession, plan_id: int) -> Plan | None:
    stmt = select(Plan).where(Plan.id == plan_id).with_for_update()
    return (await session.scalars(stmt)).one_or_none()


async def diff_versions(
    session: AsyncSession, base_id: int, other_id: int, limit: int
) -> list[tuple[int, TargetNode | None, TargetNode | None]]:
    """Nodes that differ between two versions, matched by key, in key order.

    Returns (key, node in base or None, node in other or None); a node counts as
    changed when its target, lock, bounds, parent, coordinates, split, owner,
    strategy or KPIs differ.
    """
    base = select(TargetNode).where(TargetNode.version_id == base_id).subquery("bq")
    other = select(TargetNode).where(TargetNode.version_id == other_id).subquery("oq")
    b = aliased(TargetNode, base)
    o = aliased(TargetNode, other)
    changed = or_(
        base.c.key.is_(None),
        other.c.key.is_(None),
        base.c.target != other.c.target,
        base.c.locked != other.c.locked,
        base.c.parent_key.is_distinct_from(other.c.parent_key),
        base.c.split_dimension_id.is_distinct_from(other.c.split_dimension_id),
        base.c.coordinates != other.c.coordinates,
        base.c.owner_id.is_distinct_from(other.c.owner_id),
        base.c.floor.is_distinct_from(other.c.floor),
        base.c.cap.is_distinct_from(other.c.cap),
        base.c.strategy.is_distinct_from(other.c.strategy),
        base.c.kpis != other.c.kpis,
        base.c.split_spec.is_distinct_from(other.c.split_spec),
    )
    stmt = (
        select(func.coalesce(base.c.key, other.c.key).label("k"), b, o)
        .select_from(base.join(other, base.c.key == other.c.key, full=True))
        .where(changed)
        .order_by("k")
        .limit(limit)
    )
    return [(int(k), bn, on) for k, bn, on in (await session.execute(stmt)).all()]


# --- subtrees ---------------------------------------------------------------------------


async def subtree(
    session: AsyncSession, root: TargetNode, max_depth: int | None = None
) -> list[TargetNode]:
    """A node and everything below it in tree order: one range of (version_id, sort_path)."""
    stmt = select(TargetNode).where(
        TargetNode.version_id == root.version_id,
        TargetNode.sort_path >= root.sort_path,
        TargetNode.sort_path < paths.subtree_end(root.sort_path),
    )
    if max_depth is not None:
        stmt = stmt.where(TargetNode.depth <= root.depth + max_depth)
    return list((await session.scalars(stmt.order_by(TargetNode.sort_path))).all())


async def delete_below(session: AsyncSession, node: TargetNode) -> int:
    """Delete every descendant of ``node`` (not the node itself)."""
    result = await session.execute(
        delete(TargetNode).where(
            TargetNode.version_id == node.version_id,
            TargetNode.sort_path > node.sort_path,
            TargetNode.sort_path < paths.subtree_end(node.sort_path),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def update_nodes(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk UPDATE by primary key; each dict has version_id and key. Rows of the session
    (loaded earlier in the transaction) take the new values too."""
    if not rows:
        return
    now = datetime.now(UTC)
    written = [{**r, "updated_at": now} for r in rows]
    await session.execute(update(TargetNode), written)
    for row in written:
        loaded = session.sync_session.identity_map.get(
            identity_key(TargetNode, (row["version_id"], row["key"]))
        )
        if loaded is not None:
            for name, value in row.items():
                set_committed_value(loaded, name, value)


SUBTREE_ROWS_SQL = """
SELECT n.key, n.parent_key, n.depth, n.target, n.locked, n.dimension_id,
       m.code, m.name
FROM target_node n LEFT JOIN member m ON m.id = n.member_id
WHERE n.version_id = $1 AND n.sort_path >= $2 AND n.sort_path < $3
  AND n.depth <= $4
ORDER BY n.sort_path
LIMIT $5
"""
"""The bulk subtree read: one range of (version_id, sort_path), already in tree order
(asyncpg placeholders: it runs on the driver, see ``subtree_rows``)."""


async def subtree_rows(
    session: AsyncSession, root: TargetNode, max_depth: int | None, limit: int
) -> Sequence[Sequence[Any]]:
    """Flat rows of a subtree for bulk reads: asyncpg records, no ORM objects.

    (key, parent_key, depth, target, locked, dimension_id, member_code, member_name),
    in tree order, at most ``limit`` rows. Fetched on the driver under the session's
    connection: SQLAlchemy's result processing of 10,000 rows cost more than the
    query itself.
    """
    driver = await driver_connection(session)
    rows: Sequence[Sequence[Any]] = await driver.fetch(
        SUBTREE_ROWS_SQL,
        root.version_id,
        root.sort_path,
        paths.subtree_end(root.sort_path),
        root.depth + max_depth if max_depth is not None else 32767,
        limit,
    )
    return rows


async def nodes_page(
    session: AsyncSession,
    version_id: int,
    coordinates: Sequence[tuple[int, int]],
    exact: bool,
    request: PageRequest,
) -> Page[TargetNode]:
    """Nodes of a version whose slice contains every (dimension, member) pair, in tree
    order; ``exact`` keeps only slices with exactly those pairs."""
    stmt = _slice_filter(select(TargetNode), version_id, coordinates, exact)
    return await keyset_page(
        session, stmt, [TargetNode.sort_path], request, lambda n: (n.sort_path,)
    )


async def nodes_count(
    session: AsyncSession, version_id: int, coordinates: Sequence[tuple[int, int]], exact: bool
) -> int:
    stmt = _slice_filter(
        select(func.count()).select_from(TargetNode), version_id, coordinates, exact
    )
    return int(await session.scalar(stmt) or 0)


def _slice_filter(
    stmt: Any, version_id: int, coordinates: Sequence[tuple[int, int]], exact: bool
) -> Any:
    """``exact``: the slice is exactly ``coordinates`` (containment and length).

    Otherwise hierarchical: for every (dimension, member) asked for, the node's slice
    holds that member *or one of its descendants* on that dimension (a quarter finds
    the nodes of its months, a country those of its cities). The descendants are one
    range of the member's sort path (index ``ix_member_dimension_id_sort_path``), and
    each is looked up with ``coordinates @> [[dimension, member]]`` on the GIN index.
    """
    stmt = stmt.where(TargetNode.version_id == version_id)
    if exact:
        if coordinates:
            stmt = stmt.where(TargetNode.coordinates.contains([[d, m] for d, m in coordinates]))
        return stmt.where(func.jsonb_array_length(TargetNode.coordinates) == len(coordinates))
    for dimension_id, member_id in coordinates:
        asked = aliased(Member)
        inside = aliased(Member)
        end = func.left(asked.sort_path, -1).op("||")(
            func.chr(func.ascii(func.right(asked.sort_path, 1)) + 1)
        )
        stmt = stmt.where(
            select(literal(1))
            .select_from(asked)
            .join(
                inside,
                (inside.dimension_id == asked.dimension_id)
                & (inside.sort_path >= asked.sort_path)
                & (inside.sort_path < end.collate("C")),
            )
            .where(
                asked.id == member_id,
                asked.dimension_id == dimension_id,
                TargetNode.coordinates.contains(
                    func.jsonb_build_array(func.jsonb_build_array(inside.dimension_id, inside.id))
                ),
            )
            .exists()
        )
    return stmt


async def audit_page(
    session: AsyncSession,
    request: PageRequest,
    *,
    version_id: int | None = None,
    node_key: int | None = None,
    owner_id: int | None = None,
) -> Page[AuditEntry]:
    """Audit entries, oldest first."""
    stmt = _audit_scope(select(AuditEntry), version_id, node_key, owner_id)
    return await keyset_page(session, stmt, [AuditEntry.id], request, lambda e: (e.id,))


async def audit_count(
    session: AsyncSession,
    *,
    version_id: int | None = None,
    node_key: int | None = None,
    owner_id: int | None = None,
) -> int:
    stmt = _audit_scope(
        select(func.count()).select_from(AuditEntry), version_id, node_key, owner_id
    )
    return int(await session.scalar(stmt) or 0)


def _audit_scope(
    stmt: Any, version_id: int | None, node_key: int | None, owner_id: int | None
) -> Any:
    if version_id is not None:
        stmt = stmt.where(AuditEntry.version_id == version_id)
    if node_key is not None:
        stmt = stmt.where(AuditEntry.node_key == node_key)
    if owner_id is not None:
        stmt = stmt.where(AuditEntry.owner_id == owner_id)
    return stmt


async def audit_entries_by_ids(
    session: AsyncSession, ids: Sequence[int]
) -> list[AuditEntry | None]:
    stmt = select(AuditEntry).where(AuditEntry.id == func.any(_ids(ids)))
    rows = {e.id: e for e in await session.scalars(stmt)}
    return [rows.get(i) for i in ids]


async def add_audit_entries(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    if entries:
        await session.execute(insert(AuditEntry), list(entries))


# --- owners ----------------------------------------------------------------------------


async def owners_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Owner | None]:
    stmt = select(Owner).where(Owner.id == func.any(_ids(ids)))
    rows = {o.id: o for o in await session.scalars(stmt)}
    return [rows.get(i) for i in ids]


async def owner_by_subject(session: AsyncSession, subject: str) -> Owner | None:
    stmt = select(Owner).where(Owner.subject == subject)
    return (await session.scalars(stmt)).one_or_none()


async def owners_by_subjects(session: AsyncSession, subjects: Sequence[str]) -> list[Owner | None]:
    stmt = select(Owner).where(Owner.subject.in_(subjects))
    rows = {o.subject: o for o in await session.scalars(stmt)}
    return [rows.get(s) for s in subjects]


async def team_by_name(session: AsyncSession, name: str) -> Owner | None:
    stmt = select(Owner).where(Owner.kind == "TEAM", Owner.name == name)
    return (await session.scalars(stmt)).one_or_none()


async def scope_owner_ids(session: AsyncSession, names: Sequence[str]) -> set[int]:
    """Owners named in a token (person subjects or team names) and the teams of those
    persons: whose subtrees a scoped planner may edit."""
    if not names:
        return set()
    stmt = select(Owner.id).where(
        or_(
            (Owner.kind == "PERSON") & Owner.subject.in_(names),
            (Owner.kind == "TEAM") & Owner.name.in_(names),
        )
    )
    direct = set((await session.scalars(stmt)).all())
    teams = await session.scalars(
        select(TeamMember.team_id).where(TeamMember.person_id == func.any(_ids(list(direct))))
    )
    return direct | set(teams.all())


async def team_members_pages(
    session: AsyncSession, keys: Sequence[tuple[int, PageRequest]]
) -> list[Page[Owner]]:
    """A page of persons per team, by name (then id)."""
    return await lateral_pages(
        session,
        Owner,
        lambda k: (
            select(Owner)
            .join(TeamMember, Owner.id == TeamMember.person_id)
            .where(TeamMember.team_id == k.c.scope)
        ),
        ((Owner.name, Text), (Owner.id, BigInteger)),
        [("scope", BigInteger, [t for t, _ in keys])],
        [r for _, r in keys],
    )


async def team_members_count(session: AsyncSession, team_ids: Sequence[int]) -> list[int]:
    stmt = (
        select(TeamMember.team_id, func.count())
        .where(TeamMember.team_id == func.any(_ids(team_ids)))
        .group_by(TeamMember.team_id)
    )
    counts = {t: int(n) for t, n in (await session.execute(stmt)).all()}
    return [counts.get(i, 0) for i in team_ids]


async def add_team_member(session: AsyncSession, team_id: int, person_id: int) -> bool:
    """Add a person to a team; False when they were a member already."""
    inserted = await session.execute(
        pg_insert(TeamMember)
        .values(team_id=team_id, person_id=person_id)
        .on_conflict_do_nothing()
        .returning(TeamMember.person_id)
    )
    return inserted.first() is not None


MAX_TEAMS_PER_PERSON = 100
"""Most teams listed for one person (by name)."""


async def teams_of(session: AsyncSession, person_ids: Sequence[int]) -> list[list[Owner]]:
    """The teams of each person, by name, at most ``MAX_TEAMS_PER_PERSON`` each."""
    ranked = (
        select(
            TeamMember.person_id.label("person_id"),
            TeamMember.team_id.label("team_id"),
            func.row_number()
            .over(partition_by=TeamMember.person_id, order_by=(Owner.name, Owner.id))
            .label("rank"),
        )
        .join(Owner, Owner.id == TeamMember.team_id)
        .where(TeamMember.person_id == func.any(_ids(person_ids)))
        .subquery()
    )
    stmt = (
        select(ranked.c.person_id, Owner)
        .join(Owner, Owner.id == ranked.c.team_id)
        .where(ranked.c.rank <= MAX_TEAMS_PER_PERSON)
        .order_by(ranked.c.person_id, ranked.c.rank)
    )
    grouped: dict[int, list[Owner]] = defaultdict(list)
    for person_id, owner in (await session.execute(stmt)).all():
        grouped[person_id].append(owner)
    return [grouped.get(i, []) for i in person_ids]


async def owned_nodes(
    session: AsyncSession, version_id: int, owner_id: int, limit: int
) -> list[TargetNode]:
    """The nodes an owner holds in a version, in tree order, at most ``limit``."""
    stmt = (
        select(TargetNode)
        .where(TargetNode.version_id == version_id, TargetNode.owner_id == owner_id)
        .order_by(TargetNode.sort_path)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def owner_totals_page(
    session: AsyncSession, version_id: int, request: PageRequest
) -> Page[tuple[int, int, int]]:
    """(owner id, total of the topmost nodes they own, node count) for a version, a page
    by owner id. A node whose ancestor has the same owner is not counted twice."""
    bounds = []
    if request.after is not None:
        bounds.append("n.owner_id > :after")
    if request.before is not None:
        bounds.append("n.owner_id < :before")
    where = "".join(f" AND {b}" for b in bounds)
    order = "DESC" if request.backward else "ASC"
    result = await session.execute(
        text(
            f"""
            SELECT n.owner_id, sum(n.target)::bigint, count(*)
            FROM target_node n
            WHERE n.version_id = :v AND n.owner_id IS NOT NULL{where}
              AND NOT EXISTS (
                SELECT 1 FROM target_node a
                WHERE a.version_id = n.version_id AND a.owner_id = n.owner_id
                  AND a.key <> n.key AND starts_with(n.sort_path, a.sort_path)
              )
            GROUP BY n.owner_id ORDER BY n.owner_id {order} LIMIT :limit
            """
        ),
        {
            "v": version_id,
            "after": request.after[0] if request.after else None,
            "before": request.before[0] if request.before else None,
            "limit": request.size + 1,
        },
    )
    rows = [(int(o), int(t), int(c)) for o, t, c in result.all()]
    return cut(rows, [(o,) for o, _, _ in rows], request)


async def owner_count(session: AsyncSession, version_id: int) -> int:
    stmt = select(func.count(func.distinct(TargetNode.owner_id))).where(
        TargetNode.version_id == version_id, TargetNode.owner_id.is_not(None)
    )
    return int(await session.scalar(stmt) or 0)


async def unowned_leaves(session: AsyncSession, version_id: int, limit: int) -> list[TargetNode]:
    """Leaves of a version that neither they nor any ancestor has an owner for, in tree
    order."""
    result = await session.execute(
        text(
            """
            SELECT n.key FROM target_node n
            WHERE n.version_id = :v AND n.split_dimension_id IS NULL AND n.owner_id IS NULL
              AND NOT EXISTS (
                SELECT 1 FROM target_node a
                WHERE a.version_id = n.version_id AND a.owner_id IS NOT NULL
                  AND starts_with(n.sort_path, a.sort_path)
              )
            ORDER BY n.sort_path LIMIT :limit
            """
        ),
        {"v": version_id, "limit": limit},
    )
    keys = [int(r[0]) for r in result.all()]
    found = await nodes_by_ids(session, [(version_id, k) for k in keys])
    return [n for n in found if n is not None]


async def node_label(session: AsyncSession, node: TargetNode) -> str:
    """How messages name a node: its slice as breadcrumbs ("East › FY2027-Q1"), or
    "the plan's root"."""
    ids = [m for _, m in node.coordinates]
    if not ids:
        return "the plan's root"
    found = {m.id: m.name for m in await members_by_ids(session, ids) if m is not None}
    return " › ".join(found.get(i, "?") for i in ids)


async def root_counts(session: AsyncSession, dimension_ids: Sequence[int]) -> list[int]:
    """Top-level members per dimension."""
    stmt = (
        select(Member.dimension_id, func.count())
        .where(Member.dimension_id == func.any(_ids(dimension_ids)), Member.parent_id.is_(None))
        .group_by(Member.dimension_id)
    )
    counts = {d: int(n) for d, n in (await session.execute(stmt)).all()}
    return [counts.get(i, 0) for i in dimension_ids]


async def child_counts(session: AsyncSession, member_ids: Sequence[int]) -> list[int]:
    """Direct children per member."""
    stmt = (
        select(Member.parent_id, func.count())
        .where(Member.parent_id == func.any(_ids(member_ids)))
        .group_by(Member.parent_id)
    )
    counts = {p: int(n) for p, n in (await session.execute(stmt)).all()}
    return [counts.get(i, 0) for i in member_ids]


# --- hot reads: Core rows as records (service.db.records), for the DataLoaders ---------


def _record_sql(model: type, tail: str) -> str:
    """``SELECT`` of the record columns of ``model`` (aliased ``r``) followed by ``tail``:
    text for the driver, built once per statement shape."""
    table: Any = inspect(model).local_table
    return f"SELECT {select_list(model, 'r')} FROM {table.name} r {tail}"


def _record_columns(model: type) -> list[str]:
    attrs: list[Any] = list(inspect(model).column_attrs)
    return [a.columns[0].name for a in attrs]


_CHILD_RECORDS_SQL = _record_sql(
    TargetNode,
    "JOIN unnest($1::bigint[], $2::bigint[]) AS p(v, k) "
    "ON r.version_id = p.v AND r.parent_key = p.k "
    "ORDER BY r.version_id, r.parent_key, r.sort_order",
)
_ID_RECORDS_SQL = {
    model: _record_sql(model, "WHERE r.id = ANY($1::bigint[])") for model in (Plan, Dimension)
}


_PLAN_COLUMNS = len(_record_columns(Plan))
_PLAN_ID = _record_columns(Plan).index("id")
_NODES_WITH_PLANS_SQL = (
    f"SELECT {select_list(Plan, 'pl')}, {select_list(TargetNode, 'r')} "
    "FROM target_node r JOIN plan pl ON pl.id = r.plan_id "
    "JOIN unnest($1::bigint[], $2::bigint[]) AS p(v, k) ON r.version_id = p.v AND r.key = p.k"
)


async def node_records_with_plans(
    conn: Reader, ids: Sequence[tuple[int, int]]
) -> tuple[list[Any], list[Any]]:
    """Nodes by (version, key) (None where unknown), and their plans, in one statement:
    a node's amounts need its plan's digits."""
    if not ids:
        return [], []
    driver = await driver_connection(conn)
    rows = [
        tuple(row)
        for row in await driver.fetch(
            _NODES_WITH_PLANS_SQL, [v for v, _ in ids], [k for _, k in ids]
        )
    ]
    plans = records(Plan, list({row[_PLAN_ID]: row[:_PLAN_COLUMNS] for row in rows}.values()))
    found = {
        (n.version_id, n.key): n for n in records(TargetNode, [row[_PLAN_COLUMNS:] for row in rows])
    }
    return [found.get(i) for i in ids], plans


_NODE_COLUMNS = _record_columns(TargetNode)
_NODE_WIDTH = len(_NODE_COLUMNS)
_MEMBER_WIDTH = len(_record_columns(Member))
# Output positions (1-based, after the leading ``part``) that order the children as
# ``_CHILD_RECORDS_SQL`` does.
_CHILD_ORDER = ", ".join(
    str(_NODE_COLUMNS.index(c) + 2) for c in ("version_id", "parent_key", "sort_order")
)
_NODE_FAMILIES_SQL = f"""
WITH n AS (
    SELECT r.* FROM target_node r
    JOIN unnest($1::bigint[], $2::bigint[]) AS p(v, k) ON r.version_id = p.v AND r.key = p.k
), c AS (
    SELECT r.* FROM target_node r JOIN n ON r.version_id = n.version_id AND r.parent_key = n.key
)
SELECT 0 AS part, {select_list(TargetNode, "r")}, {select_list(Plan, "pl")},
       {null_list(Member)}, {null_list(Dimension)}
FROM n r JOIN plan pl ON pl.id = r.plan_id
UNION ALL
SELECT 1, {select_list(TargetNode, "r")}, {null_list(Plan)}, {null_list(Member)},
       {null_list(Dimension)}
FROM c r
UNION ALL
SELECT 2, {null_list(TargetNode)}, {null_list(Plan)}, {select_list(Member, "m")},
       {select_list(Dimension, "d")}
FROM member m JOIN dimension d ON d.id = m.dimension_id
WHERE $3 AND m.id IN (
    SELECT (e ->> 1)::bigint
    FROM (SELECT coordinates FROM n UNION ALL SELECT coordinates FROM c) AS x,
         jsonb_array_elements(x.coordinates) AS e
)
ORDER BY 1, {_CHILD_ORDER}
"""


@dataclass(slots=True)
class NodeFamilies:
    """Nodes with what a read of them and their children needs, from one statement."""

    nodes: list[Any]
    """By the ids asked for; None where unknown."""
    plans: list[Any]
    children: dict[tuple[int, int], list[Any]]
    """Per node found, its children in order (an empty list for a leaf)."""
    members: list[Any]
    """With ``with_members``: the members of the slices of the nodes and their children."""
    dimensions: list[Any]
    """The dimensions of those members."""


async def node_families(
    conn: Reader, request: tuple[Sequence[tuple[int, int]], bool]
) -> NodeFamilies:
    """Nodes by (version, key), their plans and their children, and with
    ``with_members`` the members (and their dimensions) of all their slices: what a
    query of a node, its children and their slices reads, in one statement instead of
    four. ``request``: (the ids, ``with_members``)."""
    ids, with_members = request
    if not ids:
        return NodeFamilies([], [], {}, [], [])
    driver = await driver_connection(conn)
    rows = await driver.fetch(
        _NODE_FAMILIES_SQL, [v for v, _ in ids], [k for _, k in ids], with_members
    )
    nodes_at, plans_at = 1, 1 + _NODE_WIDTH
    members_at = plans_at + _PLAN_COLUMNS
    dimensions_at = members_at + _MEMBER_WIDTH
    parts: tuple[list[tuple[Any, ...]], ...] = ([], [], [])
    for row in rows:
        parts[row[0]].append(tuple(row))
    found = records(TargetNode, [r[nodes_at:plans_at] for r in parts[0]])
    children: dict[tuple[int, int], list[Any]] = {(n.version_id, n.key): [] for n in found}
    for child in records(TargetNode, [r[nodes_at:plans_at] for r in parts[1]]):
        children[(child.version_id, child.parent_key)].append(child)
    by_id = {(n.version_id, n.key): n for n in found}
    plans = {r[plans_at + _PLAN_ID]: r[plans_at:members_at] for r in parts[0]}
    dimensions = {r[dimensions_at]: r[dimensions_at:] for r in parts[2]}
    return NodeFamilies(
        nodes=[by_id.get(i) for i in ids],
        plans=records(Plan, plans.values()),
        children=children,
        members=records(Member, [r[members_at:dimensions_at] for r in parts[2]]),
        dimensions=records(Dimension, dimensions.values()),
    )


async def child_records_by_parent_ids(
    conn: Reader, ids: Sequence[tuple[int, int]]
) -> list[list[Any]]:
    """Like ``children_by_parent_ids``, as records."""
    if not ids:
        return []
    driver = await driver_connection(conn)
    rows = await driver.fetch(_CHILD_RECORDS_SQL, [v for v, _ in ids], [k for _, k in ids])
    grouped: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for child in records(TargetNode, rows):
        grouped[(child.version_id, child.parent_key)].append(child)
    return [grouped.get(i, []) for i in ids]


async def _records_by_ids(conn: Reader, model: Any, ids: Sequence[int]) -> list[Any]:
    if not ids:
        return []
    driver = await driver_connection(conn)
    rows = await driver.fetch(_ID_RECORDS_SQL[model], list(ids))
    found = {r.id: r for r in records(model, rows)}
    return [found.get(i) for i in ids]


async def plan_records_by_ids(conn: Reader, ids: Sequence[int]) -> list[Any]:
    return await _records_by_ids(conn, Plan, ids)


async def dimension_records_by_ids(conn: Reader, ids: Sequence[int]) -> list[Any]:
    return await _records_by_ids(conn, Dimension, ids)


_MEMBER_COLUMNS = len(_record_columns(Member))
_MEMBERS_WITH_DIMENSIONS_SQL = _record_sql(
    Member,
    "JOIN dimension d ON d.id = r.dimension_id WHERE r.id = ANY($1::bigint[])",
).replace(
    " FROM member r",
    f", {select_list(Dimension, 'd')} FROM member r",
    1,
)


async def member_records_with_dimensions(
    conn: Reader, ids: Sequence[int]
) -> tuple[list[Any], list[Any]]:
    """Members by id (None where unknown), and their dimensions, in one statement: a
    node's slice names both."""
    if not ids:
        return [], []
    driver = await driver_connection(conn)
    rows = [tuple(row) for row in await driver.fetch(_MEMBERS_WITH_DIMENSIONS_SQL, list(ids))]
    found = {m.id: m for m in records(Member, [row[:_MEMBER_COLUMNS] for row in rows])}
    dimensions = {d.id: d for d in records(Dimension, [row[_MEMBER_COLUMNS:] for row in rows])}
    return [found.get(i) for i in ids], list(dimensions.values())


GENERATION_SQL = text("SELECT value FROM data_generation WHERE id = 1")


async def data_generation(conn: Reader, _: object = None) -> int:
    """The data generation (migration 0008): moves with every committed change."""
    return int((await conn.execute(GENERATION_SQL)).scalar_one())
