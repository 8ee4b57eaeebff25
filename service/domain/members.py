"""Member attributes, typed per dimension kind, and the hierarchy rules.

Allocation and diagnostics read these attributes: a region's market potential,
a customer's tier and lifecycle, a product's lifecycle and sales cycle, a
channel's type. Each kind accepts its own attributes and refuses the others,
so a typo or an attribute on the wrong kind is a user error, never stored
silently. ``extra`` holds free-form attributes: an object of scalars.

``check_attributes`` is the single gate of every door (GraphQL, CSV, XLSX,
the command line): it normalises every value to the one stored form, so
whatever is stored, ``MemberAttributes.from_json`` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from service.domain.errors import DomainError
from service.domain.tree import DimensionKind, InvalidInputError, clean_code
from service.domain.values import (
    PG_INTEGER_MAX,
    PG_INTEGER_MIN,
    calendar_date,
    check_storable,
    clean_text,
    decimal_number,
    json_scalar,
    text_of,
    whole_number,
)

MAX_EXTRA_KEYS = 50
MAX_EXTRA_KEY_LENGTH = 64
MAX_EXTRA_STRING = 1000
MAX_TEXT_ATTRIBUTE = 200
"""Longest industry or category."""
MAX_POTENTIAL_DIGITS = 30
"""Most digits of a market potential before the decimal point."""
MAX_SALES_CYCLE_DAYS = 3650
MAX_DEPTH = 20
"""Deepest member hierarchy (a top-level member has depth 0)."""


class CompetitionLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class CustomerSize(StrEnum):
    SMALL = "SMALL"
    MEDIUM = "MEDIUM"
    LARGE = "LARGE"
    ENTERPRISE = "ENTERPRISE"


class CustomerLifecycle(StrEnum):
    NEW = "NEW"
    EXISTING = "EXISTING"


class ProductLifecycle(StrEnum):
    FLAGSHIP = "FLAGSHIP"
    ESTABLISHED = "ESTABLISHED"
    NEW = "NEW"
    SERVICE = "SERVICE"


class ChannelType(StrEnum):
    DIRECT = "DIRECT"
    PARTNER = "PARTNER"
    ONLINE = "ONLINE"


DEFAULT_TIERS = ("A", "B", "C")

# attribute name -> the dimension kinds that accept it
ATTRIBUTE_KINDS: dict[str, frozenset[DimensionKind]] = {
    "marketPotential": frozenset({DimensionKind.REGION}),
    "competitionLevel": frozenset({DimensionKind.REGION}),
    "tier": frozenset({DimensionKind.CUSTOMER}),
    "size": frozenset({DimensionKind.CUSTOMER}),
    "industry": frozenset({DimensionKind.CUSTOMER}),
    "customerLifecycle": frozenset({DimensionKind.CUSTOMER}),
    "category": frozenset({DimensionKind.PRODUCT}),
    "productLifecycle": frozenset({DimensionKind.PRODUCT}),
    "launchDate": frozenset({DimensionKind.PRODUCT}),
    "salesCycleDays": frozenset({DimensionKind.PRODUCT}),
    "channelType": frozenset({DimensionKind.CHANNEL}),
}


@dataclass(frozen=True, slots=True)
class MemberAttributes:
    """Typed attributes; ``None`` where not set. Stored as one JSON object."""

    market_potential: Decimal | None = None
    competition_level: CompetitionLevel | None = None
    tier: str | None = None
    size: CustomerSize | None = None
    industry: str | None = None
    customer_lifecycle: CustomerLifecycle | None = None
    category: str | None = None
    product_lifecycle: ProductLifecycle | None = None
    launch_date: date | None = None
    sales_cycle_days: int | None = None
    channel_type: ChannelType | None = None
    extra: Mapping[str, str | int | float | bool | None] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, camelCase keys, unset attributes left out."""
        out: dict[str, Any] = {}
        for key, value in (
            ("marketPotential", self.market_potential),
            ("competitionLevel", self.competition_level),
            ("tier", self.tier),
            ("size", self.size),
            ("industry", self.industry),
            ("customerLifecycle", self.customer_lifecycle),
            ("category", self.category),
            ("productLifecycle", self.product_lifecycle),
            ("launchDate", self.launch_date),
            ("salesCycleDays", self.sales_cycle_days),
            ("channelType", self.channel_type),
        ):
            if value is None:
                continue
            if isinstance(value, Decimal):
                out[key] = format(value, "f")
            elif isinstance(value, date):
                out[key] = value.isoformat()
            elif isinstance(value, StrEnum):
                out[key] = value.value
            else:
                out[key] = value
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MemberAttributes:
        """Read what ``to_json`` wrote.

        Everything stored went through ``check_attributes`` (and migration
        0006 repaired what an earlier version let through), so this trusts its
        input: ``from_json(a.to_json()) == a`` for every accepted ``a``, which
        the unit tests check for every type.
        """
        return cls(
            market_potential=_opt(data.get("marketPotential"), Decimal),
            competition_level=_opt(data.get("competitionLevel"), CompetitionLevel),
            tier=data.get("tier"),
            size=_opt(data.get("size"), CustomerSize),
            industry=data.get("industry"),
            customer_lifecycle=_opt(data.get("customerLifecycle"), CustomerLifecycle),
            category=data.get("category"),
            product_lifecycle=_opt(data.get("productLifecycle"), ProductLifecycle),
            launch_date=_opt(data.get("launchDate"), date.fromisoformat),
            sales_cycle_days=data.get("salesCycleDays"),
            channel_type=_opt(data.get("channelType"), ChannelType),
            extra=data.get("extra"),
        )


