"""The one codec of global ids: base64 of ``TypeName:local id`` (Relay's convention).

Local ids are integers; a target node's is ``"<version id>:<key>"``. Each id has
exactly one spelling: canonical base64 (padding, no line breaks or stray
characters) around ASCII digits without leading zeros, each below 2**63. Any
other spelling (``Plan:01``, Arabic-Indic digits, an unpadded or re-wrapped
base64) is not an id, so two different strings never name the same object.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from service.domain.tree import InvalidInputError

PARTS = {"TargetNode": 2}
"""Types whose local id has more than one integer (all others have one)."""
MAX_ID_LENGTH = 200
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{0,63}")
_INT64 = 2**63


def encode(type_name: str, *parts: int) -> str:
    local = ":".join(str(p) for p in parts)
    return base64.b64encode(f"{type_name}:{local}".encode()).decode()


def encoder(type_name: str, *prefix: int) -> Callable[[int], str]:
    """``encode(type_name, *prefix, last)`` as a function of ``last``: the same ids at a
    fraction of the cost, for bulk reads that encode thousands."""
    head = ":".join([type_name, *(str(p) for p in prefix), ""]).encode()
    b2a = binascii.b2a_base64

    def encode_last(last: int) -> str:
        return b2a(head + b"%d" % last, newline=False).decode()

    return encode_last


def parse(value: object) -> tuple[str, tuple[int, ...]] | None:
    """(type name, local id parts) of a well-formed global id; None otherwise."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
        text = raw.decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if base64.b64encode(raw).decode() != value:
        return None  # a second spelling of some id
    type_name, _, local = text.partition(":")
    if not _TYPE_NAME.fullmatch(type_name):
        return None
    pieces = local.split(":")
    if len(pieces) != PARTS.get(type_name, 1):
        return None
    if not all(_NUMBER.fullmatch(p) for p in pieces):
        return None
    numbers = tuple(int(p) for p in pieces)
    if any(n >= _INT64 for n in numbers):
        return None
    return type_name, numbers


def _decode(value: str, expected: str, field: str) -> tuple[int, ...]:
    parsed = parse(value)
    if parsed is None:
        raise InvalidInputError(
            "INVALID_ID",
            f"{field} is not a valid id (ids come from the API and are opaque)",
            field,
        )
    type_name, numbers = parsed
    if type_name != expected:
        raise InvalidInputError(
            "INVALID_ID", f"{field} is the id of a {type_name}, expected a {expected}", field
        )
    return numbers


def decode(value: str, expected: str, field: str) -> int:
    """The local id of a global id of type ``expected``; an INVALID_ID user error
    naming ``field`` otherwise."""
    (number,) = _decode(value, expected, field)
    return number


def decode_node(value: str, field: str) -> tuple[int, int]:
    """(version id, key) of a TargetNode's global id."""
    version_id, key = _decode(value, "TargetNode", field)
    return version_id, key


def decode_optional(value: str | None, expected: str, field: str) -> int | None:
    return None if value is None else decode(value, expected, field)
