"""Materialized paths of target nodes and members: every string is built and read here.

A node or a member carries two paths:

* ``path``, its ancestry: the ids (node keys, member ids) from the top down to
  itself, each followed by ``"."``: ``"12.40.41."``. Read it with :func:`path_ids`.
* ``sort_path``, its place in tree order: one segment per level whose byte order
  (PostgreSQL ``COLLATE "C"``, Python ``str`` order) is the siblings' defined order.
  So sorting by ``sort_path`` lists parents before their children and siblings in
  their defined order, and a subtree is one range, ``[sort_path, subtree_end(sort_path))``,
  whose index entries are already in tree order.

  - a target node's segment: ``int_key(sort_order) + int_key(key) + "."``: split
    order, the key making it unique (``"k0l12.k3l40."``);
  - a member's segment: ``int_key(sort_order) + code + "\\x01"``: ``(sort_order, code)``
    as ``children`` pages them (codes are unique in a dimension; ``"\\x01"`` sorts
    below every printable character, so ``A`` comes before ``A-1`` and ``A1``).

:func:`int_key` writes an integer so that string order is numeric order (a letter
for the sign and the number of digits, then the digits): ``9`` is ``"k9"``, ``10``
is ``"l10"``, so month 10 sorts after month 9 whatever the digit counts.

The database builds the same strings in SQL (``tree_order_int()``, migration 0005,
and ``recompute_member_paths``); the tests check both agree.
"""

from __future__ import annotations

from service.domain.tree import InvalidInputError

SEP = "."
"""Ends every id of ``path`` and every node segment of ``sort_path``."""
MEMBER_END = "\x01"
"""Ends the code of a member segment: below every printable character."""
MAX_SORT_PATH_BYTES = 2600
"""A member's ``sort_path`` holds the codes of its ancestors; a btree entry holds at
most 2704 bytes, so longer ones (only deep trees of long non-ASCII codes: ASCII
codes stay under 2352 bytes at the deepest level) are refused."""

_POSITIVE_BASE = ord("k")  # "k".."}" for 1..19 digits
_NEGATIVE_BASE = ord("j")  # "j".."X" for 1..19 digits
_COMPLEMENT = str.maketrans("0123456789", "9876543210")


def int_key(value: int) -> str:
    """An integer (64-bit signed) as a string whose order is numeric order.

    Non-negative: ``chr(ord("k") + digits - 1)`` then the digits. Negative: ``chr(ord("j")
    - (digits - 1))`` then the nines' complement of the digits of ``-value``, so larger
    magnitudes sort first. Self-delimiting: the first letter gives the length.
    """
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"{value} is outside the 64-bit range")
    if value >= 0:
        digits = str(value)
        return chr(_POSITIVE_BASE + len(digits) - 1) + digits
    digits = str(-value)
    return chr(_NEGATIVE_BASE - (len(digits) - 1)) + digits.translate(_COMPLEMENT)


def path_ids(path: str) -> list[int]:
    """The ids of an id path, top first: ``"12.40.41."`` -> ``[12, 40, 41]``."""
    if not path.endswith(SEP):
        raise ValueError(f"not an id path: {path!r}")
    return [int(part) for part in path[:-1].split(SEP)]


def child_path(parent_path: str | None, own_id: int) -> str:
    """The id path of a child of ``parent_path`` (``None`` for a top-level row)."""
    return f"{parent_path or ''}{own_id}{SEP}"


def node_sort_path(parent_sort_path: str | None, sort_order: int, key: int) -> str:
    """The sort path of a target node: its parent's (``None`` for the root) + its segment."""
    return f"{parent_sort_path or ''}{int_key(sort_order)}{int_key(key)}{SEP}"


def member_sort_path(parent_sort_path: str | None, sort_order: int, code: str) -> str:
    """The sort path of a member: its parent's (``None`` at the top) + its segment.

    Refused (``TOO_LONG`` on ``code``) beyond :data:`MAX_SORT_PATH_BYTES`.
    """
    sort_path = f"{parent_sort_path or ''}{member_segment(sort_order, code)}"
    check_sort_path_size(code, len(sort_path.encode()))
    return sort_path


def member_segment(sort_order: int, code: str) -> str:
    """A member's own level of its sort path: ``(sort_order, code)`` in string order."""
    if MEMBER_END in code:
        raise InvalidInputError("INVALID_VALUE", "code contains control characters", "code")
    return f"{int_key(sort_order)}{code}{MEMBER_END}"


def check_sort_path_size(code: str, size: int, field: str = "code") -> None:
    """Refuse a member whose sort path would be ``size`` bytes (over the limit); the
    error names ``field``, the input that made it grow."""
    if size > MAX_SORT_PATH_BYTES:
        raise InvalidInputError(
            "TOO_LONG",
            f"member {code!r} is too deep for codes this long: the codes from the top down "
            f"to it take {size} bytes, at most {MAX_SORT_PATH_BYTES} are allowed; "
            "shorten the codes on its path",
            field,
            length=size,
            max=MAX_SORT_PATH_BYTES,
        )


def subtree_end(sort_path: str) -> str:
    """The exclusive upper bound of the subtree at ``sort_path``.

    Every sort path ends with its terminator (``"."`` or ``"\\x01"``); the strings from
    ``sort_path`` (included) up to ``sort_path`` with that last character incremented
    (excluded) are exactly those that start with ``sort_path``.
    """
    if not sort_path:
        raise ValueError("empty sort path")
    return sort_path[:-1] + chr(ord(sort_path[-1]) + 1)


def is_within(sort_path: str, ancestor_sort_path: str) -> bool:
    """Whether ``sort_path`` is ``ancestor_sort_path`` or below it."""
    return sort_path.startswith(ancestor_sort_path)