def _opt(value: Any, convert: Any) -> Any:
    return None if value is None else convert(value)


def check_attributes(
    kind: DimensionKind,
    values: Mapping[str, Any],
    *,
    field: str = "attributes",
    tiers: Sequence[str] = DEFAULT_TIERS,
) -> MemberAttributes:
    """Validate and normalise raw attribute values (camelCase keys) for a member of ``kind``.

    This is the one gate every door passes (GraphQL, CSV, XLSX, the command
    line): raw values may be text (``"1250000.50"``, ``"2026-03-01"``,
    ``"90"``) or the typed cells a workbook holds (numbers, booleans, dates,
    datetimes, times), and each comes out in the one form ``to_json`` stores
    and ``from_json`` reads back (``service.domain.values`` holds the rules).
    Refused, each naming ``field.<attribute>``: an attribute the kind does not
    take; a value of the wrong type (a date cell for a tier, a boolean for a
    potential, a time of day for a launch date); text with NUL or control
    characters; a negative, non-finite or oversized market potential; an
    enum value outside its list; a tier outside ``tiers``; a sales cycle that
    is not whole days in 0..3650; an ``extra`` that is not an object of
    scalars. Absent, null and blank values are left out.
    """
    if not isinstance(values, Mapping):
        raise InvalidInputError("INVALID_VALUE", f"{field} must be an object", field)
    parsed: dict[str, Any] = {}
    for name, raw in values.items():
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        where = f"{field}.{name}"
        if name == "extra":
            extra = _check_extra(raw, where)
            if extra:
                parsed["extra"] = extra
            continue
        kinds = ATTRIBUTE_KINDS.get(name)
        if kinds is None:
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{where}: unknown attribute; known: {', '.join(sorted(ATTRIBUTE_KINDS))}, "
                "or put free-form values under extra",
                where,
            )
        if kind not in kinds:
            allowed = ", ".join(sorted(k for k, v in ATTRIBUTE_KINDS.items() if kind in v))
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{where}: a {kind.value} member does not take {name}"
                + (f" (it takes {allowed})" if allowed else " (use extra)"),
                where,
            )
        parsed[_snake(name)] = _convert(name, raw, where, tiers)
    return MemberAttributes(**parsed)


