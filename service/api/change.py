"""Per-mutation change metadata for the unit of work: the caller's reason, the request id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from service.observability import current_request_id
from service.plans.uow import change_context, clean_reason


@contextmanager
def change(reason: str | None) -> Iterator[None]:
    """Run a mutation's use case with its reason and request id in the audit entries.

    Raises the domain's TOO_LONG user error for an overlong reason.
    """
    context = replace(
        change_context.get(), reason=clean_reason(reason), request_id=current_request_id()
    )
    token = change_context.set(context)
    try:
        yield
    finally:
        change_context.reset(token)
