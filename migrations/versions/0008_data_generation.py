"""The data generation: a counter the database moves on every change an answer can read.

``data_generation`` holds one row whose ``value`` a statement-level trigger on
every table a GraphQL answer reads increments, in the writing transaction: the
new value becomes visible exactly when the change does, whatever code path (a
use case, an import, a hand-written UPDATE in psql) made it. The response cache
(``service.api.cache``) keys answers on it, read with one cheap statement per
request, so a cached answer cannot outlive the data it was read from, on any
replica. ``idempotency_key`` has no trigger: no answer of a query reads it.

A test (``tests/ops/test_data_generation.py``) fails when a table of the models
has no such trigger, so a new table cannot be forgotten.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "audit_entry",
    "dimension",
    "fact_batch",
    "market_size",
    "member",
    "opportunity_fact",
    "owner",
    "plan",
    "plan_version",
    "review",
    "sales_fact",
    "target_node",
    "team_member",
)


def upgrade() -> None:
    op.create_table(
        "data_generation",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO data_generation (id, value) VALUES (1, 1)")
    op.execute(
        """
        CREATE FUNCTION quotatree_bump_generation() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE data_generation SET value = value + 1 WHERE id = 1;
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        create_trigger(table)


def create_trigger(table: str) -> None:
    """The generation trigger of ``table`` (a later migration adding a table calls it)."""
    op.execute(
        f"CREATE TRIGGER data_generation_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION quotatree_bump_generation()'
    )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f'DROP TRIGGER data_generation_bump ON "{table}"')
    op.execute("DROP FUNCTION quotatree_bump_generation()")
    op.drop_table("data_generation")
