"""Relay global ids: base64 of ``TypeName:local id``.

Target nodes are keyed by ``(version id, key)``, so their local id is
``"<version id>:<key>"``.
"""

from __future__ import annotations

from strawberry.relay import GlobalID, GlobalIDValueError

from service.domain.tree import InvalidInputError


def encode(type_name: str, local_id: int | str) -> str:
    return str(GlobalID(type_name=type_name, node_id=str(local_id)))


def decode(value: str, expected: str, field: str) -> int:
    """The integer local id of a global id of type ``expected``; user errors otherwise."""
    return int(_decode(value, expected, field, 1)[0])


def decode_node(value: str, field: str) -> tuple[int, int]:
    version_id, key = _decode(value, "TargetNode", field, 2)
    return version_id, key


def _decode(value: str, expected: str, field: str, parts: int) -> list[int]:
    try:
        gid = GlobalID.from_id(value)
    except (GlobalIDValueError, ValueError, TypeError):
        raise InvalidInputError(
            "INVALID_ID", f"{field} is not a valid id (ids come from the API, opaque)", field
        ) from None
    if gid.type_name != expected:
        raise InvalidInputError(
            "INVALID_ID",
            f"{field} is the id of a {gid.type_name}, expected a {expected}",
            field,
        )
    pieces = gid.node_id.split(":")
    if len(pieces) != parts or not all(p.isdigit() and len(p) <= 19 for p in pieces):
        raise InvalidInputError("INVALID_ID", f"{field} is not a valid {expected} id", field)
    numbers = [int(p) for p in pieces]
    if any(n >= 2**63 for n in numbers):
        raise InvalidInputError("INVALID_ID", f"{field} is not a valid {expected} id", field)
    return numbers
