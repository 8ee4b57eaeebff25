"""Idempotency keys keep the exact bytes of the first answer and a lease on the running attempt.

The answer was a JSONB value, which reorders object keys, so a replay differed
from the first answer; it is now the body's bytes with their status and content
type. ``attempt`` and ``lease_until`` tell a running request (its lease is
renewed while it runs, on any replica) from one that died.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("idempotency_key", sa.Column("attempt", sa.Uuid()))
    op.add_column("idempotency_key", sa.Column("lease_until", sa.DateTime(timezone=True)))
    op.add_column("idempotency_key", sa.Column("content_type", sa.String(200)))
    op.add_column("idempotency_key", sa.Column("body", sa.LargeBinary()))
    # Answers stored before keep their (already reordered) JSON; rows without one
    # have no lease, so a retry finds their request dead: lost if applied, else rerun.
    op.execute(
        "UPDATE idempotency_key SET body = convert_to(response::text, 'UTF8'), "
        "content_type = 'application/json' WHERE response IS NOT NULL"
    )
    op.drop_column("idempotency_key", "response")


def downgrade() -> None:
    op.add_column("idempotency_key", sa.Column("response", postgresql.JSONB()))
    op.execute(
        "UPDATE idempotency_key SET response = convert_from(body, 'UTF8')::jsonb "
        "WHERE body IS NOT NULL"
    )
    op.drop_column("idempotency_key", "body")
    op.drop_column("idempotency_key", "content_type")
    op.drop_column("idempotency_key", "lease_until")
    op.drop_column("idempotency_key", "attempt")
