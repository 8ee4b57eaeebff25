"""The audit trail: entries and their connections."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from service.api.context import Context
from service.api.pagination import Connection, page_args
from service.api.scalars import BigIntID, describe_enum
from service.api.wrap import RowNode, wraps
from service.db.models import AuditEntry as AuditRow
from service.domain.audit import AuditAction, display_values
from service.plans import audit

describe_enum(
    AuditAction,
    "The change an audit entry records: the mutation that made it.",
    {
        "PLAN_CREATE": "planCreate: a new plan with its version 1 and root.",
        "NODE_SPLIT": "nodeSplit: a node split along one dimension.",
        "NODE_SPLIT_MATRIX": "nodeSplitMatrix: a node split along two dimensions at once.",
        "NODE_UNSPLIT": "nodeUnsplit: a node's subtree removed.",
        "NODE_SET_TARGET": "nodeSetTarget: a node's target set (and the targets it moved).",
        "NODE_LOCK": "nodeLock: a node locked.",
        "NODE_UNLOCK": "nodeUnlock: a node unlocked.",
        "NODE_UPDATE": "nodeUpdate: a node's bounds, strategy or KPI targets.",
        "NODE_ASSIGN_OWNER": "nodeAssignOwner: a node's owner.",
        "VERSION_CREATE_DRAFT": "versionCreateDraft: a version copied into a new draft.",
        "VERSION_SUBMIT": "versionSubmit: a draft submitted for review.",
        "VERSION_REJECT": "versionReject: a submitted version sent back to draft.",
        "VERSION_APPROVE": "versionApprove: a submitted version approved.",
        "VERSION_PUBLISH": "versionPublish: an approved version published.",
        "VERSION_ARCHIVE": "versionArchive: a version archived.",
        "DIMENSION_CREATE": "dimensionCreate: a new dimension.",
        "MEMBER_CREATE": "memberCreate: a new member.",
        "MEMBERS_CREATE": "membersCreate (or a file import): members created or updated.",
        "MEMBER_UPDATE": "memberUpdate: a member renamed, re-coded, reordered or re-attributed.",
        "MEMBER_MOVE": "memberMove: a member moved under another parent.",
        "MEMBER_RETIRE": "memberRetire: a member retired.",
        "OWNER_CREATE": "ownerCreate: a new person.",
        "TEAM_CREATE": "teamCreate: a new team.",
        "TEAM_ADD_MEMBER": "teamAddMember: a person added to a team.",
        "REVIEW_CREATE": "reviewCreate: a review of a node and period recorded.",
        "VERSION_REPLAN": "versionReplan: a new draft re-planned from the actuals (one entry "
        "for the version, one per node whose target moved).",
        "ACTUALS_IMPORT": "actualsImport (or quotatree import actuals): a batch of sales.",
        "OPPORTUNITIES_IMPORT": "opportunitiesImport: a batch of opportunity outcomes.",
        "MARKET_SIZES_IMPORT": "marketSizesImport: a batch of market sizes.",
        "PLAN_SETTINGS_UPDATE": "planSettingsUpdate: a plan's attainment thresholds changed.",
    },
)


@wraps(AuditRow)
@strawberry.type(
    description="One recorded change: who, when, where, what it was before and after, and why. "
    "The trail is append-only."
)
class AuditEntry(RowNode):
    row: strawberry.Private[AuditRow]
    loader = "audit_entry_by_id"

    @strawberry.field(description="Sequence number: later changes have larger ones.")
    def sequence(self) -> BigIntID:
        return BigIntID(str(self.row.id))

    @strawberry.field(description="When the change was committed.")
    def at(self) -> datetime:
        return self.row.at

    @strawberry.field(description="Token subject of who changed it.")
    def actor(self) -> str:
        return self.row.actor

    @strawberry.field(description="The mutation that made the change.")
    def action(self) -> AuditAction:
        return AuditAction(self.row.action)

    @strawberry.field(description="Key of the node changed, when a node was.")
    def node_key(self) -> BigIntID | None:
        return None if self.row.node_key is None else BigIntID(str(self.row.node_key))

    @strawberry.field(
        description="The values before, as a JSON object; amounts are decimal strings in the "
        "plan's currency or unit."
    )
    async def before(self, info: Info[Context, None]) -> JSON | None:
        return cast("JSON | None", display_values(self.row.before, await self._digits(info)))

    @strawberry.field(
        description="The values after, as a JSON object; amounts are decimal strings in the "
        "plan's currency or unit."
    )
    async def after(self, info: Info[Context, None]) -> JSON | None:
        return cast("JSON | None", display_values(self.row.after, await self._digits(info)))

    async def _digits(self, info: Info[Context, None]) -> int | None:
        if self.row.plan_id is None:
            return None
        plan = await info.context.loaders.plan_by_id.load(self.row.plan_id)
        return None if plan is None else plan.minor_digits

    @strawberry.field(description="The reason the caller gave.")
    def reason(self) -> str | None:
        return self.row.reason

    @strawberry.field(description="Request id of the change (the logs carry it too).")
    def request_id(self) -> str | None:
        return self.row.request_id


@strawberry.type(description="A page of audit entries, oldest first.")
class AuditEntryConnection(Connection[AuditEntry]):
    pass


async def audit_trail(
    info: Info[Context, None],
    scope: audit.AuditScope,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> AuditEntryConnection:
    """The connection of a version's, node's or owner's audit entries."""
    request = page_args("audit", (int,), first, after, last, before)
    loaders = info.context.loaders
    page = await loaders.audit_page(scope, request)
    return AuditEntryConnection.of(
        page, "audit", lambda row: AuditEntry(row=row), lambda: loaders.audit_count(scope)
    )
