"""Errors: user errors in payloads, our own public errors, and masking of the rest."""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from service.domain.errors import DomainError
from service.observability import GRAPHQL_ERRORS, current_request_id

log = logging.getLogger("quotatree.graphql")


@strawberry.enum(description="Machine-readable reason of a user error.")
class UserErrorCode(Enum):
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_VALUE = "INVALID_VALUE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    AMOUNT_TOO_LARGE = "AMOUNT_TOO_LARGE"
    TOO_MANY_DECIMALS = "TOO_MANY_DECIMALS"
    NOT_FOUND = "NOT_FOUND"
    INVALID_ID = "INVALID_ID"
    ALREADY_SPLIT = "ALREADY_SPLIT"
    EMPTY_SET = "EMPTY_SET"
    TOO_MANY = "TOO_MANY"
    DUPLICATE = "DUPLICATE"
    WRONG_DIMENSION = "WRONG_DIMENSION"
    WRONG_LEVEL = "WRONG_LEVEL"
    RETIRED = "RETIRED"
    NOT_DRAFT = "NOT_DRAFT"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    CYCLE = "CYCLE"
    TOO_DEEP = "TOO_DEEP"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    NOT_SPLIT = "NOT_SPLIT"
    LOCKED = "LOCKED"
    # The allocation engine's codes (service.domain.allocation.AllocationErrorCode):
    INVALID_INPUT = "INVALID_INPUT"
    DUPLICATE_KEY = "DUPLICATE_KEY"
    PERCENTAGES_NOT_100 = "PERCENTAGES_NOT_100"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    INVALID_BOUNDS = "INVALID_BOUNDS"
    INVALID_WEIGHTS = "INVALID_WEIGHTS"
    ZERO_WEIGHTS = "ZERO_WEIGHTS"
    MISSING_INPUT = "MISSING_INPUT"
    MISSING_HISTORY = "MISSING_HISTORY"
    LOCKED_EXCEEDS_TOTAL = "LOCKED_EXCEEDS_TOTAL"
    NOTHING_TO_ABSORB = "NOTHING_TO_ABSORB"
    FLOORS_EXCEED_TOTAL = "FLOORS_EXCEED_TOTAL"
    CAPS_BELOW_TOTAL = "CAPS_BELOW_TOTAL"
    STEP_INFEASIBLE = "STEP_INFEASIBLE"
    LAG_NO_RECEIVER = "LAG_NO_RECEIVER"
    MANUAL_MISMATCH = "MANUAL_MISMATCH"
    REBALANCE_INFEASIBLE = "REBALANCE_INFEASIBLE"
    TREE_INCONSISTENT = "TREE_INCONSISTENT"
    OVERSHOOT = "OVERSHOOT"
    MARGINS_MISMATCH = "MARGINS_MISMATCH"
    ZERO_MARGIN_CELLS = "ZERO_MARGIN_CELLS"
    NOT_CONVERGED = "NOT_CONVERGED"
    ROUNDING_INFEASIBLE = "ROUNDING_INFEASIBLE"


@strawberry.type(description="Something the caller can fix. Nothing was written.")
class UserError:
    code: UserErrorCode = strawberry.field(description="Machine-readable reason.")
    field: list[str] | None = strawberry.field(
        description='Path of the input field at fault, e.g. ["input", "target"].'
    )
    message: str = strawberry.field(description="What is wrong and how to fix it.")


def user_error(exc: DomainError) -> UserError:
    """Map a domain error to a user error; an unmapped code is a bug (raises)."""
    code = UserErrorCode[exc.code]
    field = exc.details.get("field")
    if field is None and "children" in exc.details:
        field = "children"  # the allocation engine names the children in its message
    path = ["input", *str(field).split(".")] if field else None
    GRAPHQL_ERRORS.labels(kind="user").inc()
    return UserError(code=code, field=path, message=exc.message)


def user_errors(items: list[tuple[str, str, str]]) -> list[UserError]:
    """Several user errors at once: (code, dotted field, message) each."""
    GRAPHQL_ERRORS.labels(kind="user").inc(len(items))
    return [
        UserError(code=UserErrorCode[code], field=["input", *field.split(".")], message=message)
        for code, field, message in items
    ]


class PublicError(Exception):
    """An error whose message is safe to show (bad cursor, bad argument, not signed in)."""

    def __init__(self, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.extensions = {"code": code}


def is_unexpected(error: GraphQLError) -> bool:
    """Validation and parse errors carry no original error; ours are PublicError."""
    original = error.original_error
    return not (original is None or isinstance(original, PublicError | GraphQLError))


class RequestIdMaskErrors(MaskErrors):
    """Masks unexpected errors; the message carries the request id for the logs."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        rid = current_request_id()
        return GraphQLError(
            message=f"Internal error (request id {rid}). The operators can find it "
            "in the logs by this id.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL", "requestId": rid},
        )


def log_errors(errors: list[GraphQLError], extra: dict[str, Any] | None = None) -> None:
    for error in errors:
        if is_unexpected(error):
            GRAPHQL_ERRORS.labels(kind="unexpected").inc()
            original = error.original_error
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
