"""Text no database can store, refused at the door for every operation.

PostgreSQL's ``text`` and ``jsonb`` cannot hold the NUL character (U+0000).

- Mutations check their inputs in the domain, which answers a NUL with a user
  error naming the field (``service.domain.values``), whatever the door.
- Everything else is refused here, before anything runs, as a validation error
  naming where the NUL is: string literals of any document, and the variables of
  queries (whose arguments, codes and cursors, have no payload to report in).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    GraphQLError,
    OperationDefinitionNode,
    StringValueNode,
    ValidationContext,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

NUL = "\x00"
CODE = "BAD_USER_INPUT"


def _find(value: Any, path: str) -> str | None:
    """The path of the first string holding NUL inside a variable's value, if any."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and NUL in key:
                    return f"{where}.{key!r}"
                stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{i}") for i, child in enumerate(item))
    return None


class NulInLiterals(ASTValidationRule):
    """String literals of the document must not hold NUL (cached with validation)."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if NUL in node.value:
            self.report_error(
                GraphQLError(
                    "A string literal holds the NUL character (U+0000), which no text field "
                    "can store; remove it.",
                    node,
                    extensions={"code": CODE},
                )
            )


class NulInVariables(SchemaExtension):
    """String values of a query's variables must not hold NUL."""

    def on_execute(self) -> Iterator[None]:
        if self.execution_context.operation_type is not OperationType.QUERY:
            yield
            return
        variables = self.execution_context.variables or {}
        for name, value in variables.items():
            where = _find(value, name)
            if where is not None:
                self.execution_context.result = GraphQLExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f'Variable "${name}" holds the NUL character (U+0000) at '
                            f"{where!r}, which no text field can store; remove it.",
                            extensions={"code": CODE, "field": where},
                        )
                    ],
                )
                break
        yield


class OneOperation(SchemaExtension):
    """A document with several operations runs only the one ``operationName`` names
    (GraphQL spec, GetOperation): without a name it is refused, never guessed."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # strawberry falls back to the first operation when no name was given.
        provided = getattr(context, "_provided_operation_name", None)
        if provided is None and document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                context.result = GraphQLExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            "The document has several operations; say which to run with "
                            '"operationName".',
                            extensions={"code": "OPERATION_RESOLUTION_FAILURE"},
                        )
                    ],
                )
        yield
