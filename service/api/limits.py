"""The depth and alias limits as validation rules that cost one pass per document.

strawberry's own rules walk every fragment spread afresh, so a 1 KB document of
fragments that each spread the next one twice (``fragment F1 { ...F2 ...F2 }``)
takes exponential time to validate and stalls the process. These rules compute
each fragment's depth and alias count once (memoised by name; a cycle counts as
nothing, as NoFragmentCycles refuses it anyway) and multiply, so validation is
linear in the document whatever it spreads. Their messages match strawberry's.
Built once per schema, so the ValidationCache caches their verdict per document.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)

_IN_PROGRESS = -1


class _Walk:
    """Depth and alias count of selection sets, memoised per fragment."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.depths: dict[str, int] = {}
        self.aliases: dict[str, int] = {}

    def depth(self, selection_set: SelectionSetNode | None) -> int:
        """Deepest field nesting below ``selection_set`` (introspection fields excluded)."""
        if selection_set is None:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__") or selection.selection_set is None:
                    continue
                deepest = max(deepest, 1 + self.depth(selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(
                    deepest, self._fragment(selection.name.value, self.depths, self.depth)
                )
        return deepest

    def alias_count(self, selection_set: SelectionSetNode | None) -> int:
        """Aliased fields below ``selection_set``, each spread counting its fragment again."""
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += (1 if selection.alias else 0) + self.alias_count(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += self.alias_count(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, self.aliases, self.alias_count)
        return total

    def _fragment(self, name: str, memo: dict[str, int], measure: Any) -> int:
        known = memo.get(name)
        if known is not None:
            return 0 if known == _IN_PROGRESS else known
        fragment = self.fragments.get(name)
        if fragment is None:
            return 0
        memo[name] = _IN_PROGRESS
        memo[name] = measure(fragment.selection_set)
        return memo[name]


def depth_rule(max_depth: int) -> type[ASTValidationRule]:
    """Refuse an operation whose fields nest deeper than ``max_depth``."""

    class DepthLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            walk = _Walk(context.document)
            for definition in context.document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                depth = walk.depth(definition.selection_set)
                if depth > max_depth:
                    name = definition.name.value if definition.name else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth}",
                            definition,
                            extensions={"code": "GRAPHQL_VALIDATION_FAILED", "limit": "depth"},
                        )
                    )

    return DepthLimit


def alias_rule(max_aliases: int) -> type[ASTValidationRule]:
    """Refuse a document whose operations hold more than ``max_aliases`` aliases."""

    class AliasLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            walk = _Walk(context.document)
            total = 0
            for definition in context.document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    total += walk.alias_count(definition.selection_set)
                    if total > max_aliases:
                        break
            if total > max_aliases:
                context.report_error(
                    GraphQLError(
                        f"{total} aliases found. Allowed: {max_aliases}",
                        extensions={"code": "GRAPHQL_VALIDATION_FAILED", "limit": "aliases"},
                    )
                )

    return AliasLimit
