"""Repair member attributes that earlier imports stored in a form reads cannot serve.

Before this revision an Excel date cell in a ``launch date`` column was stored
as ``"2024-03-01T00:00:00"`` (a datetime), and every read of that dimension's
members failed. Writes now normalise every value (service.domain.values);
this revision brings the rows already stored to the same forms, so that every
stored value reads back and passes the write rules again (a member update
re-checks the attributes it keeps):

- ``launchDate`` held as a date and time: the date (the time of an Excel date
  cell is midnight; a launch date has no time of day);
- ``marketPotential`` with more than 10 decimals (a float's noise, such as
  0.30000000000000004): rounded to 10 decimals, trailing zeros dropped;
- ``industry``, ``category`` and ``extra`` keys holding control characters or
  line separators: each one becomes a space, then the text is stripped (an
  attribute left empty is removed; an extra key that would collide keeps a
  numbered suffix);
- ``extra`` strings with control characters other than tab and line breaks:
  those characters removed, the text stripped; ``extra`` integers beyond
  ±(2^53 - 1): kept exactly as their digits in a string.

Every repaired member is logged with its id, and what changed. The repair is
self-contained on purpose (it does not import the service, whose rules may
change later). Downgrading keeps the repaired values: they are valid for
the earlier revisions too.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import logging
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

SAFE_INTEGER = 2**53 - 1
MAX_DECIMALS = 10
KEYS = ("launchDate", "marketPotential", "industry", "category", "extra")


def _line(text: str) -> str:
    """One line of text: control characters and line separators become spaces."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text
    ).strip()


def _multiline(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) != "Cc" or ch in "\t\n\r"
    ).strip()


def _launch_date(value: Any) -> Any:
    if not isinstance(value, str) or len(value) == 10:
        return value
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        pass
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return value  # not written by any version of the service; left as it is


def _potential(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    exponent = number.as_tuple().exponent
    if not number.is_finite() or not isinstance(exponent, int) or exponent >= -MAX_DECIMALS:
        return value
    rounded = number.quantize(Decimal(1).scaleb(-MAX_DECIMALS), context=Context(prec=400))
    return format(rounded.normalize(context=Context(prec=400)), "f")


def _extra(extra: Any) -> Any:
    if not isinstance(extra, dict):
        return extra
    out: dict[str, Any] = {}
    for key, value in extra.items():
        new_key = _line(key) if isinstance(key, str) else str(key)
        base, n = new_key or "key", 1
        while not new_key or new_key in out:
            n += 1
            new_key = f"{base}_{n}"
        if isinstance(value, str):
            value = _multiline(value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER:
            value = str(value)
        elif isinstance(value, float) and abs(value) > SAFE_INTEGER:
            value = format(value, ".17g")
        out[new_key] = value
    return out


def repair(attributes: dict[str, Any]) -> dict[str, Any]:
    """The attributes with every repair applied (equal to the input when none applies)."""
    out = dict(attributes)
    if "launchDate" in out:
        out["launchDate"] = _launch_date(out["launchDate"])
    if "marketPotential" in out:
        out["marketPotential"] = _potential(out["marketPotential"])
    for name in ("industry", "category"):
        if isinstance(out.get(name), str):
            out[name] = _line(out[name])
            if not out[name]:
                del out[name]
    if "extra" in out:
        out["extra"] = _extra(out["extra"])
    return out


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT m.id, m.attributes FROM member m JOIN dimension d ON d.id = m.dimension_id "
            "WHERE d.plan_id IS NULL AND m.attributes ?| :keys ORDER BY m.id"
        ).columns(id=sa.BigInteger, attributes=postgresql.JSONB),
        {"keys": list(KEYS)},
    ).all()
    changed = []
    for member_id, attributes in rows:
        repaired = repair(attributes)
        if repaired != attributes:
            changed.append({"id": member_id, "attributes": repaired})
            log.info(
                "0006: member %s attributes repaired: %s -> %s",
                member_id,
                {k: v for k, v in attributes.items() if repaired.get(k) != v},
                {k: v for k, v in repaired.items() if attributes.get(k) != v},
            )
    if changed:
        bind.execute(
            sa.text("UPDATE member SET attributes = :attributes WHERE id = :id").bindparams(
                sa.bindparam("attributes", type_=postgresql.JSONB),
                sa.bindparam("id", type_=sa.BigInteger),
            ),
            changed,
        )
    log.info("0006: %d of %d members with such attributes repaired", len(changed), len(rows))


def downgrade() -> None:
    """Nothing to undo: the repaired values are valid for every earlier revision."""
