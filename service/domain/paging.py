"""Pages of long lists: what a client asks for (Relay's first/after, last/before).

A page is cut by keyset: ``after`` and ``before`` are the sort keys of the
items the client's cursors pointed at (the API decodes its opaque cursors into
them), so a page never skips or repeats rows when others are inserted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.domain.tree import InvalidInputError

DEFAULT_PAGE = 50
"""Items in a page when the client gives neither ``first`` nor ``last``."""
MAX_PAGE = 500
"""Most items one page may hold."""

Key = tuple[int | str, ...]
"""A sort key: the values of the ordering columns of one item."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A checked page request: ``size`` items after ``after`` (forward), or the
    ``size`` items just before ``before`` (``backward``); both bounds may be set."""

    size: int
    backward: bool = False
    after: Key | None = None
    before: Key | None = None


def page_request(
    first: int | None = None,
    after: Key | None = None,
    last: int | None = None,
    before: Key | None = None,
    *,
    default: int = DEFAULT_PAGE,
    maximum: int = MAX_PAGE,
) -> PageRequest:
    """Check Relay's pagination arguments: ``first`` or ``last`` (not both), 1 to ``maximum``."""
    if first is not None and last is not None:
        raise InvalidInputError(
            "INVALID_VALUE", "give `first` or `last`, not both (pages go one way)", "first"
        )
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 1 <= value <= maximum:
            raise InvalidInputError(
                "OUT_OF_RANGE", f"`{name}` must be between 1 and {maximum}, got {value}", name
            )
    if last is not None:
        return PageRequest(size=last, backward=True, after=after, before=before)
    return PageRequest(size=first if first is not None else default, after=after, before=before)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items in order with their sort keys, and whether more lie on either side."""

    items: Sequence[T]
    keys: Sequence[Key]
    has_next: bool
    has_previous: bool


def cut(rows: Sequence[T], keys: Sequence[Key], request: PageRequest) -> Page[T]:
    """The page from ``rows`` fetched as the request's order gives them, with one row
    more than ``request.size`` when there is one (how the far side is known).

    Forward: rows ascending after ``after``. Backward: rows descending before
    ``before`` (returned ascending). The near side has items when the client sent a
    cursor there: that cursor's own item lies before (after) the page.
    """
    more = len(rows) > request.size
    items = list(rows[: request.size])
    item_keys = list(keys[: request.size])
    if request.backward:
        items.reverse()
        item_keys.reverse()
        return Page(items, item_keys, has_next=request.before is not None, has_previous=more)
    return Page(items, item_keys, has_next=more, has_previous=request.after is not None)
