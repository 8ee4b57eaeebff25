"""SQLAlchemy 2 models. Alembic in ``migrations/`` owns the schema; these mirror it.

Rules of this module: no business rules, every relationship ``lazy="raise"``.

Target nodes are keyed by ``(version_id, key)``: ``key`` comes from one global
sequence and survives version copies, so a node can be followed and diffed
across versions and copying a version is a single ``INSERT ... SELECT``.
``path`` is the materialized path of keys (``"12.40.41."``, the ancestry);
``sort_path`` the same levels in tree order (siblings in split order, see
``service/domain/paths.py``), ``COLLATE "C"`` with a btree index on
``(version_id, sort_path)``: a subtree is one prefix range, already in tree order.
Members likewise: ``path`` of ids, ``sort_path`` in ``(sort_order, code)`` order.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Sequence,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Version states, kept in sync with service.domain.versions.VersionState.
VERSION_STATES = ("DRAFT", "SUBMITTED", "APPROVED", "PUBLISHED", "ARCHIVED")
DIMENSION_KINDS = ("TIME", "REGION", "CHANNEL", "CUSTOMER", "PRODUCT", "CUSTOM")
MEASURES = ("AMOUNT", "QUANTITY")

node_key_seq = Sequence("target_node_key_seq", metadata=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now() -> Any:
    return func.now()


class Dimension(Base):
    """An axis of decomposition, owned by the organisation (not by one plan)."""

    __tablename__ = "dimension"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # Set on a plan's own calendar (kind TIME); NULL for the organisation's dimensions.
    plan_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("plan.id", ondelete="RESTRICT", use_alter=True)
    )
    # Per-dimension settings, e.g. {"tiers": ["A", "B", "C"]} for customers.
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        Index("uq_dimension_name", "name", unique=True, postgresql_where=text("plan_id IS NULL")),
        Index(
            "uq_dimension_plan_id_name",
            "plan_id",
            "name",
            unique=True,
            postgresql_where=text("plan_id IS NOT NULL"),
        ),
        CheckConstraint(f"kind IN {DIMENSION_KINDS!r}", name="kind"),
        CheckConstraint("plan_id IS NULL OR kind = 'TIME'", name="time_owned_by_plan"),
    )


class Member(Base):
    """A member of a dimension's hierarchy (East, East/Shanghai, Direct, ...)."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dimension_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("dimension.id", ondelete="RESTRICT"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("member.id", ondelete="RESTRICT")
    )
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    # Materialized path of member ids, "3.17." (the ancestry).
    path: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"))
    # Tree order: per level (sort_order, code), order-preserving (service.domain.paths);
    # COLLATE "C" for prefix ranges in tree order.
    sort_path: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"))
    depth: Mapped[int] = mapped_column(SmallInteger)
    sort_order: Mapped[int] = mapped_column(Integer, server_default="0")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # Time members: the half-open [starts_on, ends_on) range.
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        UniqueConstraint("dimension_id", "code"),
        Index("ix_member_dimension_id_sort_path", "dimension_id", "sort_path"),
        Index("ix_member_parent_id", "parent_id"),
        CheckConstraint("jsonb_typeof(attributes) = 'object'", name="attributes_object"),
        CheckConstraint(
            "(starts_on IS NULL) = (ends_on IS NULL) "
            "AND (starts_on IS NULL OR starts_on < ends_on)",
            name="date_range",
        ),
    )


class Plan(Base):
    """One target programme, e.g. "FY2027 revenue"."""

    __tablename__ = "plan"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    measure: Mapped[str] = mapped_column(String(16), server_default="AMOUNT")
    currency: Mapped[str | None] = mapped_column(String(3))
    # Decimal digits of the currency (2 for EUR, 0 for JPY), fixed at creation.
    minor_digits: Mapped[int] = mapped_column(SmallInteger)
    unit: Mapped[str | None] = mapped_column(String(50))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    # The generated calendar: its spec and the dimension holding its members.
    calendar: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    time_dimension_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("dimension.id", ondelete="RESTRICT", use_alter=True)
    )
    # Per-plan thresholds: attainment status, alerts, diagnostics (documented where read).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        CheckConstraint(f"measure IN {MEASURES!r}", name="measure"),
        CheckConstraint("jsonb_typeof(settings) = 'object'", name="settings_object"),
        CheckConstraint("minor_digits BETWEEN 0 AND 4", name="minor_digits"),
        CheckConstraint("fiscal_year BETWEEN 1900 AND 2999", name="fiscal_year"),
        CheckConstraint(
            "(measure = 'AMOUNT' AND currency IS NOT NULL) OR measure = 'QUANTITY'",
            name="amount_has_currency",
        ),
    )


