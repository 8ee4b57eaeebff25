"""The one path every mutation takes: decode → authorize → unit of work → use case →
payload, or user errors and nothing written.

A mutation resolver is one line::

    return await mutate(info, nodes.lock, input.command, NodePayload, reason=input.reason)

- ``input.command()`` decodes the GraphQL input (global ids, enums) into the use
  case's command; a bad id is an INVALID_ID user error naming its field.
- ``mutate`` builds the ``Change`` (caller, the input's ``reason``, request id,
  idempotency key) and runs the use case through ``service.plans.usecase``,
  which authorizes, opens the unit of work and commits.
- The result becomes the payload through the payload type's ``of``; a
  ``DomainError`` becomes its ``userErrors`` (through ``failure``); anything
  else is unexpected and masked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar, cast

import strawberry
from strawberry.types import Info

from service.api.context import Context
from service.api.errors import UserError, user_errors
from service.domain.errors import DomainError
from service.plans.usecase import UseCase

C = TypeVar("C")
R = TypeVar("R")
P = TypeVar("P", bound="Payload[Any]")


class Payload(Generic[R]):
    """Base of mutation payloads: the changed objects (null on failure) and the user
    errors (empty on success). ``of`` builds the success payload of a use case's result."""

    user_errors: list[UserError]

    @classmethod
    def of(cls, result: R) -> Self:
        raise NotImplementedError

    @classmethod
    def failure(cls, errors: list[UserError]) -> Self:
        """The payload with every object field null and these errors."""
        shape: Any = cls
        values = {
            f.name: None
            for f in dataclasses.fields(shape)
            if f.name != "user_errors" and f.init  # resolver fields are not arguments
        }
        return cast(Self, shape(**values, user_errors=errors))


async def mutate(
    info: Info[Context, None],
    use_case: UseCase[C, R],
    command: Callable[[], C],
    payload: type[P],
    *,
    reason: str | None = None,
    errors: Callable[[DomainError], list[UserError]] = user_errors,
) -> P:
    """Run one mutation; see the module docstring. ``errors`` maps a domain error to
    user errors when the default (one error, its field under ``input``) is not enough
    (bulk loads report a row each)."""
    context = info.context
    # A read made before the change (an earlier field, an access check) may hold the
    # request's read connection; give it back first, so a mutation never holds two
    # connections at once (the connection budget counts one per request in flight).
    await context.reads.close()
    try:
        result = await use_case(context.db, context.change(reason), command())
    except DomainError as exc:
        return payload.failure(errors(exc))
    return payload.of(result)


INPUT = strawberry.argument(description="What to do; see the input type for every field.")
"""The description of every mutation's one ``input`` argument."""


def errors_field() -> Any:
    """The ``userErrors`` field every payload has."""
    return strawberry.field(
        description="What the caller can fix; empty on success. Nothing was written when "
        "there is one."
    )
