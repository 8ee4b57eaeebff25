"""Query cost and time budget: what one request may ask of the server.

The cost model is the one GitHub and Shopify publish, sized by our lists:

- every object the response can hold costs 1; scalars and enums cost 0;
- a list multiplies the cost of one item by its size, and nested lists multiply:
  a connection by its page (``first`` or ``last``, at most 500), a plain list by
  its declared size (``DECLARED`` below);
- a list whose size the client did not choose and the server does not bound
  tightly (a connection without ``first``/``last``, a node's children, a
  member's descendants) counts at an *assumed* size in the estimate and is
  *measured* while the query runs (see below);
- an interface or union costs what its most expensive possible type costs;
- fragments and inline fragments count like the fields they hold; fields that
  merge into one response key count once; ``@skip``/``@include`` are ignored
  (the field counts);
- the bulk subtree read (``PlanVersion.subtree``) costs 1 per
  ``BULK_ROWS_PER_UNIT`` rows it may return, from ``maxDepth``: a columnar row is
  a fraction of the work of a typed object;
- introspection (``__schema``, ``__type``) costs what the schema's description holds.

Each distinct document is compiled once (cached by document, as the parser and
validation caches are) into a small expression of its variables; a request only
evaluates it, so ``first: $n`` is costed with the request's ``n``.

Two checks hold ``QUOTATREE_MAX_QUERY_COST``:

1. Before execution, the *requested* cost (every list at its page, declared or
   assumed size) must not exceed it; otherwise nothing runs and the client gets
   ``QUERY_TOO_COSTLY`` with the cost and the maximum.
2. While the query runs, each measured list adds its real length times the cost
   of one item (its own measured lists excluded: they count themselves). When
   that *actual* cost passes the maximum, the operation is cancelled at once,
   before the oversized list is turned into objects, with ``QUERY_TOO_COSTLY``.
   A mutation's payload is only counted, never cut: its change is made.

Every costed response reports ``extensions.cost``: ``requested``, ``actual`` and
``maximum``.

The time budget (``QUOTATREE_REQUEST_TIMEOUT_SECONDS``) cancels an operation that
runs too long: its task is cancelled, which cancels the SQL statement in flight
(asyncpg sends PostgreSQL a cancel request) and rolls back a mutation's
transaction; the client gets ``TIMEOUT``. Once a mutation's use case has
returned (committed or refused), the budget no longer cuts its response, so a
client is never told "cancelled" about a change that was made.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from inspect import isawaitable
from typing import Any, TypeAlias

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
    is_leaf_type,
    value_from_ast_untyped,
)
from graphql.language import Visitor, visit
from strawberry.extensions import SchemaExtension

from service.api.errors import PublicError
from service.api.refetch import MAX_REFETCH
from service.domain.facts import MAX_REPORTED_ERRORS
from service.domain.hierarchy import MAX_BULK_ROWS
from service.domain.members import MAX_DEPTH as MAX_MEMBER_DEPTH
from service.domain.paging import MAX_PAGE
from service.domain.tree import MAX_SPLIT_MEMBERS
from service.plans.attainment import DEFAULT_ALERTS, MAX_ALERTS
from service.plans.diagnostics import DEFAULT_FINDINGS, MAX_FINDINGS, MAX_UNOWNED_LEAVES
from service.plans.nodes import MAX_BULK_NODES
from service.plans.owners import MAX_HELD, MAX_UNOWNED
from service.plans.versions import MAX_DIFF_ROWS

TOO_COSTLY = "QUERY_TOO_COSTLY"
TIMEOUT = "TIMEOUT"

BULK_ROWS_PER_UNIT = 2
"""Rows of a columnar bulk read that cost as much as one typed object. Measured on the
1,111-node tree of tests/api/test_tree_reads.py: a subtree row takes about half the
server time of one typed object in a page of nodes (both with their SQL)."""

ASSUMED_PAGE = 10
"""Items assumed in a connection without `first`/`last` (it returns at most the default
page of 50) and in a plain list with no declared size: measured as they resolve."""

EDGES = ("edges", "nodes")
"""The list fields of a connection, sized by its page."""

COMPILED_DOCUMENTS = 512
"""Documents whose compiled cost is kept (as many as the parser and validation caches)."""


# --- declarations --------------------------------------------------------------------


Size: TypeAlias = "int | Callable[[Mapping[str, Any]], int]"
"""A list's size: a number, or a function of the field's ``arguments`` (variables resolved)."""


@dataclass(frozen=True)
class Bounded:
    """A list the server never lets grow past ``size``: costed at ``size``."""

    size: Size
    why: str
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measured:
    """A list whose size only the data knows.

    The estimate before execution takes ``assumed`` items; while the query runs
    the real length is counted, and the operation stops when the cost goes over
    the maximum. ``max`` is a hard bound the server enforces, when there is one
    (documentation only: it is too loose to cost by).
    """

    assumed: Size
    why: str
    max: int | None = None
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bulk:
    """One field that carries many rows in a compact payload (JSON columns).

    ``rows`` gives the most rows the field may return from its arguments
    (variables resolved); the field costs 1 per ``BULK_ROWS_PER_UNIT`` rows on
    top of the object it returns.
    """

    rows: Callable[[Mapping[str, Any]], int]
    arguments: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Blob:
    """A JSON value or a list of scalars holding one object's own data (small): no
    cost beyond its object.

    ``sized_by_parent``: the value's size is charged on the field that returns
    its object (which must then be declared ``Bulk``).
    """

    why: str
    sized_by_parent: bool = False


Declaration: TypeAlias = Bounded | Measured | Bulk | Blob


def subtree_rows(arguments: Mapping[str, Any]) -> int:
    """Most rows of ``PlanVersion.subtree``: at most 1000 children per node, capped."""
    depth = arguments.get("maxDepth")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth >= 2:
        return MAX_BULK_NODES
    return 1 if depth <= 0 else min(MAX_BULK_NODES, 1 + MAX_SPLIT_MEMBERS)


def refetch_size(arguments: Mapping[str, Any]) -> int:
    """``Query.nodes(ids:)`` returns one item per id, at most ``MAX_REFETCH``."""
    ids = arguments.get("ids")
    return min(len(ids), MAX_REFETCH) if isinstance(ids, list) else MAX_REFETCH


def _alerts_size(arguments: Mapping[str, Any]) -> int:
    """``PlanVersion.alerts`` returns at most ``first`` alerts (50 by default, at most 500)."""
    first = arguments.get("first")
    if isinstance(first, int) and not isinstance(first, bool) and first > 0:
        return min(first, MAX_ALERTS)
    return DEFAULT_ALERTS


def _findings_size(arguments: Mapping[str, Any]) -> int:
    """Diagnostics return at most ``first`` findings (100 by default, at most 1000)."""
    first = arguments.get("first")
    if isinstance(first, int) and not isinstance(first, bool) and first > 0:
        return min(first, MAX_FINDINGS)
    return DEFAULT_FINDINGS


def _unowned_size(arguments: Mapping[str, Any]) -> int:
    first = arguments.get("first")
    if isinstance(first, int) and not isinstance(first, bool) and first > 0:
        return min(first, MAX_UNOWNED_LEAVES)
    return 50


_ERRORS = Measured(1, "what the caller must fix; usually none or one")

DECLARED: dict[str, Declaration] = {
    # Refetch
    "Query.nodes": Bounded(refetch_size, "one per id asked for", arguments=("ids",)),
    # Tree reads
    "TargetNode.children": Measured(
        10, "one child per member of the node's split", max=MAX_SPLIT_MEMBERS
    ),
    "TargetNode.slice": Measured(8, "one coordinate per level above the node"),
    "TargetNode.ancestors": Measured(8, "one node per level above the node"),
    "TargetNode.explanation": Blob("the allocation engine's account of one node"),
    "TargetNode.splitSpec": Blob("the method and inputs of one node's split"),
    "PlanVersion.subtree": Bulk(
        subtree_rows,
        ("maxDepth",),
        f"columnar rows, at most {MAX_BULK_NODES}; maxDepth 0 is one row, 1 at most "
        f"{1 + MAX_SPLIT_MEMBERS}",
    ),
    "NodeTable.columns": Blob("the rows of a bulk read", sized_by_parent=True),
    "PlanVersion.attainmentTable": Bulk(
        subtree_rows,
        ("maxDepth",),
        "the rows of `subtree` with the same arguments, numbers of the version's one "
        "attainment computation",
    ),
    "AttainmentTable.columns": Blob("the rows of a bulk read", sized_by_parent=True),
    "Plan.calendar": Blob("the settings of one calendar"),
    # Subscriptions (one event at a time; ids are scalars and cost nothing)
    "VersionChangeEvent.nodeIds": Blob("the ids of the nodes one committed change moved"),
    # Dimensions and members
    "Dimension.tiers": Blob("a customer dimension's tier names"),
    "Member.ancestors": Bounded(MAX_MEMBER_DEPTH - 1, "members nest at most 20 levels"),
    "MemberAttributes.extra": Blob("at most 50 free-form scalar attributes"),
    # Owners and quotas
    "Owner.teams": Measured(5, "the teams of one person"),
    "OwnerQuota.nodes": Measured(20, "the topmost nodes an owner holds", max=MAX_HELD),
    "OwnerQuota.heldNodes": Measured(20, "every node an owner holds", max=MAX_HELD),
    "OwnerQuota.byPeriod": Measured(12, "one entry per time member of the owner's nodes"),
    "OwnerQuota.byDimension": Measured(20, "one entry per member in the owner's slices"),
    "VersionOwners.unownedLeaves": Measured(
        50, "leaves nobody holds, cut at the maximum", max=MAX_UNOWNED
    ),
    # Versions and audit
    "PlanVersion.alerts": Bounded(
        _alerts_size,
        "nodes behind pace, at most `first` (50 by default, at most 500)",
        arguments=("first",),
    ),
    "PlanVersion.diagnostics": Bounded(
        _findings_size,
        f"findings in tree order, at most `first` ({DEFAULT_FINDINGS} by default, at most "
        f"{MAX_FINDINGS})",
        arguments=("first",),
    ),
    "TargetNode.diagnostics": Bounded(
        _findings_size,
        f"findings of the node (and subtree), at most `first` ({DEFAULT_FINDINGS} by default)",
        arguments=("first",),
    ),
    "Readiness.dimensions": Bounded(5, "the five dimensions of the method"),
    "Readiness.findingsBySeverity": Bounded(3, "one per severity"),
    "Readiness.unownedLeaves": Bounded(
        _unowned_size,
        f"leaves nobody owns, at most `first` (50 by default, at most {MAX_UNOWNED_LEAVES})",
        arguments=("first",),
    ),
    "PlanVersion.ownerRanking": Measured(20, "one entry per owner holding nodes"),
    "PlanSettingsPayload.userErrors": _ERRORS,
    "VersionDiff.changes": Measured(50, "changed nodes, cut at the maximum", max=MAX_DIFF_ROWS),
    "NodeChange.aspects": Blob("the names of what changed on one node"),
    "AuditEntry.before": Blob("the values of one change"),
    "AuditEntry.after": Blob("the values of one change"),
    # Mutation payloads (after the change is made the budget only counts them)
    "UserError.field": Blob("the path of one input field"),
    "PlanCreatePayload.userErrors": _ERRORS,
    "DimensionCreatePayload.userErrors": _ERRORS,
    "MemberPayload.userErrors": _ERRORS,
    "MembersCreatePayload.userErrors": Measured(1, "one per bad cell of the load"),
    "MembersCreatePayload.members": Measured(50, "the rows of one member load", max=MAX_BULK_ROWS),
    "NodeSplitPayload.children": Measured(10, "the new children", max=MAX_SPLIT_MEMBERS),
    "NodeSplitPayload.userErrors": _ERRORS,
    "NodeSplitPayload.diagnostics": Bounded(
        _findings_size, "findings on the touched nodes, at most `first`", arguments=("first",)
    ),
    "NodeSplitMatrixPayload.diagnostics": Bounded(
        _findings_size, "findings on the touched nodes, at most `first`", arguments=("first",)
    ),
    "NodePayload.diagnostics": Bounded(
        _findings_size, "findings on the touched nodes, at most `first`", arguments=("first",)
    ),
    "NodeSplitMatrixPayload.rows": Measured(10, "the new children", max=MAX_SPLIT_MEMBERS),
    "NodeSplitMatrixPayload.cells": Measured(100, "rows x columns new grandchildren"),
    "NodeSplitMatrixPayload.userErrors": _ERRORS,
    "NodePayload.changed": Measured(50, "every node whose target moved"),
    "NodePayload.userErrors": _ERRORS,
    "NodeAssignOwnerPayload.userErrors": _ERRORS,
    "OwnerPayload.userErrors": _ERRORS,
    "VersionPayload.archived": Measured(1, "publishing archives the previous version"),
    "VersionPayload.userErrors": _ERRORS,
    "VersionCreateDraftPayload.userErrors": _ERRORS,
    "ReviewPayload.userErrors": _ERRORS,
    "VersionReplanPayload.changed": Measured(100, "every node whose target moved"),
    "VersionReplanPayload.notes": Measured(1, "what the re-plan could not do exactly"),
    "VersionReplanPayload.userErrors": _ERRORS,
    "ImportPayload.userErrors": Measured(
        1, "one per bad value of the batch", max=MAX_REPORTED_ERRORS + 1
    ),
    "ImportPayload.rowErrors": Measured(
        1, "one per bad value of the batch", max=MAX_REPORTED_ERRORS
    ),
}
"""The cost of every list field and every JSON field, by ``Type.field``.

