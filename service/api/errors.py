"""Errors: user errors in payloads, public errors at the top level, masking of the rest.

- Anything a caller of a mutation can fix is a ``UserError`` in the payload
  (``service.api.mutation``), nothing written.
- A read whose argument is wrong (a bad id, cursor or page size) raises a
  ``DomainError``; it reaches the client as a top-level error whose
  ``extensions`` carry its ``code`` and the ``field`` at fault.
- Everything else is unexpected and masked: the client gets "Internal error"
  and the request id, the logs get the trace.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from service.db.errors import database_unavailable
from service.domain.errors import DomainError
from service.observability import GRAPHQL_ERRORS, count_user_error, current_request_id

log = logging.getLogger("quotatree.graphql")

_CODES: dict[str, str] = {
    "REQUIRED": "A required value is missing or empty.",
    "TOO_LONG": "A text is longer than allowed.",
    "INVALID_VALUE": "A value is not one the field accepts.",
    "OUT_OF_RANGE": "A number is outside the field's range.",
    "UNKNOWN_CURRENCY": "Not an ISO 4217 currency with a minor unit.",
    "INVALID_AMOUNT": "An amount is not a decimal number the plan can hold.",
    "NEGATIVE_AMOUNT": "An amount is negative; targets are zero or more.",
    "AMOUNT_TOO_LARGE": "An amount is above the largest storable target.",
    "TOO_MANY_DECIMALS": "An amount has more decimals than the plan's currency or unit.",
    "NOT_FOUND": "An id or code names nothing that exists.",
    "UNKNOWN_COLUMN": "An import names a column that is neither a field nor a dimension.",
    "CURRENCY_MISMATCH": "An amount is in another currency than the plan's.",
    "CREDITS_NOT_100": "The shares of a split credit do not add up to 1.",
    "INVALID_ID": "A string is not an id of the expected type.",
    "ALREADY_SPLIT": "The node is split already; unsplit it first.",
    "EMPTY_SET": "A list that needs at least one item is empty.",
    "TOO_MANY": "A list has more items than allowed.",
    "DUPLICATE": "Something with the same name, code or key exists, or a list repeats it.",
    "WRONG_DIMENSION": "A member or dimension belongs to another dimension or plan.",
    "WRONG_LEVEL": "Members of a split are not at one level inside the node's slice.",
    "RETIRED": "A retired member cannot take new targets.",
    "NOT_DRAFT": "Only drafts change; copy the version into a new draft.",
    "CONFLICT": "The version changed since you read it; reload and apply again.",
    "FORBIDDEN": "The token's role or owner scope does not allow this change.",
    "CYCLE": "A move would put a member inside its own subtree.",
    "TOO_DEEP": "A hierarchy would be deeper than allowed.",
    "INVALID_TRANSITION": "The version's state does not allow this lifecycle step.",
    "NOT_SPLIT": "The node is a leaf; there is nothing to unsplit.",
    "LOCKED": "A locked node would have to change.",
    "INVALID_INPUT": "The allocation input is malformed.",
    "DUPLICATE_KEY": "Two children, rows or columns share a key.",
    "PERCENTAGES_NOT_100": "Percentages do not add up to 100.",
    "UNKNOWN_KEY": "A key names no child of the split.",
    "AMOUNT_OUT_OF_RANGE": "An amount is negative or above the largest storable target.",
    "INVALID_BOUNDS": "A floor is above its cap, or a fixed amount is outside its bounds.",
    "INVALID_WEIGHTS": "A weight, history value, potential or rate is negative or not finite.",
    "ZERO_WEIGHTS": "Every weight of the children that must absorb an amount is zero.",
    "MISSING_INPUT": "A child lacks the input its method needs.",
    "MISSING_HISTORY": "A child has no history and the no-history rule is ERROR.",
    "LOCKED_EXCEEDS_TOTAL": "Locked or manual amounts add up to more than the amount to split.",
    "NOTHING_TO_ABSORB": "Every child is locked but the locks do not add up to the amount.",
    "FLOORS_EXCEED_TOTAL": "Floors add up to more than the amount to split.",
    "CAPS_BELOW_TOTAL": "Caps add up to less than the amount to split.",
    "STEP_INFEASIBLE": "No multiple of the rounding step fits a child's bounds.",
    "LAG_NO_RECEIVER": "A sales-cycle lag leaves no later period to receive the target.",
    "MANUAL_MISMATCH": "Manual amounts do not add up and no fallback method is set.",
    "REBALANCE_INFEASIBLE": "The siblings cannot absorb the change within locks and bounds.",
    "TREE_INCONSISTENT": "A node's children do not add up to it.",
    "OVERSHOOT": "Actuals to date already exceed the year's target.",
    "NO_HISTORY": "History was asked for but no actuals are stored for the slice and periods.",
    "MARGINS_MISMATCH": "Row and column targets of a two-way split add up differently.",
    "ZERO_MARGIN_CELLS": "A row or column with a target has no cell that may hold it.",
    "NOT_CONVERGED": "The two-way fit did not converge; check the seed and margins.",
    "ROUNDING_INFEASIBLE": "No rounding of the two-way fit keeps every margin exact.",
}

_user_error_codes: Any = Enum(  # type: ignore[misc]
    "UserErrorCode",
    {code: strawberry.enum_value(code, description=text) for code, text in _CODES.items()},
)
UserErrorCode: Any = strawberry.enum(
    _user_error_codes, description="Machine-readable reason of a user error."
)


@strawberry.type(description="Something the caller can fix. Nothing was written.")
class UserError:
    code: UserErrorCode = strawberry.field(description="Machine-readable reason.")
    field: list[str] | None = strawberry.field(
        description='Path of the input field at fault, e.g. ["input", "target"]; null when '
        "the error is about the whole input."
    )
    message: str = strawberry.field(
        description="What is wrong and how to fix it, in the plan's units and names."
    )


def user_error(code: str, field: str | None, message: str) -> UserError:
    GRAPHQL_ERRORS.labels(kind="user").inc()
    count_user_error(code)
    return UserError(
        code=UserErrorCode[code],
        field=["input", *field.split(".")] if field else None,
        message=message,
    )


def user_errors(exc: DomainError) -> list[UserError]:
    """The user error of a domain error; an unknown code is a bug (raises)."""
    field = exc.details.get("field")
    if field is None and "children" in exc.details:
        field = "children"  # the allocation engine names the children in its message
    return [user_error(exc.code, str(field) if field else None, exc.message)]


class PublicError(Exception):
    """An error whose message is safe to show (not signed in, a bad request)."""

    def __init__(self, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.extensions = {"code": code}


def is_unexpected(error: GraphQLError) -> bool:
    """Validation and parse errors carry no original error; ours are public.

    So is a literal of the document that a scalar refuses (``target: "NaN"``): the
    scalar's ValueError reaches us inside graphql-core's validation error ("Expected
    value of type 'Decimal!', but encountered error ..."), which points at the
    value and has no path, since nothing ran.
    """
    original = error.original_error
    if original is None or isinstance(original, PublicError | GraphQLError | DomainError):
        return False
    refused_literal = error.path is None and bool(error.nodes) and isinstance(original, ValueError)
    return not refused_literal


class RequestIdMaskErrors(MaskErrors):
    """Masks unexpected errors (the message carries the request id for the logs) and
    gives domain errors of reads their code and field."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        rid = current_request_id()
        code = "INTERNAL"
        message = (
            f"Internal error (request id {rid}). The operators can find it in the logs by this id."
        )
        if error.original_error is not None and database_unavailable(error.original_error):
            code = "DATABASE_UNAVAILABLE"
            message = (
                f"The database is unavailable right now (request id {rid}). Retry later; "
                "the operators are alerted by this code."
            )
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": code, "requestId": rid},
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [_public(e) for e in super()._process_errors(errors)]


def _public(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if not isinstance(original, DomainError):
        return error
    extensions: dict[str, Any] = {"code": original.code}
    if original.details.get("field"):
        extensions["field"] = str(original.details["field"])
    return GraphQLError(
        message=original.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def log_errors(errors: list[GraphQLError], extra: dict[str, Any] | None = None) -> None:
    for error in errors:
        if is_unexpected(error):
            original = error.original_error
            unavailable = original is not None and database_unavailable(original)
            GRAPHQL_ERRORS.labels(kind="database" if unavailable else "unexpected").inc()
            log.error(
                "unexpected error in %s: %s",
                ".".join(str(p) for p in error.path or []) or "operation",
                original,
                exc_info=(type(original), original, original.__traceback__) if original else None,
                extra=extra,
            )
        elif error.original_error is None:
            GRAPHQL_ERRORS.labels(kind="validation").inc()
            log.info("rejected operation: %s", error.message, extra=extra)
        else:
            GRAPHQL_ERRORS.labels(kind="public").inc()
            log.info("request error: %s", error.message, extra=extra)
