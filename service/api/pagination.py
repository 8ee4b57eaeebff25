"""Relay connections: opaque cursors, page arguments, and the connection base type.

Every connection paginates both ways (``first``/``after`` and ``last``/``before``),
has a ``nodes`` shortcut beside its ``edges`` and a ``totalCount`` of the whole
list (counted only when selected). A cursor is the base64 of the item's sort
key, tagged with the list it belongs to; a cursor of another list is refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Generic, Self, TypeVar

import orjson
import strawberry
from strawberry import relay

from service.domain.paging import DEFAULT_PAGE, MAX_PAGE, Key, Page, PageRequest, page_request
from service.domain.tree import InvalidInputError

MAX_CURSOR_LENGTH = 8000
"""Longest cursor: tree-order cursors carry a sort path (a member's holds the codes of
its ancestors, at most ``service.domain.paths.MAX_SORT_PATH_BYTES`` bytes)."""

First = Annotated[
    int | None,
    strawberry.argument(
        description=f"Return the first n items (1 to {MAX_PAGE}; {DEFAULT_PAGE} when neither "
        "`first` nor `last` is given)."
    ),
]
After = Annotated[
    str | None, strawberry.argument(description="Return the items after this cursor.")
]
Last = Annotated[
    int | None,
    strawberry.argument(description=f"Return the last n items (1 to {MAX_PAGE})."),
]
Before = Annotated[
    str | None, strawberry.argument(description="Return the items before this cursor.")
]

Signature = tuple[type, ...]
"""The types of a cursor's key values: (int,), (str,), (int, str) ..."""


def encode_cursor(kind: str, key: Key) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([kind, *key])).decode()


def decode_cursor(cursor: str, kind: str, signature: Signature, field: str) -> Key:
    """The sort key inside a cursor of the list ``kind``; a user error naming ``field``."""
    bad = InvalidInputError(
        "INVALID_VALUE", f"`{field}` is not a cursor of this list: {cursor[:100]!r}", field
    )
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
        raise bad
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError, orjson.JSONDecodeError):
        raise bad from None
    if not isinstance(raw, list) or len(raw) != len(signature) + 1 or raw[0] != kind:
        raise bad
    key = tuple(raw[1:])
    for value, expected in zip(key, signature, strict=True):
        if type(value) is not expected:
            raise bad
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise bad
    return key


def page_args(
    kind: str,
    signature: Signature,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    *,
    default: int = DEFAULT_PAGE,
    maximum: int = MAX_PAGE,
) -> PageRequest:
    """The checked page request of a connection field's arguments."""
    return page_request(
        first,
        decode_cursor(after, kind, signature, "after") if after is not None else None,
        last,
        decode_cursor(before, kind, signature, "before") if before is not None else None,
        default=default,
        maximum=maximum,
    )


NodeT = TypeVar("NodeT", bound=relay.Node)
Row = TypeVar("Row")


@strawberry.type(description="A page of a list (Relay connection).")
class Connection(relay.Connection[NodeT], Generic[NodeT]):
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description="The items of the page in order: a shortcut for `edges { node }`."
    )
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Items in the whole list, all pages together.")
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def of(
        cls,
        page: Page[Row],
        kind: str,
        wrap: Callable[[Row], NodeT],
        count: Callable[[], Awaitable[int]],
        nodes: Iterable[NodeT] | None = None,
    ) -> Self:
        """The connection of ``page``; ``nodes``, when given, are the page's items wrapped
        already (e.g. with their fields' rows loaded)."""
        wrapped = list(nodes) if nodes is not None else [wrap(item) for item in page.items]
        cursors = [encode_cursor(kind, key) for key in page.keys]
        edges = [relay.Edge(node=n, cursor=c) for n, c in zip(wrapped, cursors, strict=True)]
        return cls(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
            count=count,
        )


def constant(value: int) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return value

    return count
