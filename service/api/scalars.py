"""Custom scalars and the currency enum.

``Decimal`` carries every exact number, amounts above all: inputs arrive as
``decimal.Decimal`` (from a string, an integer, or a number literal written in
the document, never through a binary float), outputs are decimal strings in the
plan's units (resolvers return ``Amount``, a ``str``).
"""

from __future__ import annotations

import decimal
import re
from enum import Enum
from typing import Any, NewType

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode
from iso4217 import Currency
from strawberry.types.scalar import ScalarDefinition

Amount = NewType("Amount", str)
"""An output of the Decimal scalar: an exact decimal string such as "1250000.00"."""
BigIntID = NewType("BigIntID", str)

MAX_DECIMAL_LENGTH = 64
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?")


def parse_decimal(value: Any) -> decimal.Decimal:
    """An exact decimal from a JSON string or integer; JSON floats are refused (a binary
    float is not the decimal the client typed)."""
    if isinstance(value, bool):
        raise ValueError('Decimal takes a decimal string such as "1250000.00", not a boolean')
    if isinstance(value, int):
        return decimal.Decimal(value)
    if isinstance(value, float):
        raise ValueError(
            f'Decimal takes a decimal string such as "{value!r}": a JSON number with a '
            "fraction is a binary float and loses digits"
        )
    if not isinstance(value, str):
        raise ValueError('Decimal takes a decimal string such as "1250000.00"')
    text = value.strip()
    if len(text) > MAX_DECIMAL_LENGTH:
        raise ValueError(f"Decimal takes at most {MAX_DECIMAL_LENGTH} characters")
    if not _DECIMAL.fullmatch(text):
        raise ValueError(
            f'{value[:MAX_DECIMAL_LENGTH]!r} is not a decimal number such as "1250000.00"'
        )
    return decimal.Decimal(text)


def _literal(node: ValueNode, _variables: Any = None) -> decimal.Decimal:
    # Number literals are exact in the document's text: read them as written.
    if isinstance(node, IntValueNode | FloatValueNode):
        text = node.value
        if len(text) > MAX_DECIMAL_LENGTH or not _DECIMAL.fullmatch(text):
            raise ValueError(f"{text[:MAX_DECIMAL_LENGTH]!r} is not a decimal number")
        return decimal.Decimal(text)
    if isinstance(node, StringValueNode):
        return parse_decimal(node.value)
    raise ValueError('Decimal takes a decimal string such as "1250000.00"')


DECIMAL = strawberry.scalar(
    name="Decimal",
    description='An exact decimal number as a string, e.g. "1250000.00" or "0.35". Amounts are '
    "in their plan's currency or unit with at most its decimals. Inputs also take integers "
    "and number literals written in the document; JSON numbers with a fraction are refused "
    "(a binary float is not the decimal you typed).",
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=_literal,
)


def _parse_bigint(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("BigIntID takes a decimal string of a 64-bit integer")
    text = str(value)
    if not re.fullmatch(r"-?(0|[1-9][0-9]{0,18})", text) or not -(2**63) <= int(text) < 2**63:
        raise ValueError("BigIntID takes a decimal string of a 64-bit integer")
    return text


BIGINT = strawberry.scalar(
    name="BigIntID",
    description="A 64-bit integer as a decimal string (beyond GraphQL Int's 32 bits), e.g. "
    '"9007199254740993".',
    serialize=str,
    parse_value=_parse_bigint,
)

SCALARS: dict[object, ScalarDefinition] = {
    Amount: DECIMAL,
    decimal.Decimal: DECIMAL,
    BigIntID: BIGINT,
}


def _currency_enum() -> type[Enum]:
    codes = sorted((c for c in Currency if c.exponent is not None), key=lambda c: c.code)
    members = {
        c.code: strawberry.enum_value(
            c.code, description=f"{c.currency_name} ({c.exponent} decimals)"
        )
        for c in codes
    }
    return Enum("CurrencyCode", members)  # type: ignore[return-value]


CurrencyCode: Any = strawberry.enum(
    _currency_enum(),
    description="ISO 4217 currencies that have a minor unit (so targets count in whole "
    "cents, yen, mils ...), each with its number of decimals.",
)


def describe_enum(cls: type[Enum], description: str, values: dict[str, str]) -> Any:
    """Register a domain enum as a GraphQL enum with a description for every value
    (``values`` maps each member name to its description; all are required)."""
    missing = {m.name for m in cls} ^ set(values)
    if missing:
        raise ValueError(f"{cls.__name__}: describe exactly its values; mismatch: {missing}")
    registered: Any = strawberry.enum(cls, description=description)
    for value in registered.__strawberry_definition__.values:
        value.description = values[value.name]
    return registered
