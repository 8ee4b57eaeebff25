"""Initial schema: dimensions, members, plans, versions and target nodes.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

C_TEXT = sa.Text(collation="C")

# Defence in depth for the domain rule "only drafts change": statement-level
# triggers (one check per statement, not per row, so a 100,000-row version copy
# pays once) refuse node writes in a version that is not a DRAFT.
GUARD_FUNCTION = """
CREATE FUNCTION target_node_guard_draft() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad_version bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT v.id INTO bad_version FROM plan_version v
        WHERE v.id IN (SELECT DISTINCT version_id FROM old_rows) AND v.state <> 'DRAFT' LIMIT 1;
    ELSE
        SELECT v.id INTO bad_version FROM plan_version v
        WHERE v.id IN (SELECT DISTINCT version_id FROM new_rows) AND v.state <> 'DRAFT' LIMIT 1;
    END IF;
    IF bad_version IS NOT NULL THEN
        RAISE EXCEPTION 'plan version % is not a draft; its target nodes cannot change',
            bad_version USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
"""


def upgrade() -> None:
    op.create_table(
        "dimension",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dimension"),
        sa.UniqueConstraint("name", name="uq_dimension_name"),
        sa.CheckConstraint(
            "kind IN ('TIME', 'REGION', 'CHANNEL', 'CUSTOMER', 'PRODUCT', 'CUSTOM')",
            name="ck_dimension_kind",
        ),
    )
    op.create_table(
        "member",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("dimension_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger()),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("path", C_TEXT, nullable=False),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "attributes", postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_member"),
        sa.ForeignKeyConstraint(
            ["dimension_id"],
            ["dimension.id"],
            name="fk_member_dimension_id_dimension",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["member.id"], name="fk_member_parent_id_member", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("dimension_id", "code", name="uq_member_dimension_id_code"),
        sa.CheckConstraint(
            "jsonb_typeof(attributes) = 'object'", name="ck_member_attributes_object"
        ),
    )
    op.create_index("ix_member_dimension_id", "member", ["dimension_id"])
    op.create_index("ix_member_dimension_id_path", "member", ["dimension_id", "path"])
    op.create_index("ix_member_parent_id", "member", ["parent_id"])

    op.create_table(
        "plan",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("measure", sa.String(16), server_default="AMOUNT", nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("minor_digits", sa.SmallInteger(), nullable=False),
        sa.Column("unit", sa.String(50)),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_plan"),
        sa.CheckConstraint("measure IN ('AMOUNT', 'QUANTITY')", name="ck_plan_measure"),
        sa.CheckConstraint("minor_digits BETWEEN 0 AND 4", name="ck_plan_minor_digits"),
        sa.CheckConstraint("fiscal_year BETWEEN 1900 AND 2999", name="ck_plan_fiscal_year"),
        sa.CheckConstraint(
            "(measure = 'AMOUNT' AND currency IS NOT NULL) OR measure = 'QUANTITY'",
            name="ck_plan_amount_has_currency",
        ),
    )

    op.create_table(
        "plan_version",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), server_default="DRAFT", nullable=False),
        sa.Column("copied_from_id", sa.BigInteger()),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_plan_version"),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name="fk_plan_version_plan_id_plan", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["copied_from_id"],
            ["plan_version.id"],
            name="fk_plan_version_copied_from_id_plan_version",
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("plan_id", "number", name="uq_plan_version_plan_id_number"),
        sa.CheckConstraint(
            "state IN ('DRAFT', 'SUBMITTED', 'APPROVED', 'PUBLISHED', 'ARCHIVED')",
            name="ck_plan_version_state",
        ),
        sa.CheckConstraint("number >= 1", name="ck_plan_version_number_positive"),
    )

    op.execute("CREATE SEQUENCE target_node_key_seq AS bigint")
    op.create_table(
        "target_node",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_key", sa.BigInteger()),
        sa.Column("path", C_TEXT, nullable=False),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column("dimension_id", sa.BigInteger()),
        sa.Column("member_id", sa.BigInteger()),
        sa.Column(
            "coordinates", postgresql.JSONB(), server_default=sa.text("'[]'"), nullable=False
        ),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("split_dimension_id", sa.BigInteger()),
        sa.Column("split_spec", postgresql.JSONB()),
        sa.Column("explanation", postgresql.JSONB()),
        sa.Column("locked", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("floor", sa.BigInteger()),
        sa.Column("cap", sa.BigInteger()),
        sa.Column("strategy", sa.Text()),
        sa.Column("kpis", postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("version_id", "key", name="pk_target_node"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["plan_version.id"],
            name="fk_target_node_version_id_plan_version",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name="fk_target_node_plan_id_plan", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["version_id", "parent_key"],
            ["target_node.version_id", "target_node.key"],
            name="fk_target_node_parent",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dimension_id"], ["dimension.id"], name="fk_target_node_dimension_id_dimension"
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name="fk_target_node_member_id_member"),
        sa.ForeignKeyConstraint(
            ["split_dimension_id"],
            ["dimension.id"],
            name="fk_target_node_split_dimension_id_dimension",
        ),
        sa.CheckConstraint("(parent_key IS NULL) = (depth = 0)", name="ck_target_node_root_depth"),
        sa.CheckConstraint(
            "(dimension_id IS NULL) = (member_id IS NULL) "
            "AND (dimension_id IS NULL) = (parent_key IS NULL)",
            name="ck_target_node_coordinate",
        ),
        sa.CheckConstraint("target >= 0", name="ck_target_node_target_non_negative"),
        sa.CheckConstraint(
            "jsonb_typeof(coordinates) = 'array'", name="ck_target_node_coordinates_array"
        ),
    )
    op.create_index("ix_target_node_version_id_path", "target_node", ["version_id", "path"])
    op.create_index(
        "ix_target_node_version_id_parent_key", "target_node", ["version_id", "parent_key"]
    )
    op.create_index(
        "ix_target_node_coordinates",
        "target_node",
        ["coordinates"],
        postgresql_using="gin",
        postgresql_ops={"coordinates": "jsonb_path_ops"},
    )

    op.execute(GUARD_FUNCTION)
    op.execute(
        "CREATE TRIGGER target_node_guard_insert AFTER INSERT ON target_node "
        "REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION target_node_guard_draft()"
    )
    op.execute(
        "CREATE TRIGGER target_node_guard_update AFTER UPDATE ON target_node "
        "REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION target_node_guard_draft()"
    )
    op.execute(
        "CREATE TRIGGER target_node_guard_delete AFTER DELETE ON target_node "
        "REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION target_node_guard_draft()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS target_node_guard_delete ON target_node")
    op.execute("DROP TRIGGER IF EXISTS target_node_guard_update ON target_node")
    op.execute("DROP TRIGGER IF EXISTS target_node_guard_insert ON target_node")
    op.execute("DROP FUNCTION IF EXISTS target_node_guard_draft()")
    op.drop_table("target_node")
    op.execute("DROP SEQUENCE IF EXISTS target_node_key_seq")
    op.drop_table("plan_version")
    op.drop_table("plan")
    op.drop_table("member")
    op.drop_table("dimension")
