"""Actuals and the monitoring loop: fact tables, import batches, reviews, re-plans.

- ``fact_batch``: one imported batch (sales, opportunities or market sizes) under
  the client's key; a second import under the same key with the same content
  changes nothing, with other content it is refused (``request_hash``).
- ``sales_fact``: the sales, **partitioned by fiscal year** (``PARTITION BY RANGE
  (sold_on)``). No partition is created here: an import creates the partitions
  of the fiscal years it touches (``sales_fact_fyNNNN``, bounds from the importing
  plan's calendar, clipped to the gaps between existing partitions) before it
  copies, so a company with years of history reads and writes one partition
  per year. ``members`` holds one member id per dimension named on the row
  (never the time dimension: the date places a sale in time); ``credits`` the
  split credit, ``{"<owner id>": "<share>", ...}`` with shares summing to 1, or
  NULL. ``amount`` is in minor units of ``currency`` (NULL currency: a
  quantity-only fact).
- ``opportunity_fact``: opportunity outcomes (won / lost) for win rates.
- ``market_size``: the market size of a member over a date range, for market shares.
- ``review``: a review (复盘) of a node and period: notes, decisions, who, when.
- ``plan.settings``: per-plan thresholds (attainment status, alerts, diagnostics).
- ``plan_version.replan_review_id`` / ``replan_as_of``: a re-plan's prompt and date.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "plan",
        sa.Column("settings", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_plan_settings_object"), "plan", "jsonb_typeof(settings) = 'object'")

    op.create_table(
        "fact_batch",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), sa.ForeignKey("plan.id"), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('SALES', 'OPPORTUNITY', 'MARKET_SIZE')", name="ck_fact_batch_kind"
        ),
        sa.UniqueConstraint("kind", "key", name="uq_fact_batch_kind_key"),
    )
    op.create_index("ix_fact_batch_plan_id", "fact_batch", ["plan_id"])

    op.execute("CREATE SEQUENCE sales_fact_id_seq AS bigint")
    op.create_table(
        "sales_fact",
        sa.Column(
            "id",
            sa.BigInteger(),
            server_default=sa.text("nextval('sales_fact_id_seq'::regclass)"),
            nullable=False,
        ),
        sa.Column("sold_on", sa.Date(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), sa.ForeignKey("fact_batch.id"), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Numeric(20, 4), nullable=True),
        sa.Column("order_ref", sa.String(200), nullable=True),
        sa.Column("customer_ref", sa.String(200), nullable=True),
        sa.Column("members", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("credits", JSONB(), nullable=True),
        sa.PrimaryKeyConstraint("id", "sold_on", name="pk_sales_fact"),
        postgresql_partition_by="RANGE (sold_on)",
    )
    op.execute("ALTER SEQUENCE sales_fact_id_seq OWNED BY sales_fact.id")
    op.create_index("ix_sales_fact_external_id", "sales_fact", ["external_id"])
    op.create_index("ix_sales_fact_batch_id", "sales_fact", ["batch_id"])

    op.create_table(
        "opportunity_fact",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("batch_id", sa.BigInteger(), sa.ForeignKey("fact_batch.id"), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("customer_ref", sa.String(200), nullable=True),
        sa.Column("members", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.CheckConstraint("outcome IN ('WON', 'LOST')", name="ck_opportunity_fact_outcome"),
        sa.UniqueConstraint("external_id", name="uq_opportunity_fact_external_id"),
    )
    op.create_index("ix_opportunity_fact_closed_on", "opportunity_fact", ["closed_on"])

    op.create_table(
        "market_size",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("batch_id", sa.BigInteger(), sa.ForeignKey("fact_batch.id"), nullable=False),
        sa.Column(
            "member_id",
            sa.BigInteger(),
            sa.ForeignKey("member.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("starts_on < ends_on", name="ck_market_size_date_range"),
        sa.CheckConstraint("amount >= 0", name="ck_market_size_amount_non_negative"),
        sa.UniqueConstraint(
            "member_id", "starts_on", "ends_on", name="uq_market_size_member_id_starts_on_ends_on"
        ),
    )

    op.create_table(
        "review",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("plan_id", sa.BigInteger(), sa.ForeignKey("plan.id"), nullable=False),
        sa.Column(
            "version_id",
            sa.BigInteger(),
            sa.ForeignKey("plan_version.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("node_key", sa.BigInteger(), nullable=False),
        sa.Column(
            "period_member_id", sa.BigInteger(), sa.ForeignKey("member.id"), nullable=True
        ),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("decisions", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_review_version_id_node_key", "review", ["version_id", "node_key"])
    op.create_index("ix_review_plan_id_held_on", "review", ["plan_id", "held_on"])

    op.add_column(
        "plan_version",
        sa.Column(
            "replan_review_id",
            sa.BigInteger(),
            sa.ForeignKey("review.id", name="fk_plan_version_replan_review_id_review"),
            nullable=True,
        ),
    )
    op.add_column("plan_version", sa.Column("replan_as_of", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("plan_version", "replan_as_of")
    op.drop_column("plan_version", "replan_review_id")
    op.drop_table("review")
    op.drop_table("market_size")
    op.drop_table("opportunity_fact")
    op.drop_table("sales_fact")  # drops its partitions and owned sequence too
    op.drop_table("fact_batch")
    op.drop_constraint(op.f("ck_plan_settings_object"), "plan", type_="check")
    op.drop_column("plan", "settings")
