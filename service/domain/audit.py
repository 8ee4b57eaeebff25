"""The audit trail's vocabulary: which change an entry records, and how its values read.

An entry's ``before`` and ``after`` keep amounts as stored, in integer minor
units. ``display_values`` turns them into what a client reads: decimal strings
in the plan's units ("1250000.00"), never integers of minor units (a JavaScript
client reads integers above 2**53 wrong). Amounts are the values under the
keys in ``AMOUNT_KEYS`` (at any depth) and the values of the ``rows`` and
``columns`` maps of a two-way split.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from service.domain.money import format_amount


class AuditAction(StrEnum):
    """The change an audit entry records: the mutation that made it (values are the
    mutation names, as stored)."""

    PLAN_CREATE = "planCreate"
    NODE_SPLIT = "nodeSplit"
    NODE_SPLIT_MATRIX = "nodeSplitMatrix"
    NODE_UNSPLIT = "nodeUnsplit"
    NODE_SET_TARGET = "nodeSetTarget"
    NODE_LOCK = "nodeLock"
    NODE_UNLOCK = "nodeUnlock"
    NODE_UPDATE = "nodeUpdate"
    NODE_ASSIGN_OWNER = "nodeAssignOwner"
    VERSION_CREATE_DRAFT = "versionCreateDraft"
    VERSION_SUBMIT = "versionSubmit"
    VERSION_REJECT = "versionReject"
    VERSION_APPROVE = "versionApprove"
    VERSION_PUBLISH = "versionPublish"
    VERSION_ARCHIVE = "versionArchive"
    DIMENSION_CREATE = "dimensionCreate"
    MEMBER_CREATE = "memberCreate"
    MEMBERS_CREATE = "membersCreate"
    MEMBER_UPDATE = "memberUpdate"
    MEMBER_MOVE = "memberMove"
    MEMBER_RETIRE = "memberRetire"
    OWNER_CREATE = "ownerCreate"
    TEAM_CREATE = "teamCreate"
    TEAM_ADD_MEMBER = "teamAddMember"
    REVIEW_CREATE = "reviewCreate"
    VERSION_REPLAN = "versionReplan"
    ACTUALS_IMPORT = "actualsImport"
    OPPORTUNITIES_IMPORT = "opportunitiesImport"
    MARKET_SIZES_IMPORT = "marketSizesImport"
    PLAN_SETTINGS_UPDATE = "planSettingsUpdate"


AMOUNT_KEYS = frozenset(
    {"target", "floor", "cap", "amount", "averageOrderValue", "previous", "final"}
)
"""Keys whose integer values are amounts in minor units, wherever they appear."""
AMOUNT_MAPS = frozenset({"rows", "columns"})
"""Keys whose values map labels to amounts (a two-way split's margins)."""


def display_values(value: Any, digits: int | None) -> Any:
    """``value`` with every amount as a decimal string in the plan's units.

    ``digits`` is the plan's number of decimals; ``None`` (an entry of no plan:
    dimensions, members, owners) leaves the value as it is.
    """
    if digits is None:
        return value
    return _display(value, digits, amount=False)


def _display(value: Any, digits: int, *, amount: bool) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return format_amount(value, digits) if amount else value
    if isinstance(value, Mapping):
        return {
            key: (
                {k: _display(v, digits, amount=True) for k, v in item.items()}
                if key in AMOUNT_MAPS and isinstance(item, Mapping)
                else _display(item, digits, amount=key in AMOUNT_KEYS)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_display(item, digits, amount=amount) for item in value]
    return value
