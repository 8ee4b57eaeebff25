"""DataLoaders: the API's only path to the repositories.

One batched SQL statement per kind of object per tick, named ``XByYLoader`` style
(``plan_by_id``) and returning results in key order. The batches of a request
share its one connection (``service.db.engine.RequestReads``: autocommit, no
BEGIN, no ROLLBACK, taken at the first read and given back at the end). The hot
reads (nodes, children, plans, dimensions, members) are Core rows as records
(``service.db.records``); the others ORM objects through a session on that
connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from service.db import imports as fact_imports
from service.db import repositories as repo
from service.db import reviews as review_repo
from service.db.engine import RequestReads, Session
from service.db.models import (
    AuditEntry,
    Dimension,
    FactBatch,
    Member,
    Owner,
    Plan,
    PlanVersion,
    Review,
    TargetNode,
)
from service.domain.facts import FactKind
from service.domain.paging import Page, PageRequest
from service.plans import attainment as attainment_reads
from service.plans.attainment import NodeKpiActuals, VersionAttainment
from service.plans.audit import AuditScope
from service.plans.diagnostics import VersionDiagnostics, diagnose_version_on
from service.plans.nodes import Subtree, subtree_on

K = TypeVar("K")
V = TypeVar("V")


def cached(loader: DataLoader[K, V], key: K) -> V | None:
    """The value ``loader`` already holds for ``key``, without waiting; None otherwise.

    Lets a resolver answer synchronously when an earlier batch (or ``prime``)
    brought the row: graphql-core runs every awaitable resolver as an asyncio
    task, which costs more than most fields themselves.
    """
    future = loader.cache_map.get(key)
    if future is None or not future.done() or future.cancelled() or future.exception():
        return None
    return future.result()


def _loader(
    reads: RequestReads, fetch: Callable[[Session, Sequence[K]], Awaitable[list[V]]]
) -> DataLoader[K, V]:
    """A loader whose batch reads ORM objects through the request's session."""

    async def load(keys: list[K]) -> list[V]:
        return await reads.run(fetch, keys, orm=True)

    return DataLoader(load_fn=load)


def _core(
    reads: RequestReads, fetch: Callable[[Any, Sequence[K]], Awaitable[list[Any]]]
) -> DataLoader[K, Any]:
    """A loader whose batch reads records (Core rows) on the request's connection."""

    async def load(keys: list[K]) -> list[Any]:
        return await reads.run(fetch, keys)

    return DataLoader(load_fn=load)


def _members(reads: RequestReads, dimensions: DataLoader[int, Any]) -> DataLoader[int, Any]:
    """Members by id, as records; their dimensions come in the same statement and are
    primed into ``dimensions`` (a slice's coordinates name both: ask for the members
    first and the dimensions are there)."""

    async def load(keys: list[int]) -> list[Any]:
        members, found = await reads.run(repo.member_records_with_dimensions, keys)
        for dimension in found:
            dimensions.prime(dimension.id, dimension)
        return members

    return DataLoader(load_fn=load)


def _nodes(reads: RequestReads, plans: DataLoader[int, Any]) -> DataLoader[tuple[int, int], Any]:
    """Nodes by (version, key), as records; their plans come in the same statement and
    are primed into ``plans`` (a node's amounts need its plan's digits)."""

    async def load(keys: list[tuple[int, int]]) -> list[Any]:
        nodes, found = await reads.run(repo.node_records_with_plans, keys)
        for plan in found:
            plans.prime(plan.id, plan)
        return nodes

    return DataLoader(load_fn=load)


PageKey = tuple[int, PageRequest]


async def _version_attainment(session: Session, key: tuple[int, date]) -> VersionAttainment:
    return await attainment_reads.version_attainment_on(session, *key)


async def _node_kpis(
    session: Session, key: tuple[VersionAttainment, list[int]]
) -> list[NodeKpiActuals]:
    return await attainment_reads.node_kpis_on(session, *key)


def _attainment_loader(
    reads: RequestReads,
) -> DataLoader[tuple[int, date], VersionAttainment]:
    """A whole version's attainment per (version, asOf): computed once per request."""

    async def load(keys: list[tuple[int, date]]) -> list[VersionAttainment]:
        return [await reads.run(_version_attainment, key, orm=True) for key in keys]

    return DataLoader(load_fn=load)