Connections need no entry: their page size is their cost. A test walks the
schema and fails on any list, connection or JSON field this table does not
account for, so a new field cannot slip past the limit.
"""


# --- schema checks ------------------------------------------------------------------


def _unwrap(type_: GraphQLOutputType) -> GraphQLOutputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def is_list(type_: GraphQLOutputType) -> bool:
    return isinstance(_unwrap(type_), GraphQLList)


def is_json(type_: GraphQLOutputType) -> bool:
    return get_named_type(type_).name == "JSON"


def is_connection(type_: GraphQLNamedType) -> bool:
    """A Relay connection: ``edges`` (list of edges with ``node`` and ``cursor``), ``pageInfo``."""
    if not isinstance(type_, GraphQLObjectType):
        return False
    edges = type_.fields.get("edges")
    if edges is None or "pageInfo" not in type_.fields or not is_list(edges.type):
        return False
    edge = get_named_type(edges.type)
    return isinstance(edge, GraphQLObjectType) and {"node", "cursor"} <= edge.fields.keys()


def _object_types(schema: GraphQLSchema) -> Iterable[GraphQLObjectType | GraphQLInterfaceType]:
    for name, type_ in schema.type_map.items():
        if not name.startswith("__") and isinstance(
            type_, GraphQLObjectType | GraphQLInterfaceType
        ):
            yield type_


def undeclared(schema: GraphQLSchema, declared: Mapping[str, Declaration] = DECLARED) -> list[str]:
    """What the cost model cannot price: one line per problem, empty when all is declared."""
    problems: list[str] = []
    seen: set[str] = set()
    bulk_types = {
        name.partition(".")[0]
        for name, d in declared.items()
        if isinstance(d, Blob) and d.sized_by_parent
    }
    for type_ in _object_types(schema):
        connection = is_connection(type_)
        for name, field_ in type_.fields.items():
            key = f"{type_.name}.{name}"
            declaration = declared.get(key)
            if declaration is not None:
                seen.add(key)
            named = get_named_type(field_.type)
            if connection and name in EDGES:
                continue
            if is_connection(named):
                if not {"first", "last"} & field_.args.keys():
                    problems.append(f"{key}: a connection without `first` or `last`")
                if declaration is not None:
                    problems.append(f"{key}: a connection is costed by its page; no entry")
                continue
            if named.name in bulk_types and not isinstance(declaration, Bulk):
                problems.append(f"{key}: returns {named.name}, so it must be declared Bulk")
            if is_list(field_.type) and is_leaf_type(named):
                if not isinstance(declaration, Bounded | Measured | Blob):
                    problems.append(f"{key}: a list of scalars with no declared cost")
            elif is_list(field_.type):
                if not isinstance(declaration, Bounded | Measured):
                    problems.append(f"{key}: a list with no declared size (Bounded or Measured)")
            elif is_json(field_.type):
                if not isinstance(declaration, Blob | Bulk):
                    problems.append(f"{key}: a JSON field with no declared cost (Blob or Bulk)")
            elif declaration is not None and not isinstance(declaration, Bulk):
                problems.append(f"{key}: declared {type(declaration).__name__} but not a list")
    problems += [f"{key}: declared but not in the schema" for key in declared.keys() - seen]
    return sorted(problems)


# --- compiled cost expressions ------------------------------------------------------

Info: TypeAlias = "GraphQLResolveInfo[Any]"
Variables: TypeAlias = Mapping[str, Any]
Cost: TypeAlias = "int | Callable[[Variables], int]"
"""A cost: a constant, or a function of the request's variables."""