class PlanVersion(Base):
    """A numbered version of a plan; only drafts change.

    ``revision`` is bumped by every change to the version or its nodes and is the
    optimistic-concurrency token clients send back with their edits.
    """

    __tablename__ = "plan_version"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    plan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("plan.id", ondelete="RESTRICT"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), server_default="DRAFT")
    copied_from_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("plan_version.id", ondelete="RESTRICT")
    )
    revision: Mapped[int] = mapped_column(Integer, server_default="1")
    # A re-plan: the review that prompted it and the date its closed periods end.
    replan_review_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("review.id", use_alter=True)
    )
    replan_as_of: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012
    __table_args__ = (
        UniqueConstraint("plan_id", "number"),
        CheckConstraint(f"state IN {VERSION_STATES!r}", name="state"),
        CheckConstraint("number >= 1", name="number_positive"),
    )


class TargetNode(Base):
    """One slice of a version's target tree."""

    __tablename__ = "target_node"

    version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("plan_version.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("plan.id", ondelete="RESTRICT"))
    parent_key: Mapped[int | None] = mapped_column(BigInteger)
    # Keys root to node, "12.40.41." (the ancestry).
    path: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"))
    # Tree order: per level (sort_order, key), order-preserving (service.domain.paths).
    sort_path: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"))
    depth: Mapped[int] = mapped_column(SmallInteger)
    sort_order: Mapped[int] = mapped_column(Integer, server_default="0")
    # The coordinate this node adds to its parent's slice (NULL on the root).
    dimension_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("dimension.id"))
    member_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("member.id"))
    # The whole slice in path order, [[dimension id, member id], ...]: breadcrumbs
    # read it in order, lookups by coordinates use jsonb containment (@>) on a GIN index.
    coordinates: Mapped[list[list[int]]] = mapped_column(JSONB, server_default="[]")
    # Integer minor units (cents) or integer units of quantity.
    target: Mapped[int] = mapped_column(BigInteger)
    # How this node's children were made: dimension, method, inputs (NULL on a leaf).
    split_dimension_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("dimension.id"))
    split_spec: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Why this node has its amount: the allocation explanation of its parent's split.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    locked: Mapped[bool] = mapped_column(Boolean, server_default="false")
    floor: Mapped[int | None] = mapped_column(BigInteger)
    cap: Mapped[int | None] = mapped_column(BigInteger)
    strategy: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("owner.id", ondelete="RESTRICT")
    )
    kpis: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        ForeignKeyConstraint(
            ["version_id", "parent_key"],
            ["target_node.version_id", "target_node.key"],
            ondelete="CASCADE",
            name="fk_target_node_parent",
        ),
        Index("ix_target_node_version_id_sort_path", "version_id", "sort_path"),
        Index("ix_target_node_version_id_parent_key", "version_id", "parent_key"),
        Index("ix_target_node_owner_id_version_id", "owner_id", "version_id"),
        Index(
            "ix_target_node_coordinates",
            "coordinates",
            postgresql_using="gin",
            postgresql_ops={"coordinates": "jsonb_path_ops"},
        ),
        CheckConstraint("(parent_key IS NULL) = (depth = 0)", name="root_depth"),
        CheckConstraint(
            "(dimension_id IS NULL) = (member_id IS NULL) "
            "AND (dimension_id IS NULL) = (parent_key IS NULL)",
            name="coordinate",
        ),
        CheckConstraint("target >= 0", name="target_non_negative"),
        CheckConstraint("jsonb_typeof(coordinates) = 'array'", name="coordinates_array"),
    )


class Owner(Base):
    """A person (mapped to a token subject) or a team that owns targets."""

    __tablename__ = "owner"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    lead_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("owner.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        UniqueConstraint("subject"),
        Index("uq_owner_team_name", "name", unique=True, postgresql_where=text("kind = 'TEAM'")),
        CheckConstraint("kind IN ('PERSON', 'TEAM')", name="kind"),
        CheckConstraint(
            "(kind = 'TEAM' AND subject IS NULL) OR kind = 'PERSON'", name="team_no_subject"
        ),
        CheckConstraint(
            "(kind = 'PERSON' AND lead_id IS NULL) OR kind = 'TEAM'", name="person_no_lead"
        ),
    )


