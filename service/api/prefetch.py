"""Answering cheap fields without a task each.

graphql-core runs every awaitable field as an asyncio task, which costs several
times a plain field. So list fields load, before they return, the rows their
items' cheap fields read (see ``service.api.nodes.prepare_nodes``), and those
fields return a plain value when the rows are in the request's DataLoaders
(``MaybeAwaitable``), an awaitable only otherwise. Such fields name their
GraphQL type with ``graphql_type``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeAlias, TypeVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from strawberry.types import Info

from service.api.context import Context
from service.api.loaders import cached
from service.api.scalars import Amount
from service.db.models import Plan
from service.domain.money import format_amount

T = TypeVar("T")
MaybeAwaitable: TypeAlias = T | Awaitable[T]


async def plan_of(info: Info[Context, None], plan_id: int) -> Plan:
    plan = await info.context.loaders.plan_by_id.load(plan_id)
    if plan is None:  # foreign keys forbid it
        raise RuntimeError(f"plan {plan_id} is gone")
    return plan


def money(info: Info[Context, None], plan_id: int, value: int) -> MaybeAwaitable[Amount]:
    """``value`` (minor units) as a decimal string in the plan's units."""
    plan = cached(info.context.loaders.plan_by_id, plan_id)
    if plan is not None:
        return Amount(format_amount(value, plan.minor_digits))
    return money_later(info, plan_id, value)


async def money_later(info: Info[Context, None], plan_id: int, value: int) -> Amount:
    plan = await plan_of(info, plan_id)
    return Amount(format_amount(value, plan.minor_digits))


def optional_money(
    info: Info[Context, None], plan_id: int, value: int | None
) -> MaybeAwaitable[Amount | None]:
    return None if value is None else money(info, plan_id, value)


def _selected(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    path: Sequence[str],
) -> set[str]:
    """Names of the fields selected at ``path`` below ``selection_set`` (fragments
    flattened; directives ignored, as strawberry's ``selected_fields`` does)."""
    names: set[str] = set()
    if selection_set is None:
        return names
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if not path:
                names.add(selection.name.value)
            elif selection.name.value == path[0]:
                names |= _selected(selection.selection_set, fragments, path[1:])
        elif isinstance(selection, InlineFragmentNode):
            names |= _selected(selection.selection_set, fragments, path)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                names |= _selected(fragment.selection_set, fragments, path)
    return names


def selected_here(info: Info[Context, None], *path: str) -> set[str]:
    """Names selected at ``path`` below the current field (all its merged selections).

    Read from the document itself: strawberry's ``info.selected_fields`` converts the
    whole selection below the field (arguments, directives) on every call."""
    raw = info._raw_info
    names: set[str] = set()
    for node in raw.field_nodes:
        names |= _selected(node.selection_set, raw.fragments, path)
    return names