def normalize_attributes(
    kind: DimensionKind,
    values: Mapping[str, Any],
    *,
    field: str = "attributes",
    tiers: Sequence[str] = DEFAULT_TIERS,
) -> dict[str, Any]:
    """``check_attributes(...).to_json()``: the JSON object to store."""
    return check_attributes(kind, values, field=field, tiers=tiers).to_json()


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _convert(name: str, raw: Any, where: str, tiers: Sequence[str]) -> Any:
    match name:
        case "marketPotential":
            return decimal_number(
                raw, where, minimum=Decimal(0), max_integer_digits=MAX_POTENTIAL_DIGITS
            )
        case "competitionLevel":
            return _enum(CompetitionLevel, raw, where)
        case "size":
            return _enum(CustomerSize, raw, where)
        case "customerLifecycle":
            return _enum(CustomerLifecycle, raw, where)
        case "productLifecycle":
            return _enum(ProductLifecycle, raw, where)
        case "channelType":
            return _enum(ChannelType, raw, where)
        case "tier":
            text = clean_code(text_of(raw, where), where).upper()
            if text not in tiers:
                raise InvalidInputError(
                    "INVALID_VALUE",
                    f"{where}: {text!r} is not a tier of this dimension ({', '.join(tiers)})",
                    where,
                )
            return text
        case "launchDate":
            return calendar_date(raw, where)
        case "salesCycleDays":
            return whole_number(raw, where, minimum=0, maximum=MAX_SALES_CYCLE_DAYS)
        case _:  # industry, category: one line of free text
            line = clean_text(text_of(raw, where), where, max_length=MAX_TEXT_ATTRIBUTE)
            assert line is not None  # blank values were left out above
            return line


def _enum(cls: type[StrEnum], raw: Any, where: str) -> StrEnum:
    listed = ", ".join(m.value for m in cls)
    if not isinstance(raw, str):
        raise InvalidInputError(
            "INVALID_VALUE", f"{where}: expected one of {listed}, got {raw!r}", where
        )
    text = raw.strip()
    try:
        return cls(text.upper())
    except ValueError:
        raise InvalidInputError(
            "INVALID_VALUE", f"{where}: {text[:40]!r} is not one of {listed}", where
        ) from None


def _check_extra(raw: Any, where: str) -> dict[str, str | int | float | bool | None]:
    if not isinstance(raw, Mapping):
        raise InvalidInputError("INVALID_VALUE", f"{where}: must be an object", where)
    if len(raw) > MAX_EXTRA_KEYS:
        raise InvalidInputError(
            "TOO_MANY", f"{where}: at most {MAX_EXTRA_KEYS} keys, got {len(raw)}", where
        )
    out: dict[str, str | int | float | bool | None] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_EXTRA_KEY_LENGTH:
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{where}: keys are 1 to {MAX_EXTRA_KEY_LENGTH} characters",
                where,
            )
        try:
            check_storable(key, "a key", "line")
        except InvalidInputError as exc:
            raise InvalidInputError(exc.code, f"{where}: {exc.message}", where) from None
        out[key] = json_scalar(value, f"{where}.{key}", max_length=MAX_EXTRA_STRING)
    return out


def check_sort_order(value: object, field: str = "sortOrder") -> int:
    """A sort order: a whole number that fits the database's integer column."""
    return whole_number(value, field, minimum=PG_INTEGER_MIN, maximum=PG_INTEGER_MAX)


def check_move(
    member_id: int,
    member_code: str,
    new_parent_path: Sequence[tuple[int, str]] | None,
    subtree_height: int = 0,
) -> None:
    """Refuse moving a member under itself or one of its descendants, or too deep.

    ``new_parent_path`` is the new parent's ancestry, root first, as
    (id, code) pairs ending with the new parent itself; ``None`` for the top.
    ``subtree_height`` is how many levels the member's deepest descendant
    lies below it (0 for a leaf): the whole subtree moves, so the deepest
    descendant must still be within ``MAX_DEPTH``.
    """
    if new_parent_path is None:
        return
    ids = [i for i, _ in new_parent_path]
    if member_id in ids:
        path = " › ".join(code for _, code in new_parent_path)
        raise InvalidInputError(
            "CYCLE",
            f"moving {member_code} under {path} would make it its own ancestor",
            "parentId",
            path=[code for _, code in new_parent_path],
        )
    check_depth(len(new_parent_path) + subtree_height)


def check_depth(depth: int) -> None:
    """A member at ``depth`` (0 = top level) is allowed up to ``MAX_DEPTH - 1``."""
    if depth >= MAX_DEPTH:
        raise InvalidInputError(
            "TOO_DEEP", f"members nest at most {MAX_DEPTH} levels deep", "parentId"
        )


__all__ = [
    "ATTRIBUTE_KINDS",
    "DEFAULT_TIERS",
    "ChannelType",
    "CompetitionLevel",
    "CustomerLifecycle",
    "CustomerSize",
    "DomainError",
    "MemberAttributes",
    "ProductLifecycle",
    "check_attributes",
    "check_depth",
    "check_move",
    "check_sort_order",
    "normalize_attributes",
]