def evaluate(cost: Cost, variables: Variables) -> int:
    return cost if isinstance(cost, int) else cost(variables)


def _add(costs: Iterable[Cost]) -> Cost:
    constant = 0
    functions: list[Callable[[Variables], int]] = []
    for cost in costs:
        if isinstance(cost, int):
            constant += cost
        else:
            functions.append(cost)
    if not functions:
        return constant
    if len(functions) == 1 and constant == 0:
        return functions[0]
    return lambda v: constant + sum(f(v) for f in functions)


def _mul(a: Cost, b: Cost) -> Cost:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 0 or b == 0:
        return 0
    return lambda v: evaluate(a, v) * evaluate(b, v)


def _max(a: Cost, b: Cost) -> Cost:
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    return lambda v: max(evaluate(a, v), evaluate(b, v))


def _apply(function: Callable[[Any], int], argument: Any) -> Cost:
    """``function(argument)``, folded to a constant when ``argument`` is one."""
    if callable(argument):
        return lambda v: function(argument(v))
    return function(argument)


@dataclass
class OperationCost:
    """One operation of a document, compiled."""

    requested: Cost
    """Every list at its page, bound or assumed size."""
    base: Cost
    """The same without the measured lists (they are counted as they resolve)."""
    measured: dict[int, Cost]
    """id(first field node of a measured list) → the cost of one of its items."""


