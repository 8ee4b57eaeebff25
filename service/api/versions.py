"""Plan versions: the type, the lifecycle mutations and the version diff."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.types import Info

from service.api import diagnostics as diagnostics_api
from service.api import ids
from service.api.attainment import (
    AsOf,
    Attainment,
    AttainmentTable,
    attainment_table,
    owner_numbers,
    version_numbers,
)
from service.api.audit import AuditEntryConnection, audit_trail
from service.api.context import Context
from service.api.errors import UserError
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.nodes import (
    NodeTable,
    SliceInput,
    TargetNode,
    TargetNodeConnection,
    prepare_nodes,
    slice_pairs,
)
from service.api.owners import Owner, VersionOwners
from service.api.pagination import (
    After,
    Before,
    Connection,
    First,
    Last,
    constant,
    page_args,
)
from service.api.reviews import Review, ReviewConnection, reviews_connection
from service.api.scalars import Amount, BigIntID, describe_enum
from service.api.wrap import RowNode, wrap, wraps
from service.db.models import PlanVersion as VersionRow
from service.domain.money import format_amount
from service.domain.paging import Page, PageRequest
from service.domain.tree import InvalidInputError, VersionState
from service.domain.versions import ChangeAspect, ChangeKind
from service.plans import nodes as node_reads
from service.plans import versions as usecases
from service.plans.attainment import DEFAULT_ALERTS, MAX_ALERTS, RankBy
from service.plans.audit import AuditScope

if TYPE_CHECKING:
    from service.api.plans import Plan

describe_enum(
    VersionState,
    "Where a version stands in its lifecycle; only drafts change.",
    {
        "DRAFT": "Being edited.",
        "SUBMITTED": "Submitted for review (reject sends it back to DRAFT).",
        "APPROVED": "Approved, ready to publish.",
        "PUBLISHED": "The plan's current targets; at most one version is published.",
        "ARCHIVED": "Kept for history, read-only forever.",
    },
)
describe_enum(
    ChangeKind,
    "How a node differs between two versions.",
    {
        "ADDED": "Only in the other version.",
        "REMOVED": "Only in the base version.",
        "CHANGED": "In both, with the aspects listed changed.",
    },
)
describe_enum(
    ChangeAspect,
    "What changed on a node present in both versions.",
    {
        "TARGET": "Its target amount.",
        "SPLIT": "How it is split (dimension, method or inputs).",
        "LOCK": "Locked or unlocked.",
        "BOUNDS": "Its floor or cap.",
        "OWNER": "Its owner.",
        "STRATEGY": "Its execution strategy.",
        "KPIS": "Its KPI targets.",
        "POSITION": "Its parent or slice.",
    },
)


SubtreeRoot = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="The subtree's root; the version's root when null."),
]
SubtreeDepth = Annotated[
    int | None,
    strawberry.argument(
        description="Levels below the subtree's root "
        f"(0 to {node_reads.MAX_TREE_DEPTH}); null: all."
    ),
]
"""The arguments that choose a subtree (``subtree`` and ``attainmentTable`` alike)."""


@wraps(VersionRow)
@strawberry.type(description="A numbered version of a plan. Only drafts change.")
class PlanVersion(RowNode):
    row: strawberry.Private[VersionRow]
    loader = "version_by_id"

    @strawberry.field(description="1, 2, 3 ... within the plan.")
    def number(self) -> int:
        return self.row.number

    @strawberry.field(description="Display name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Lifecycle state.")
    def state(self) -> VersionState:
        return VersionState(self.row.state)

    @strawberry.field(
        description="Changes with every edit of the version. Send it back with your next "
        "edit: a stale revision is a CONFLICT, never a silent overwrite."
    )
    def revision(self) -> int:
        return self.row.revision

    @strawberry.field(description="Token subject of the creator.")
    def created_by(self) -> str:
        return self.row.created_by

    @strawberry.field(description="When the version was created.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="The version this one was copied from; null for version 1.")
    async def copied_from(self, info: Info[Context, None]) -> PlanVersion | None:
        if self.row.copied_from_id is None:
            return None
        row = await info.context.loaders.version_by_id.load(self.row.copied_from_id)
        return PlanVersion(row=row) if row else None

    @strawberry.field(description="The plan this version belongs to.")
    async def plan(
        self, info: Info[Context, None]
    ) -> Annotated[Plan, strawberry.lazy("service.api.plans")]:
        row = await info.context.loaders.plan_by_id.load(self.row.plan_id)
        assert row is not None
        return cast("Plan", wrap(row))

    @strawberry.field(
        description="Nodes whose slice holds every given coordinate, or a member below it in "
        "its hierarchy (e.g. region East and quarter FY2027-Q1 also find East/Shanghai in "
        "FY2027-M02), in tree order. With `exact` only the node whose slice is exactly "
        "those coordinates: a lookup by slice without the node's id. The root's fiscal year "
        "is implicit: leave the year out."
    )
    async def nodes(
        self,
        info: Info[Context, None],
        slice: Annotated[
            list[SliceInput] | None,
            strawberry.argument(
                description=f"Coordinates the slice must contain (at most "
                f"{node_reads.MAX_SLICE_COORDINATES})."
            ),
        ] = None,
        exact: Annotated[
            bool,
            strawberry.argument(description="Only the node whose slice is exactly these."),
        ] = False,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> TargetNodeConnection:
        request = page_args("nodes", (str,), first, after, last, before)
        pairs = slice_pairs(slice)
        db, version_id = info.context.db, self.row.id
        page = await node_reads.nodes_page(db, version_id, pairs, exact, request)
        return TargetNodeConnection.of(
            page,
            "nodes",
            lambda row: TargetNode(row=row),
            lambda: node_reads.nodes_count(db, version_id, pairs, exact),
            await prepare_nodes(info, list(page.items), ("edges", "node"), ("nodes",)),
        )

    @strawberry.field(
        description="A whole subtree in one compact, columnar payload for clients that build "
        f"the tree themselves (treemaps, pivots): at most {node_reads.MAX_BULK_NODES} nodes. "
        "See NodeTable for the columns."
    )
    async def subtree(
        self,
        info: Info[Context, None],
        root_id: SubtreeRoot = None,
        max_depth: SubtreeDepth = None,
    ) -> NodeTable:
        root_key = self._root_key(root_id)
        table = await info.context.loaders.subtree(self.row.id, root_key, max_depth)
        plan = await info.context.loaders.plan_by_id.load(self.row.plan_id)
        assert plan is not None
        return NodeTable.of(table, plan.minor_digits)

    @strawberry.field(
        description="The attainment of every node of a subtree as of a date, in one columnar "
        "payload whose rows are those of `subtree` with the same arguments: status colours "
        f"for a whole tree without a query per node (at most {node_reads.MAX_BULK_NODES} "
        "nodes). See AttainmentTable for the columns."
    )
    async def attainment_table(
        self,
        info: Info[Context, None],
        as_of: AsOf = None,
        root_id: SubtreeRoot = None,
        max_depth: SubtreeDepth = None,
    ) -> AttainmentTable:
        return await attainment_table(info, self.row.id, self._root_key(root_id), max_depth, as_of)

    def _root_key(self, root_id: strawberry.ID | None) -> int | None:
        if root_id is None:
            return None
        version_id, root_key = ids.decode_node(root_id, "rootId")
        if version_id != self.row.id:
            raise InvalidInputError(
                "INVALID_VALUE", "`rootId` is a node of another version", "rootId"
            )
        return root_key

    @strawberry.field(
        description="Who holds what in this version: owners with their totals, and the leaves "
        "nobody owns."
    )
    async def owners(self, info: Info[Context, None]) -> VersionOwners:
        return await VersionOwners.of(info, self.row.id)

    @strawberry.field(description="Every recorded change of this version, oldest first.")
    async def audit_trail(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> AuditEntryConnection:
        scope = AuditScope(version_id=self.row.id)
        return await audit_trail(info, scope, first, after, last, before)

    @strawberry.field(
        description="Reviews (复盘) of this version's nodes, in the order they were recorded."
    )
    async def reviews(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ReviewConnection:
        return await reviews_connection(info, self.row.id, None, first, after, last, before)

    @strawberry.field(
        description="A re-plan (versionReplan): the day up to which actuals were taken; null "
        "for other versions."
    )
    def replan_as_of(self) -> date | None:
        return self.row.replan_as_of

    @strawberry.field(description="A re-plan: the review that prompted it, when one was named.")
    async def replan_review(self, info: Info[Context, None]) -> Review | None:
        if self.row.replan_review_id is None:
            return None
        row = await info.context.loaders.review_by_id.load(self.row.replan_review_id)
        return Review(row=row) if row else None

    @strawberry.field(
        description='Nodes ranked furthest behind first ("who is furthest behind"), by '
        "pace or gap as of a date; ties in tree order. Read each node's `attainment(asOf:)` "
        "with the same date: it costs nothing more."
    )
    async def attainment_ranking(
        self,
        info: Info[Context, None],
        as_of: AsOf = None,
        by: Annotated[RankBy, strawberry.argument(description="The order.")] = RankBy.PACE,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> TargetNodeConnection:
        request = page_args("ranking", (int,), first, after, last, before)
        numbers = await version_numbers(info, self.row.id, as_of)
        ranked = numbers.ranked(by)
        page = rank_page(ranked, request)
        rows = await info.context.loaders.node_by_id.load_many(
            [(self.row.id, k) for k in page.items]
        )
        found = [r for r in rows if r is not None]
        return TargetNodeConnection.of(
            Page(found, page.keys, page.has_next, page.has_previous),
            "ranking",
            lambda row: TargetNode(row=row),
            constant(len(ranked)),
            await prepare_nodes(info, found, ("edges", "node"), ("nodes",)),
        )

    @strawberry.field(
        description="Owners ranked furthest behind first, by pace or gap as of a date (ties by "
        "owner id)."
    )
    async def owner_ranking(
        self,
        info: Info[Context, None],
        as_of: AsOf = None,
        by: Annotated[RankBy, strawberry.argument(description="The order.")] = RankBy.PACE,
    ) -> list[OwnerStanding]:
        numbers = await owner_numbers(info, self.row.id, as_of)
        ranked = numbers.ranked_owners(by)
        rows = await info.context.loaders.owner_by_id.load_many(ranked)
        every = numbers.owners()
        return [
            OwnerStanding(owner=Owner(row=r), attainment=Attainment.of(every[o], numbers.digits))
            for o, r in zip(ranked, rows, strict=True)
            if r is not None
        ]

    @strawberry.field(
        description="Nodes behind pace beyond a threshold, lowest pace first, each with the "
        "numbers that put it there: for a dashboard. Nodes whose period has not started are "
        f"left out. At most `first` ({DEFAULT_ALERTS} by default, at most {MAX_ALERTS})."
    )
    async def alerts(
        self,
        info: Info[Context, None],
        as_of: AsOf = None,
        below_pace: Annotated[
            Decimal | None,
            strawberry.argument(
                description="List nodes whose pace is below this; the plan's alertPace when null."
            ),
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(description=f"At most this many (1 to {MAX_ALERTS})."),
        ] = None,
    ) -> list[AttainmentAlert]:
        size = DEFAULT_ALERTS if first is None else first
        if not 1 <= size <= MAX_ALERTS:
            raise InvalidInputError(
                "OUT_OF_RANGE", f"`first` must be between 1 and {MAX_ALERTS}", "first"
            )
        if below_pace is not None and not below_pace > 0:
            raise InvalidInputError("OUT_OF_RANGE", "`belowPace` must be above 0", "belowPace")
        numbers = await version_numbers(info, self.row.id, as_of)
        keys = numbers.alerts(below_pace)[:size]
        rows = await info.context.loaders.node_by_id.load_many([(self.row.id, k) for k in keys])
        nodes = await prepare_nodes(info, [r for r in rows if r is not None], ("node",))
        threshold = below_pace if below_pace is not None else numbers.thresholds.alert
        out = []
        for node in nodes:
            found = numbers.node(node.row.key)
            assert found is not None
            out.append(
                AttainmentAlert(
                    node=node,
                    attainment=Attainment.of(found, numbers.digits),
                    threshold=threshold,
                )
            )
        return out

    @strawberry.field(
        description="Diagnostic findings of the whole version: the decomposition mistakes of "
        "the five dimensions, with the numbers that tripped them (tree order). See the "
        "README's 'Diagnostics'."
    )
    async def diagnostics(
        self,
        info: Info[Context, None],
        as_of: diagnostics_api.AsOf = None,
        severities: diagnostics_api.Severities = None,
        codes: diagnostics_api.Codes = None,
        first: diagnostics_api.First = None,
    ) -> list[diagnostics_api.Finding]:
        found = await diagnostics_api.version_diagnostics(info, self.row.id, as_of)
        return diagnostics_api.findings(
            found, keys=None, severities=severities, codes=codes, first=first
        )

    @strawberry.field(
        description="Readiness: which dimensions the tree decomposes along and how deep, the "
        "share of the target with an owner, and whether the monitoring loop runs."
    )
    async def readiness(
        self, info: Info[Context, None], as_of: diagnostics_api.AsOf = None
    ) -> diagnostics_api.Readiness:
        return await diagnostics_api.readiness(info, self.row.id, as_of)

    @strawberry.field(description="The root node: the whole target of the version.")
    async def root(self, info: Info[Context, None]) -> TargetNode | None:
        row = await info.context.loaders.root_by_version_id.load(self.row.id)
        return TargetNode(row=row) if row else None


@strawberry.type(description="A node behind pace, with the numbers that put it there.")
class AttainmentAlert:
    node: TargetNode = strawberry.field(description="The node.")
    attainment: Attainment = strawberry.field(
        description="Its numbers: pace = actual / targetToDate is below the threshold."
    )
    threshold: Decimal = strawberry.field(description="The pace it fell below.")


@strawberry.type(description="An owner's attainment in a version.")
class OwnerStanding:
    owner: Owner = strawberry.field(description="The owner.")
    attainment: Attainment = strawberry.field(description="Their numbers (see OwnerQuota).")


def rank_page(ranked: list[int], request: PageRequest) -> Page[int]:
    """A page of a ranking by position (cursor: the 0-based rank)."""
    low = int(request.after[0]) + 1 if request.after is not None else 0
    high = int(request.before[0]) if request.before is not None else len(ranked)
    low, high = max(low, 0), min(high, len(ranked))
    if request.backward:
        start = max(low, high - request.size)
        end = high
    else:
        start = low
        end = min(high, low + request.size)
    return Page(
        items=ranked[start:end],
        keys=[(i,) for i in range(start, end)],
        has_next=end < high,
        has_previous=start > low,
    )


@strawberry.type(description="A page of versions, by number.")
class PlanVersionConnection(Connection[PlanVersion]):
    pass


@strawberry.type(description="One node that differs between two versions, matched by key.")
class NodeChange:
    key: BigIntID = strawberry.field(description="The node's stable key.")
    kind: ChangeKind = strawberry.field(description="Added, removed or changed.")
    aspects: list[ChangeAspect] = strawberry.field(
        description="What changed, for CHANGED nodes; empty for ADDED and REMOVED."
    )
    base: TargetNode | None = strawberry.field(description="The node in the base version.")
    other: TargetNode | None = strawberry.field(description="The node in the other version.")
    old_target: Amount | None = strawberry.field(description="Target in base; null when added.")
    new_target: Amount | None = strawberry.field(description="Target in other; null when removed.")
    delta: Amount | None = strawberry.field(
        description="The difference newTarget - oldTarget; null when added or removed."
    )


@strawberry.type(description="What differs between two versions of a plan.")
class VersionDiff:
    base: PlanVersion = strawberry.field(description="The base version.")
    other: PlanVersion = strawberry.field(description="The version compared with it.")
    changes: list[NodeChange] = strawberry.field(
        description=f"Changed nodes in key order, at most {usecases.MAX_DIFF_ROWS}."
    )
    truncated: bool = strawberry.field(description="True when more changes exist.")

    @classmethod
    def of(cls, result: usecases.VersionDiff) -> VersionDiff:
        digits = result.plan.minor_digits

        def amount(value: int | None) -> Amount | None:
            return None if value is None else Amount(format_amount(value, digits))

        return cls(
            base=PlanVersion(row=result.base),
            other=PlanVersion(row=result.other),
            changes=[
                NodeChange(
                    key=BigIntID(str(c.key)),
                    kind=c.diff.kind,
                    aspects=list(c.diff.aspects),
                    base=TargetNode(row=c.base) if c.base else None,
                    other=TargetNode(row=c.other) if c.other else None,
                    old_target=amount(c.diff.old_target),
                    new_target=amount(c.diff.new_target),
                    delta=amount(c.diff.delta),
                )
                for c in result.changes
            ],
            truncated=result.truncated,
        )


@strawberry.type
class VersionQueries:
    @strawberry.field(description="One plan version by id; null when there is none.")
    async def plan_version(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The version's id.")],
    ) -> PlanVersion | None:
        row = await info.context.loaders.version_by_id.load(ids.decode(id, "PlanVersion", "id"))
        return PlanVersion(row=row) if row else None

    @strawberry.field(
        description="Nodes added, removed and changed between two versions of one plan, "
        "matched by their stable keys, with old and new targets."
    )
    async def version_diff(
        self,
        info: Info[Context, None],
        base: Annotated[strawberry.ID, strawberry.argument(description="The base version.")],
        other: Annotated[
            strawberry.ID, strawberry.argument(description="The version compared with it.")
        ],
    ) -> VersionDiff:
        result = await usecases.diff(
            info.context.db,
            base_id=ids.decode(base, "PlanVersion", "base"),
            other_id=ids.decode(other, "PlanVersion", "other"),
        )
        return VersionDiff.of(result)


# --- mutations -----------------------------------------------------------------------


@strawberry.input(description="Copy a version into a new draft (copy-on-write).")
class VersionCreateDraftInput:
    from_: strawberry.ID = strawberry.field(
        name="from", description="The version to copy: any state, any age."
    )
    name: str | None = strawberry.field(default=None, description="Name of the new draft.")
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )

    def command(self) -> usecases.DraftCreate:
        return usecases.DraftCreate(
            source_id=ids.decode(self.from_, "PlanVersion", "from"), name=self.name
        )


@strawberry.input(description="Move a version along its lifecycle.")
class VersionTransitionInput:
    id: strawberry.ID = strawberry.field(description="The version.")
    revision: int = strawberry.field(
        description="The version's revision you last read; a stale one is a CONFLICT."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why (required to reject; kept with the change)."
    )

    def command(self) -> usecases.VersionTransition:
        return usecases.VersionTransition(
            version_id=ids.decode(self.id, "PlanVersion", "id"),
            revision=self.revision,
            reason=self.reason,
        )


@strawberry.type(description="Result of a version mutation.")
class VersionPayload(Payload[usecases.TransitionResult]):
    version: PlanVersion | None = strawberry.field(description="The version, as changed.")
    archived: list[PlanVersion] | None = strawberry.field(
        description="Versions archived by this change (publishing archives the previous one)."
    )
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, done: usecases.TransitionResult) -> VersionPayload:
        return cls(
            version=PlanVersion(row=done.version),
            archived=[PlanVersion(row=v) for v in done.archived],
            user_errors=[],
        )


@strawberry.type(description="Result of versionCreateDraft.")
class VersionCreateDraftPayload(Payload[VersionRow]):
    version: PlanVersion | None = strawberry.field(description="The new draft.")
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, row: VersionRow) -> VersionCreateDraftPayload:
        return cls(version=PlanVersion(row=row), user_errors=[])


@strawberry.type
class VersionMutations:
    @strawberry.mutation(
        description="Copy any version into a new draft; node keys survive the copy, so nodes "
        "can be followed and diffed across versions."
    )
    async def version_create_draft(
        self, info: Info[Context, None], input: Annotated[VersionCreateDraftInput, INPUT]
    ) -> VersionCreateDraftPayload:
        return await mutate(
            info,
            usecases.create_draft,
            input.command,
            VersionCreateDraftPayload,
            reason=input.reason,
        )

    @strawberry.mutation(description="DRAFT → SUBMITTED (planner or admin).")
    async def version_submit(
        self, info: Info[Context, None], input: Annotated[VersionTransitionInput, INPUT]
    ) -> VersionPayload:
        return await mutate(
            info, usecases.submit, input.command, VersionPayload, reason=input.reason
        )

    @strawberry.mutation(description="SUBMITTED → DRAFT with a reason (admin).")
    async def version_reject(
        self, info: Info[Context, None], input: Annotated[VersionTransitionInput, INPUT]
    ) -> VersionPayload:
        return await mutate(
            info, usecases.reject, input.command, VersionPayload, reason=input.reason
        )

    @strawberry.mutation(description="SUBMITTED → APPROVED (admin).")
    async def version_approve(
        self, info: Info[Context, None], input: Annotated[VersionTransitionInput, INPUT]
    ) -> VersionPayload:
        return await mutate(
            info, usecases.approve, input.command, VersionPayload, reason=input.reason
        )

    @strawberry.mutation(
        description="APPROVED → PUBLISHED (admin); the plan's previously published version is "
        "archived in the same step."
    )
    async def version_publish(
        self, info: Info[Context, None], input: Annotated[VersionTransitionInput, INPUT]
    ) -> VersionPayload:
        return await mutate(
            info, usecases.publish, input.command, VersionPayload, reason=input.reason
        )

    @strawberry.mutation(description="PUBLISHED or DRAFT → ARCHIVED (admin); read-only forever.")
    async def version_archive(
        self, info: Info[Context, None], input: Annotated[VersionTransitionInput, INPUT]
    ) -> VersionPayload:
        return await mutate(
            info, usecases.archive, input.command, VersionPayload, reason=input.reason
        )
