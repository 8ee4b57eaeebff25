"""Opaque keyset cursors and page sizes for Relay connections."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from service.api.errors import PublicError

MAX_PAGE = 500
DEFAULT_PAGE = 50
MAX_CURSOR_KEY = 3000
"""Longest key inside a cursor: tree-order cursors carry a sort path (members' hold the
codes of their ancestors, at most ``paths.MAX_SORT_PATH_BYTES``)."""


def encode_cursor(kind: str, key: int | str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def decode_cursor(cursor: str, kind: str) -> str:
    """The key inside a cursor made by ``encode_cursor(kind, ...)``; a public error otherwise."""
    try:
        prefix, sep, key = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        prefix, sep, key = "", "", ""
    if prefix != kind or not sep or not key or len(key) > MAX_CURSOR_KEY:
        raise PublicError(f"`after` is not a cursor of this connection: {cursor[:100]!r}")
    return key


def decode_int_cursor(cursor: str | None, kind: str) -> int | None:
    if cursor is None:
        return None
    key = decode_cursor(cursor, kind)
    if not key.isdigit() or len(key) > 18:
        raise PublicError(f"`after` is not a cursor of this connection: {cursor[:100]!r}")
    return int(key)


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise PublicError(f"`first` must be between 1 and {MAX_PAGE}, got {first}")
    return first


def page_info(cursors: list[str], has_next: bool, after: object) -> Any:
    """Relay PageInfo of a forward page whose edges carry ``cursors``."""
    from strawberry import relay

    return relay.PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