@dataclass
class DocumentCost:
    operations: dict[str | None, OperationCost]

    def operation(self, name: str | None) -> OperationCost | None:
        if name is not None:
            return self.operations.get(name)
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return None


def _has_variable(node: ValueNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_variable(self, *_: Any) -> None:
            nonlocal found
            found = True

    visit(node, Finder())
    return found


class _Compiler:
    """Walks one operation with the schema, as graphql-core collects fields."""

    def __init__(
        self,
        policy: CostPolicy,
        document: DocumentNode,
        operation: OperationDefinitionNode,
    ) -> None:
        self.policy = policy
        self.schema = policy.schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            if definition.default_value is not None:
                self.defaults[definition.variable.name.value] = value_from_ast_untyped(
                    definition.default_value
                )
        self.measured: dict[int, Cost] = {}
        self.edges: list[list[Cost]] = []  # per connection being compiled: cost of one edge

    # arguments ---------------------------------------------------------------------

    def argument(self, node: FieldNode, name: str) -> Any:
        """The argument's value: a constant, or a function of the variables."""
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                var, default = value.name.value, self.defaults.get(value.name.value)
                return lambda v: v.get(var, default) if v else default
            if _has_variable(value):
                defaults = self.defaults
                return lambda v: value_from_ast_untyped(value, {**defaults, **(v or {})})
            return value_from_ast_untyped(value)
        return None

    def arguments(self, node: FieldNode, names: tuple[str, ...]) -> Any:
        values = {name: self.argument(node, name) for name in names}
        if not any(callable(v) for v in values.values()):
            return values
        return lambda v: {k: x(v) if callable(x) else x for k, x in values.items()}

    def page(self, node: FieldNode) -> Cost:
        first, last = self.argument(node, "first"), self.argument(node, "last")

        def size(pair: tuple[Any, Any]) -> int:
            for value in pair:
                if isinstance(value, int) and not isinstance(value, bool):
                    return max(0, min(value, MAX_PAGE))
            return ASSUMED_PAGE

        if callable(first) or callable(last):
            return lambda v: size(
                (first(v) if callable(first) else first, last(v) if callable(last) else last)
            )
        return size((first, last))

    # selections --------------------------------------------------------------------

    def applies(self, condition: str | None, type_: GraphQLObjectType) -> bool:
        if condition is None or condition == type_.name:
            return True
        conditional = self.schema.get_type(condition)
        return is_abstract_type(conditional) and self.schema.is_sub_type(
            conditional,
            type_,
        )

    def collect(
        self,
        type_: GraphQLObjectType,
        selection_sets: Iterable[SelectionSetNode],
        into: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> dict[str, list[FieldNode]]:
        for selection_set in selection_sets:
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    into.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if self.applies(condition.name.value if condition else None, type_):
                        self.collect(type_, [selection.selection_set], into, visited)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if name in visited or fragment is None:
                        continue
                    visited.add(name)  # graphql-core also spreads a fragment once per level
                    if self.applies(fragment.type_condition.name.value, type_):
                        self.collect(type_, [fragment.selection_set], into, visited)
        return into

    def selection(
        self, type_: GraphQLNamedType, nodes: list[FieldNode], page: Cost | None = None
    ) -> tuple[Cost, Cost]:
        """(requested, base) of one object of ``type_`` with the merged sub-selections."""
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if not sets or not is_composite_type(type_):
            return 0, 0
        if is_abstract_type(type_):
            requested: Cost = 0
            base: Cost = 0
            for possible in self.schema.get_possible_types(type_):
                r, b = self.concrete(possible, sets, page)
                requested, base = _max(requested, r), _max(base, b)
            return requested, base
        assert isinstance(type_, GraphQLObjectType)
        return self.concrete(type_, sets, page)

    def concrete(
        self, type_: GraphQLObjectType, sets: list[SelectionSetNode], page: Cost | None
    ) -> tuple[Cost, Cost]:
        requested: list[Cost] = []
        base: list[Cost] = []
        for nodes in self.collect(type_, sets, {}, set()).values():
            r, b = self.field(type_, nodes, page)
            requested.append(r)
            base.append(b)
        return _add(requested), _add(base)

    def field(
        self, parent: GraphQLObjectType, nodes: list[FieldNode], page: Cost | None
    ) -> tuple[Cost, Cost]:
        """(requested, base) of one response key on one object of ``parent``."""
        node = nodes[0]
        name = node.name.value
        if name == "__typename":
            return 0, 0
        if name in ("__schema", "__type"):
            cost = self.policy.introspection[name]
            return cost, cost
        definition: GraphQLField | None = parent.fields.get(name)
        if definition is None:  # not in a valid document
            return 0, 0
        named = get_named_type(definition.type)
        declaration = self.policy.declared.get(f"{parent.name}.{name}")
        if is_leaf_type(named):
            if isinstance(declaration, Bulk):
                extra = self.bulk(node, declaration)
                return extra, extra
            return 0, 0
        if is_connection(named):
            # Its edges are measured on this field: the page's length times one edge.
            self.edges.append([])
            requested, base = self.selection(named, nodes, self.page(node))
            self.measure(node, _add(self.edges.pop()))
            return _add([1, requested]), _add([1, base])
        requested, base = self.selection(named, nodes)
        requested, base = _add([1, requested]), _add([1, base])
        if isinstance(declaration, Bulk):
            extra = self.bulk(node, declaration)
            return _add([requested, extra]), _add([base, extra])
        if not is_list(definition.type):
            return requested, base
        if page is not None and name in EDGES:
            self.edges[-1].append(base)
            return _mul(page, requested), 0
        if isinstance(declaration, Bounded):
            size = self.size(node, declaration.size, declaration.arguments)
            return _mul(size, requested), _mul(size, base)
        assumed: Cost = ASSUMED_PAGE
        if isinstance(declaration, Measured):
            assumed = self.size(node, declaration.assumed, declaration.arguments)
        self.measure(node, base)
        return _mul(assumed, requested), 0

    def size(self, node: FieldNode, size: Size, arguments: tuple[str, ...]) -> Cost:
        if isinstance(size, int):
            return size
        return _apply(size, self.arguments(node, arguments))

    def bulk(self, node: FieldNode, bulk: Bulk) -> Cost:
        rows = self.arguments(node, bulk.arguments)
        return _apply(lambda a: math.ceil(bulk.rows(a) / BULK_ROWS_PER_UNIT), rows)

    def measure(self, node: FieldNode, item: Cost) -> None:
        """Counts ``node``'s items at run time, each at ``item``."""
        previous = self.measured.get(id(node))
        self.measured[id(node)] = item if previous is None else _max(previous, item)


# --- per request --------------------------------------------------------------------


@dataclass
class Budget:
    """One request's running cost and its deadline."""

    maximum: int
    seconds: float
    operation: OperationCost
    variables: Variables
    actual: int
    armed: bool = True
    exceeded: str | None = None
    timeout: asyncio.Timeout | None = None
    deadline: float | None = None
    items: dict[int, int] = field(default_factory=dict)

    def count(self, items: int, info: Info) -> None:
        """A measured list resolved with ``items`` items: add them; stop when over."""
        node = info.field_nodes[0]
        item = self.items.get(id(node))
        if item is None:
            cost = self.operation.measured.get(id(node), 1)
            item = self.items[id(node)] = evaluate(cost, self.variables)
        self.actual += items * item
        if self.armed and self.actual > self.maximum and self.exceeded is None:
            path = ".".join(str(key) for key in info.path.as_list())
            self.exceeded = (
                f"Query cost reached {self.actual} while running, over the maximum of "
                f"{self.maximum} (QUOTATREE_MAX_QUERY_COST): `{path}` holds {items} items. "
                "The operation was cancelled. Ask for fewer items (`first`, `maxDepth`), "
                "fewer aliases or fewer nested lists."
            )
            if self.timeout is not None:
                self.timeout.reschedule(asyncio.get_running_loop().time())  # stop now
            raise PublicError(self.exceeded, code=TOO_COSTLY)

    async def count_later(
        self, result: Awaitable[Any], info: Info, size: Callable[[Any], int]
    ) -> Any:
        value = await result
        if value is not None:
            self.count(size(value), info)
        return value

    def before_mutation(self) -> None:
        """A mutation starts: the time budget applies to its use case."""
        if self.timeout is None or self.armed:
            return
        if self.deadline is not None and asyncio.get_running_loop().time() >= self.deadline:
            raise PublicError(timeout_message(self.seconds), code=TIMEOUT)
        self.timeout.reschedule(self.deadline)
        self.armed = True

    def after_mutation(self) -> None:
        """The mutation's use case returned (its change is committed or refused): its
        payload is not cut off, and its lists are counted, not refused."""
        if self.timeout is not None and not self.timeout.expired():
            self.timeout.reschedule(None)
        self.armed = False


_budget: ContextVar[Budget | None] = ContextVar("quotatree_cost_budget", default=None)


def _error(message: str, code: str, **extensions: object) -> PublicError:
    """A public error (shown, not masked) whose extensions carry ``code`` and more."""
    error = PublicError(message, code=code)
    error.extensions = {"code": code, **extensions}  # type: ignore[dict-item]
    return error


def timeout_message(seconds: float) -> str:
    return (
        f"The operation ran longer than its time budget of {seconds:g} s "
        "(QUOTATREE_REQUEST_TIMEOUT_SECONDS) and was cancelled; a change that was cut off "
        "wrote nothing. Ask for less, or retry later."
    )


def _edges(connection: Any) -> int:
    return len(connection.edges)


def _counted(resolve: Callable[..., Any], size: Callable[[Any], int]) -> Callable[..., Any]:
    """Wraps the resolver of a measured list: counts its ``size`` against the budget."""

    def counted(source: Any, info: Info, **kwargs: Any) -> Any:
        result = resolve(source, info, **kwargs)
        budget = _budget.get()
        if budget is None:
            return result
        if isawaitable(result):
            return budget.count_later(result, info, size)
        if result is not None:
            budget.count(size(result), info)
        return result

    return counted


def _mutation(resolve: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a mutation: the time budget covers its use case, not its committed payload."""

    async def guarded(source: Any, info: Info, **kwargs: Any) -> Any:
        budget = _budget.get()
        if budget is not None:
            budget.before_mutation()
        try:
            result = resolve(source, info, **kwargs)
            if isawaitable(result):
                result = await result
        except Exception:
            if budget is not None:
                budget.after_mutation()
            raise
        if budget is not None:
            budget.after_mutation()
        return result

    return guarded


# --- policy and extension -----------------------------------------------------------


class CostPolicy:
    """The limits of one schema: compiles documents (cached) and builds the extension."""

    def __init__(
        self,
        maximum: int,
        timeout_seconds: float,
        declared: Mapping[str, Declaration] = DECLARED,
    ) -> None:
        self.maximum = maximum
        self.timeout_seconds = timeout_seconds
        self.declared = declared
        self._schema: GraphQLSchema | None = None
        self.introspection: dict[str, int] = {}
        self.compile = lru_cache(maxsize=COMPILED_DOCUMENTS)(self._compile)

    @property
    def schema(self) -> GraphQLSchema:
        assert self._schema is not None, "CostPolicy.install(schema) was not called"
        return self._schema

    def extension(self) -> QueryCost:
        """A fresh extension per request (extension instances must not be shared)."""
        return QueryCost(self)

    def install(self, schema: strawberry.Schema) -> strawberry.Schema:
        """Binds the policy to the built schema and wraps the measured lists' resolvers."""
        graphql_schema = schema._schema
        self._schema = graphql_schema
        self.introspection = _introspection_costs(graphql_schema)
        for type_ in _object_types(graphql_schema):
            if not isinstance(type_, GraphQLObjectType) or is_connection(type_):
                continue  # a connection's edges are counted on the field returning it
            for name, field_ in type_.fields.items():
                named = get_named_type(field_.type)
                if is_connection(named):
                    field_.resolve = _counted(field_.resolve or _default_resolver, _edges)
                elif (
                    is_list(field_.type)
                    and is_composite_type(named)
                    and not isinstance(self.declared.get(f"{type_.name}.{name}"), Bounded)
                ):
                    field_.resolve = _counted(field_.resolve or _default_resolver, len)
        if graphql_schema.mutation_type is not None:
            for field_ in graphql_schema.mutation_type.fields.values():
                field_.resolve = _mutation(field_.resolve or _default_resolver)
        return schema

    def _compile(self, document: DocumentNode) -> DocumentCost:
        operations: dict[str | None, OperationCost] = {}
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            root = self.schema.get_root_type(definition.operation)
            if root is None:
                continue
            compiler = _Compiler(self, document, definition)
            requested, base = compiler.concrete(root, [definition.selection_set], None)
            name = definition.name.value if definition.name else None
            operations[name] = OperationCost(requested, base, compiler.measured)
        return DocumentCost(operations)


def _default_resolver(source: Any, info: Info, **_: Any) -> Any:
    from graphql import default_field_resolver

    return default_field_resolver(source, info)


def _introspection_costs(schema: GraphQLSchema) -> dict[str, int]:
    """What ``__schema`` and ``__type`` can return at most, as objects."""
    per_type: list[int] = []
    for type_ in schema.type_map.values():
        count = 1
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            count += sum(1 + len(f.args) for f in type_.fields.values())
            count += len(type_.interfaces)
        elif isinstance(type_, GraphQLInputObjectType):
            count += len(type_.fields)
        elif isinstance(type_, GraphQLEnumType):
            count += len(type_.values)
        elif isinstance(type_, GraphQLUnionType):
            count += len(type_.types)
        per_type.append(count)
    directives = sum(1 + len(d.args) for d in schema.directives)
    return {"__schema": sum(per_type) + directives + 1, "__type": max(per_type)}


class QueryCost(SchemaExtension):
    """Refuses documents over the cost limit, runs the rest under the budget, reports cost."""

    def __init__(self, policy: CostPolicy) -> None:
        super().__init__()
        self.policy = policy
        self.requested: int | None = None
        self.budget: Budget | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        # Here rather than in on_validate: validation has run (cached or not) whatever
        # the order of the extensions, and nothing has been executed yet.
        context = self.execution_context
        operation = None
        if context.graphql_document is not None:
            document = self.policy.compile(context.graphql_document)
            operation = document.operation(context.operation_name)
        if operation is None:  # graphql-core refuses it with a clear error
            yield
            return
        variables = context.variables or {}
        maximum = self.policy.maximum
        self.requested = requested = evaluate(operation.requested, variables)
        if requested > maximum:
            raise _error(
                f"Query cost {requested} exceeds the maximum of {maximum} "
                "(QUOTATREE_MAX_QUERY_COST); nothing was run. Ask for smaller pages "
                "(`first`), fewer aliases or fewer nested lists.",
                code=TOO_COSTLY,
                cost={"requested": requested, "maximum": maximum},
            )
        budget = self.budget = Budget(
            maximum=maximum,
            seconds=self.policy.timeout_seconds,
            operation=operation,
            variables=variables,
            actual=evaluate(operation.base, variables),
        )
        token = _budget.set(budget)
        try:
            async with asyncio.timeout(budget.seconds) as timeout:
                budget.timeout = timeout
                budget.deadline = timeout.when()
                yield
        except TimeoutError:
            if budget.exceeded is None:
                raise PublicError(timeout_message(budget.seconds), code=TIMEOUT) from None
        finally:
            _budget.reset(token)
        if budget.exceeded is not None:
            raise _error(
                budget.exceeded,
                code=TOO_COSTLY,
                cost={"requested": requested, "actual": budget.actual, "maximum": maximum},
            )

    def get_results(self) -> dict[str, Any]:
        if self.requested is None:
            return {}
        cost: dict[str, int] = {"requested": self.requested}
        if self.budget is not None:
            cost["actual"] = self.budget.actual
        cost["maximum"] = self.policy.maximum
        return {"cost": cost}
