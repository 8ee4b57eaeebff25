"""Owners and teams, node ownership, the append-only audit trail, idempotency keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE FUNCTION audit_entry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def upgrade() -> None:
    op.create_table(
        "owner",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("email", sa.String(320)),
        sa.Column("lead_id", sa.BigInteger()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_owner"),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["owner.id"], name="fk_owner_lead_id_owner", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("subject", name="uq_owner_subject"),
        sa.CheckConstraint("kind IN ('PERSON', 'TEAM')", name="ck_owner_kind"),
        sa.CheckConstraint(
            "(kind = 'TEAM' AND subject IS NULL) OR kind = 'PERSON'", name="ck_owner_team_no_subject"
        ),
        sa.CheckConstraint(
            "(kind = 'PERSON' AND lead_id IS NULL) OR kind = 'TEAM'", name="ck_owner_person_no_lead"
        ),
    )
    op.create_index(
        "uq_owner_team_name",
        "owner",
        ["name"],
        unique=True,
        postgresql_where=sa.text("kind = 'TEAM'"),
    )
    op.create_table(
        "team_member",
        sa.Column("team_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("team_id", "person_id", name="pk_team_member"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["owner.id"], name="fk_team_member_team_id_owner", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["owner.id"], name="fk_team_member_person_id_owner", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_team_member_person_id", "team_member", ["person_id"])

    op.add_column("target_node", sa.Column("owner_id", sa.BigInteger()))
    op.create_foreign_key(
        "fk_target_node_owner_id_owner",
        "target_node",
        "owner",
        ["owner_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_index(
        "ix_target_node_owner_id_version_id", "target_node", ["owner_id", "version_id"]
    )

    op.create_table(
        "audit_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("plan_id", sa.BigInteger()),
        sa.Column("version_id", sa.BigInteger()),
        sa.Column("node_key", sa.BigInteger()),
        sa.Column("owner_id", sa.BigInteger()),
        sa.Column("before", postgresql.JSONB()),
        sa.Column("after", postgresql.JSONB()),
        sa.Column("reason", sa.Text()),
        sa.Column("request_id", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_audit_entry"),
    )
    op.create_index("ix_audit_entry_version_id_id", "audit_entry", ["version_id", "id"])
    op.create_index(
        "ix_audit_entry_version_id_node_key_id", "audit_entry", ["version_id", "node_key", "id"]
    )
    op.create_index("ix_audit_entry_owner_id_id", "audit_entry", ["owner_id", "id"])
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON audit_entry FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()"
    )

    op.create_table(
        "idempotency_key",
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("applied", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("response", postgresql.JSONB()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("subject", "key", name="pk_idempotency_key"),
    )
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_created_at", "idempotency_key")
    op.drop_table("idempotency_key")
    op.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry")
    op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    op.drop_table("audit_entry")
    op.drop_index("ix_target_node_owner_id_version_id", "target_node")
    op.drop_constraint("fk_target_node_owner_id_owner", "target_node", type_="foreignkey")
    op.drop_column("target_node", "owner_id")
    op.drop_index("ix_team_member_person_id", "team_member")
    op.drop_table("team_member")
    op.drop_table("owner")
