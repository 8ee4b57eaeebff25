"""Member attributes, typed per dimension kind, and the hierarchy rules.

Allocation and diagnostics read these attributes: a region's market potential,
a customer's tier and lifecycle, a product's lifecycle and sales cycle, a
channel's type. Each kind accepts its own attributes and refuses the others,
so a typo or an attribute on the wrong kind is a user error, never stored
silently. ``extra`` holds free-form attributes: an object of scalars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from service.domain.errors import DomainError
from service.domain.tree import DimensionKind, InvalidInputError

MAX_EXTRA_KEYS = 50
MAX_EXTRA_KEY_LENGTH = 64
MAX_EXTRA_STRING = 1000
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
        """Read what ``to_json`` wrote (trusted: it was validated on the way in)."""
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
    """Validate raw attribute values (camelCase keys) for a member of ``kind``.

    Raw values come from GraphQL inputs or file imports, so strings are accepted
    for every type (``"1250000.50"``, ``"2026-03-01"``, ``"90"``). Refused, each
    naming ``field.<attribute>``: an attribute the kind does not take, a
    negative or non-finite market potential, an enum value outside its list, a
    tier outside ``tiers``, a bad date, a negative or fractional sales cycle,
    and an ``extra`` that is not an object of scalars.
    """
    parsed: dict[str, Any] = {}
    for name, raw in values.items():
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        where = f"{field}.{name}"
        if name == "extra":
            parsed["extra"] = _check_extra(raw, where)
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


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _convert(name: str, raw: Any, where: str, tiers: Sequence[str]) -> Any:
    text = raw.strip() if isinstance(raw, str) else raw
    match name:
        case "marketPotential":
            return _non_negative_decimal(text, where)
        case "competitionLevel":
            return _enum(CompetitionLevel, text, where)
        case "size":
            return _enum(CustomerSize, text, where)
        case "customerLifecycle":
            return _enum(CustomerLifecycle, text, where)
        case "productLifecycle":
            return _enum(ProductLifecycle, text, where)
        case "channelType":
            return _enum(ChannelType, text, where)
        case "tier":
            value = str(text).upper()
            if value not in tiers:
                raise InvalidInputError(
                    "INVALID_VALUE",
                    f"{where}: {text!r} is not a tier of this dimension ({', '.join(tiers)})",
                    where,
                )
            return value
        case "launchDate":
            if isinstance(text, date):
                return text
            try:
                return date.fromisoformat(str(text))
            except ValueError:
                raise InvalidInputError(
                    "INVALID_VALUE", f"{where}: {text!r} is not a date (YYYY-MM-DD)", where
                ) from None
        case "salesCycleDays":
            return _days(text, where)
        case _:  # industry, category: short free text
            value = str(text)
            if len(value) > 200:
                raise InvalidInputError(
                    "TOO_LONG", f"{where}: at most 200 characters, got {len(value)}", where
                )
            return value


def _enum(cls: type[StrEnum], raw: Any, where: str) -> StrEnum:
    try:
        return cls(str(raw).upper())
    except ValueError:
        raise InvalidInputError(
            "INVALID_VALUE",
            f"{where}: {raw!r} is not one of {', '.join(m.value for m in cls)}",
            where,
        ) from None


def _non_negative_decimal(raw: Any, where: str) -> Decimal:
    if isinstance(raw, bool):
        raise InvalidInputError("INVALID_VALUE", f"{where}: expected a number", where)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise InvalidInputError(
            "INVALID_VALUE", f"{where}: {raw!r} is not a decimal number", where
        ) from None
    if not value.is_finite() or value < 0 or value.adjusted() > 30:
        raise InvalidInputError(
            "INVALID_VALUE", f"{where}: must be a finite number, zero or more, got {raw!r}", where
        )
    return value


def _days(raw: Any, where: str) -> int:
    if isinstance(raw, bool):
        raise InvalidInputError("INVALID_VALUE", f"{where}: expected whole days", where)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value != value.to_integral_value() or not 0 <= value <= 3650:
        raise InvalidInputError(
            "INVALID_VALUE", f"{where}: whole days between 0 and 3650, got {raw!r}", where
        )
    return int(value)


def _check_extra(raw: Any, where: str) -> dict[str, str | int | float | bool | None]:
    if not isinstance(raw, Mapping):
        raise InvalidInputError("INVALID_VALUE", f"{where}: must be an object", where)
    if len(raw) > MAX_EXTRA_KEYS:
        raise InvalidInputError(
            "TOO_MANY", f"{where}: at most {MAX_EXTRA_KEYS} keys, got {len(raw)}", where
        )
    out: dict[str, str | int | float | bool | None] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key or len(key) > MAX_EXTRA_KEY_LENGTH:
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{where}: keys are 1 to {MAX_EXTRA_KEY_LENGTH} characters",
                where,
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError("INVALID_VALUE", f"{where}.{key}: not a finite number", where)
        if isinstance(value, str) and len(value) > MAX_EXTRA_STRING:
            raise InvalidInputError(
                "TOO_LONG", f"{where}.{key}: at most {MAX_EXTRA_STRING} characters", where
            )
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{where}.{key}: values are strings, numbers, booleans or null, "
                f"not {type(value).__name__}",
                where,
            )
        out[key] = value
    return out


def check_move(
    member_id: int, member_code: str, new_parent_path: Sequence[tuple[int, str]] | None
) -> None:
    """Refuse moving a member under itself or one of its descendants.

    ``new_parent_path`` is the new parent's ancestry, root first, as
    (id, code) pairs ending with the new parent itself; ``None`` for the top.
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
    check_depth(len(new_parent_path))


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
]