async def _nodes_attainment(
    session: Session, key: tuple[int, date, list[int]]
) -> VersionAttainment:
    return await attainment_reads.nodes_attainment_on(session, *key)


def _node_attainment_loader(
    reads: RequestReads, versions: DataLoader[tuple[int, date], VersionAttainment]
) -> DataLoader[tuple[int, date, int], VersionAttainment]:
    """Per (version, asOf, node key): numbers that answer that node. A few nodes of a
    version are read on their own slices (``nodes_attainment_on``, one batch per
    (version, asOf)); more, or a version already read whole in this request, use the
    whole version's numbers. Both give the same numbers."""

    async def load(keys: list[tuple[int, date, int]]) -> list[VersionAttainment]:
        batches: dict[tuple[int, date], list[int]] = {}
        for v, d, k in keys:
            batches.setdefault((v, d), []).append(k)
        found: dict[tuple[int, date], VersionAttainment] = {}
        for (v, d), node_keys in batches.items():
            whole = cached(versions, (v, d))
            if whole is None and len(set(node_keys)) <= attainment_reads.MAX_NODES_APART:
                found[(v, d)] = await reads.run(
                    _nodes_attainment, (v, d, sorted(set(node_keys))), orm=True
                )
            else:
                found[(v, d)] = whole or await versions.load((v, d))
        return [found[(v, d)] for v, d, _ in keys]

    return DataLoader(load_fn=load)


async def _read_credits(session: Session, numbers: VersionAttainment) -> None:
    await attainment_reads.read_credits(session, numbers)


def _credits_loader(
    reads: RequestReads, versions: DataLoader[tuple[int, date], VersionAttainment]
) -> DataLoader[tuple[int, date], VersionAttainment]:
    """A version's attainment with its split-credit sales read (owners' numbers need
    them, node numbers do not): one more read per (version, asOf), only when asked."""

    async def load(keys: list[tuple[int, date]]) -> list[VersionAttainment]:
        out = []
        for key in keys:
            numbers = await versions.load(key)
            await reads.run(_read_credits, numbers, orm=True)
            out.append(numbers)
        return out

    return DataLoader(load_fn=load)


def _kpi_loader(
    reads: RequestReads, nodes: DataLoader[tuple[int, date, int], VersionAttainment]
) -> DataLoader[tuple[int, int, date], NodeKpiActuals]:
    """KPI actuals per (version, node key, asOf): one batch per (version, asOf), on the
    numbers that answer those nodes (their slices alone when they are few)."""

    async def load(keys: list[tuple[int, int, date]]) -> list[NodeKpiActuals]:
        batches: dict[tuple[int, date], list[int]] = {}
        for v, k, d in keys:
            batches.setdefault((v, d), []).append(k)
        found: dict[tuple[int, int, date], NodeKpiActuals] = {}
        for (v, d), node_keys in batches.items():
            every = await nodes.load_many([(v, d, k) for k in node_keys])
            groups: dict[int, tuple[VersionAttainment, list[int]]] = {}
            for k, numbers in zip(node_keys, every, strict=True):
                groups.setdefault(id(numbers), (numbers, []))[1].append(k)
            for numbers, group in groups.values():
                kpis_of = await reads.run(_node_kpis, (numbers, group), orm=True)
                for k, kpis in zip(group, kpis_of, strict=True):
                    found[(v, k, d)] = kpis
        return [found[key] for key in keys]

    return DataLoader(load_fn=load)


async def _diagnose(
    session: Session, key: tuple[int, date, VersionAttainment]
) -> VersionDiagnostics:
    return await diagnose_version_on(session, *key)


def _diagnostics_loader(
    reads: RequestReads, versions: DataLoader[tuple[int, date], VersionAttainment]
) -> DataLoader[tuple[int, date], VersionDiagnostics]:
    """A whole version's diagnosis per (version, asOf), on the request's attainment."""

    async def load(keys: list[tuple[int, date]]) -> list[VersionDiagnostics]:
        return [
            await reads.run(_diagnose, (v, d, await versions.load((v, d))), orm=True)
            for v, d in keys
        ]

    return DataLoader(load_fn=load)


async def _call(
    session: Session, call: tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]
) -> Any:
    fetch, args = call
    return await fetch(session, *args)