class TeamMember(Base):
    __tablename__ = "team_member"

    team_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("owner.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("owner.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class AuditEntry(Base):
    """Append-only record of a change: who, when, where, before and after, why."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[int | None] = mapped_column(BigInteger)
    version_id: Mapped[int | None] = mapped_column(BigInteger)
    node_key: Mapped[int | None] = mapped_column(BigInteger)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_entry_version_id_id", "version_id", "id"),
        Index("ix_audit_entry_version_id_node_key_id", "version_id", "node_key", "id"),
        Index("ix_audit_entry_owner_id_id", "owner_id", "id"),
    )


class IdempotencyKey(Base):
    """A request made under a client's key: who runs it, and its answer (kept at least 24 h).

    ``attempt`` names the run that holds the key and ``lease_until`` says until when
    it is known to be alive (it renews the lease while it runs); ``applied`` is set in
    the change's own transaction, fenced by ``attempt``. ``body`` is the answer's
    exact bytes, with its status and content type.
    """

    __tablename__ = "idempotency_key"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set inside the mutation's own transaction: the change is committed.
    applied: Mapped[bool] = mapped_column(Boolean, server_default="false")
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), index=True
    )


FACT_KINDS = ("SALES", "OPPORTUNITY", "MARKET_SIZE")
OUTCOMES = ("WON", "LOST")
SALES_PARTITION_PREFIX = "sales_fact_fy"
"""Partitions of ``sales_fact`` are named ``sales_fact_fyNNNN`` and made by imports."""


def is_partition(table_name: str) -> bool:
    """A partition of a partitioned table: made at run time, not part of the models."""
    return table_name.startswith(SALES_PARTITION_PREFIX)


class FactBatch(Base):
    """One imported batch of facts under the client's key (idempotent imports)."""

    __tablename__ = "fact_batch"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    # The plan the batch was checked against (its currency and calendar).
    plan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("plan.id"), index=True)
    # Digest of the batch's content: the same key with other content is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    # Where the rows came from (a file name), for the record.
    source: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        UniqueConstraint("kind", "key"),
        CheckConstraint(f"kind IN {FACT_KINDS!r}", name="kind"),
    )


sales_fact_id_seq = Sequence("sales_fact_id_seq", metadata=Base.metadata)


class SalesFact(Base):
    """A sale, partitioned by fiscal year on ``sold_on`` (partitions made by imports).

    ``members``: one member id per dimension named on the row (not the time
    dimension: the date places the sale). ``credits``: split credit,
    ``{"<owner id>": "<share>"}`` with shares summing to 1, or NULL.
    ``amount`` in minor units of ``currency`` (NULL: a quantity-only fact).
    """

    __tablename__ = "sales_fact"

    id: Mapped[int] = mapped_column(
        BigInteger, server_default=text("nextval('sales_fact_id_seq'::regclass)"), primary_key=True
    )
    sold_on: Mapped[date] = mapped_column(Date, primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, index=True)
    """References ``fact_batch.id``, enforced by the database once per statement (triggers
    of migration 0010), not by a foreign key, which PostgreSQL checks row by row."""
    external_id: Mapped[str] = mapped_column(String(200), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    order_ref: Mapped[str | None] = mapped_column(String(200))
    customer_ref: Mapped[str | None] = mapped_column(String(200))
    members: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    credits: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = {"postgresql_partition_by": "RANGE (sold_on)"}  # noqa: RUF012


class OpportunityFact(Base):
    """An opportunity's outcome (won or lost), for win rates."""

    __tablename__ = "opportunity_fact"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("fact_batch.id"))
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    closed_on: Mapped[date] = mapped_column(Date, index=True)
    outcome: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str | None] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    customer_ref: Mapped[str | None] = mapped_column(String(200))
    members: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))

    __table_args__ = (CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),)


class MarketSize(Base):
    """The market size of a member over ``[starts_on, ends_on)``, for market shares."""

    __tablename__ = "market_size"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("fact_batch.id"))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("member.id", ondelete="RESTRICT"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str | None] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("member_id", "starts_on", "ends_on"),
        CheckConstraint("starts_on < ends_on", name="date_range"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
    )


class Review(Base):
    """A review (复盘) of a node and period: notes, decisions, who and when."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    plan_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("plan.id"))
    version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("plan_version.id", ondelete="RESTRICT")
    )
    node_key: Mapped[int] = mapped_column(BigInteger)
    period_member_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("member.id"))
    held_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text)
    decisions: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        Index("ix_review_version_id_node_key", "version_id", "node_key"),
        Index("ix_review_plan_id_held_on", "plan_id", "held_on"),
    )


class DataGeneration(Base):
    """One row: the data generation, moved by a trigger on every table answers read
    (migration 0008). The response cache keys answers on it."""

    __tablename__ = "data_generation"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


GENERATION_EXEMPT = {
    "idempotency_key": "answers of queries never read it (mutations' replays only)",
    "data_generation": "the counter itself",
}
"""Tables without the generation trigger, and why (tests/ops/test_data_generation.py)."""
