"""Members: typed attributes, dates for time members; plans own their calendar.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plan's time dimension is its own generated calendar; every other
    # dimension belongs to the organisation (plan_id NULL) and is shared.
    op.add_column("dimension", sa.Column("plan_id", sa.BigInteger()))
    op.add_column(
        "dimension",
        sa.Column("config", postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False),
    )
    op.create_foreign_key(
        "fk_dimension_plan_id_plan", "dimension", "plan", ["plan_id"], ["id"], ondelete="RESTRICT"
    )
    op.drop_constraint("uq_dimension_name", "dimension", type_="unique")
    op.create_index(
        "uq_dimension_name",
        "dimension",
        ["name"],
        unique=True,
        postgresql_where=sa.text("plan_id IS NULL"),
    )
    op.create_index(
        "uq_dimension_plan_id_name",
        "dimension",
        ["plan_id", "name"],
        unique=True,
        postgresql_where=sa.text("plan_id IS NOT NULL"),
    )
    op.create_check_constraint(
        "ck_dimension_time_owned_by_plan",
        "dimension",
        "plan_id IS NULL OR kind = 'TIME'",
    )

    # Time members carry their half-open [starts_on, ends_on) range.
    op.add_column("member", sa.Column("starts_on", sa.Date()))
    op.add_column("member", sa.Column("ends_on", sa.Date()))
    op.create_check_constraint(
        "ck_member_date_range",
        "member",
        "(starts_on IS NULL) = (ends_on IS NULL) AND (starts_on IS NULL OR starts_on < ends_on)",
    )

    op.add_column("plan", sa.Column("time_dimension_id", sa.BigInteger()))
    op.add_column("plan", sa.Column("calendar", postgresql.JSONB()))
    op.create_foreign_key(
        "fk_plan_time_dimension_id_dimension",
        "plan",
        "dimension",
        ["time_dimension_id"],
        ["id"],
        ondelete="RESTRICT",
    )


def downgrade() -> None:
    op.drop_constraint("fk_plan_time_dimension_id_dimension", "plan", type_="foreignkey")
    op.drop_column("plan", "calendar")
    op.drop_column("plan", "time_dimension_id")
    op.drop_constraint("ck_member_date_range", "member", type_="check")
    op.drop_column("member", "ends_on")
    op.drop_column("member", "starts_on")
    op.drop_constraint("ck_dimension_time_owned_by_plan", "dimension", type_="check")
    op.drop_index("uq_dimension_plan_id_name", "dimension")
    op.drop_index("uq_dimension_name", "dimension")
    op.create_unique_constraint("uq_dimension_name", "dimension", ["name"])
    op.drop_constraint("fk_dimension_plan_id_plan", "dimension", type_="foreignkey")
    op.drop_column("dimension", "config")
    op.drop_column("dimension", "plan_id")