class Loaders:
    """The request's DataLoaders, each built on first use: a request reads a few kinds
    of object, and building all 27 up front cost more than a small query's reads."""

    def __init__(self, db: RequestReads) -> None:
        self._reads = db

    @cached_property
    def plan_by_id(self) -> DataLoader[int, Plan | None]:
        return _core(self._reads, repo.plan_records_by_ids)

    @cached_property
    def version_by_id(self) -> DataLoader[int, PlanVersion | None]:
        return _loader(self._reads, repo.versions_by_ids)

    @cached_property
    def versions_by_plan_id(self) -> DataLoader[PageKey, Page[PlanVersion]]:
        return _loader(self._reads, repo.versions_pages)

    @cached_property
    def version_count_by_plan_id(self) -> DataLoader[int, int]:
        return _loader(self._reads, repo.versions_count)

    @cached_property
    def node_by_id(self) -> DataLoader[tuple[int, int], TargetNode | None]:
        return _nodes(self._reads, self.plan_by_id)

    @cached_property
    def children_by_node_id(self) -> DataLoader[tuple[int, int], list[TargetNode]]:
        return _core(self._reads, repo.child_records_by_parent_ids)

    @cached_property
    def root_by_version_id(self) -> DataLoader[int, TargetNode | None]:
        return _loader(self._reads, repo.roots_by_version_ids)

    @cached_property
    def dimension_by_id(self) -> DataLoader[int, Dimension | None]:
        return _core(self._reads, repo.dimension_records_by_ids)

    @cached_property
    def member_by_id(self) -> DataLoader[int, Member | None]:
        return _members(self._reads, self.dimension_by_id)

    @cached_property
    def member_by_code(self) -> DataLoader[tuple[int, str], Member | None]:
        return _loader(self._reads, repo.members_by_dimension_codes)

    @cached_property
    def children_by_member_id(self) -> DataLoader[PageKey, Page[Member]]:
        return _loader(self._reads, repo.member_children)

    @cached_property
    def roots_by_dimension_id(self) -> DataLoader[PageKey, Page[Member]]:
        return _loader(self._reads, repo.dimension_roots)

    @cached_property
    def member_count_by_dimension_id(self) -> DataLoader[int, int]:
        return _loader(self._reads, repo.members_count)

    @cached_property
    def root_count_by_dimension_id(self) -> DataLoader[int, int]:
        return _loader(self._reads, repo.root_counts)

    @cached_property
    def child_count_by_member_id(self) -> DataLoader[int, int]:
        return _loader(self._reads, repo.child_counts)

    @cached_property
    def owner_by_id(self) -> DataLoader[int, Owner | None]:
        return _loader(self._reads, repo.owners_by_ids)

    @cached_property
    def members_by_team_id(self) -> DataLoader[PageKey, Page[Owner]]:
        return _loader(self._reads, repo.team_members_pages)

    @cached_property
    def member_count_by_team_id(self) -> DataLoader[int, int]:
        return _loader(self._reads, repo.team_members_count)

    @cached_property
    def teams_by_person_id(self) -> DataLoader[int, list[Owner]]:
        return _loader(self._reads, repo.teams_of)

    @cached_property
    def audit_entry_by_id(self) -> DataLoader[int, AuditEntry | None]:
        return _loader(self._reads, repo.audit_entries_by_ids)

    @cached_property
    def review_by_id(self) -> DataLoader[int, Review | None]:
        return _loader(self._reads, review_repo.reviews_by_ids)

    @cached_property
    def fact_batch_by_id(self) -> DataLoader[int, FactBatch | None]:
        return _loader(self._reads, fact_imports.batches_by_ids)

    @cached_property
    def attainment_by_version(self) -> DataLoader[tuple[int, date], VersionAttainment]:
        return _attainment_loader(self._reads)

    @cached_property
    def owner_attainment_by_version(self) -> DataLoader[tuple[int, date], VersionAttainment]:
        return _credits_loader(self._reads, self.attainment_by_version)

    @cached_property
    def attainment_by_node(self) -> DataLoader[tuple[int, date, int], VersionAttainment]:
        return _node_attainment_loader(self._reads, self.attainment_by_version)

    @cached_property
    def kpis_by_node(self) -> DataLoader[tuple[int, int, date], NodeKpiActuals]:
        return _kpi_loader(self._reads, self.attainment_by_node)

    @cached_property
    def diagnostics_by_version(self) -> DataLoader[tuple[int, date], VersionDiagnostics]:
        return _diagnostics_loader(self._reads, self.attainment_by_version)

    async def node_families(
        self, keys: Sequence[tuple[int, int]], with_members: bool
    ) -> list[TargetNode | None]:
        """Nodes by (version, key), read in one statement with their plans, their
        children and, with ``with_members``, the members and dimensions of all their
        slices (``repositories.node_families``), all of it primed into the loaders: a
        node's ``children`` and their cheap fields then read nothing more. For a query
        that selects a node's children; one statement for the ids of one field, not
        batched with other fields' like ``node_by_id``."""
        family = await self._reads.run(repo.node_families, (keys, with_members))
        for plan in family.plans:
            self.plan_by_id.prime(plan.id, plan)
        for dimension in family.dimensions:
            self.dimension_by_id.prime(dimension.id, dimension)
        for member in family.members:
            self.member_by_id.prime(member.id, member)
        for key, children in family.children.items():
            self.children_by_node_id.prime(key, children)
            for child in children:
                self.node_by_id.prime((child.version_id, child.key), child)
        for key, node in zip(keys, family.nodes, strict=True):
            if node is not None:
                self.node_by_id.prime(key, node)
        return family.nodes

    # --- pages and counts: one statement each, not batched, on the request's connection
    # (so they share its one checkout and read after its data generation, which lets
    # their answers be cached like every other read's).

    async def _read(self, fetch: Callable[..., Awaitable[V]], *args: Any) -> V:
        result: V = await self._reads.run(_call, (fetch, args), orm=True)
        return result

    async def plans_page(self, request: PageRequest) -> Page[Plan]:
        return await self._read(repo.plans_page, request)

    async def plans_count(self) -> int:
        return await self._read(repo.plans_count)

    async def dimensions_page(self, request: PageRequest) -> Page[Dimension]:
        return await self._read(repo.dimensions_page, request)

    async def dimensions_count(self) -> int:
        return await self._read(repo.dimensions_count)

    async def members_page(self, dimension_id: int, request: PageRequest) -> Page[Member]:
        """A dimension's members in tree order."""
        return await self._read(repo.members_page, dimension_id, request)

    async def owner_by_subject(self, subject: str) -> Owner | None:
        return await self._read(repo.owner_by_subject, subject)

    async def batches_page(
        self, plan_id: int, kind: FactKind | None, request: PageRequest
    ) -> Page[FactBatch]:
        """A plan's import batches, oldest first."""
        return await self._read(fact_imports.batches_page, plan_id, kind, request)

    async def batches_count(self, plan_id: int, kind: FactKind | None) -> int:
        return await self._read(fact_imports.count_batches, plan_id, kind)

    async def batch_stored(self, batch: FactBatch) -> int:
        """Rows ``batch`` stored itself (the others were stored before by other batches)."""
        return await self._read(fact_imports.stored_count, FactKind(batch.kind), batch.id)

    async def reviews_page(
        self, version_id: int, node_key: int | None, request: PageRequest
    ) -> Page[Review]:
        """A version's reviews (or one node's), in the order they were recorded."""
        return await self._read(review_repo.reviews_page, version_id, node_key, request)

    async def reviews_count(self, version_id: int, node_key: int | None) -> int:
        return await self._read(review_repo.reviews_count, version_id, node_key)

    async def subtree(
        self, version_id: int, root_key: int | None, max_depth: int | None
    ) -> Subtree:
        """A subtree as flat rows (``PlanVersion.subtree``), on the request's connection."""
        return await self._read(subtree_on, version_id, root_key, max_depth)

    async def audit_page(self, scope: AuditScope, request: PageRequest) -> Page[AuditEntry]:
        return await self._read(_audit_page, scope, request)

    async def audit_count(self, scope: AuditScope) -> int:
        return await self._read(_audit_count, scope)


async def _audit_page(
    session: Session, scope: AuditScope, request: PageRequest
) -> Page[AuditEntry]:
    return await repo.audit_page(
        session,
        request,
        version_id=scope.version_id,
        node_key=scope.node_key,
        owner_id=scope.owner_id,
    )


async def _audit_count(session: Session, scope: AuditScope) -> int:
    return await repo.audit_count(
        session, version_id=scope.version_id, node_key=scope.node_key, owner_id=scope.owner_id
    )
