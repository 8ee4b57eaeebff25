"""The sales' batch reference checked once per statement, not once per row.

Migration 0007 gave ``sales_fact.batch_id`` a foreign key to ``fact_batch``.
PostgreSQL checks a foreign key row by row (a queued trigger event, a lookup and
a row lock on the batch for every inserted row): about half of the time of a
``COPY`` of a million sales into ``sales_fact`` (the import benchmark, issue 12).
Every row of an import names the same batch, so the same guarantee is kept by
the database at one set-based check per statement:

- inserting or updating sales (``sales_batch_insert`` / ``sales_batch_update``,
  ``AFTER ... FOR EACH STATEMENT`` with a transition table of the new rows): the
  batches the statement's rows name are locked ``FOR KEY SHARE`` (as the foreign
  key locks them: a concurrent delete waits for this transaction) and a batch
  that does not exist fails the statement with ``foreign_key_violation``;
- deleting a batch, or changing its id, while ``sales_fact`` references it
  (``fact_batch_sales_delete`` / ``fact_batch_sales_update``, per row of
  ``fact_batch``, which has few): refused with ``foreign_key_violation``;
- ``TRUNCATE fact_batch`` leaving sales behind (``fact_batch_sales_truncate``):
  refused (``TRUNCATE sales_fact, fact_batch`` together still works).

Statement-level triggers of a partitioned table fire only for statements that
name it, not for statements naming a partition, so every partition gets the
same two triggers: ``quotatree_guard_sales_partition(partition)`` adds them, and
the import calls it on each partition it creates (``service.db.imports``).
Unlike the foreign key, ``ALTER TABLE sales_fact ATTACH PARTITION`` of a table
made by hand does not check that table's rows (quotatree never attaches one).

Downgrade restores the foreign key (which checks the stored rows).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_sales_fact_batch_id_fact_batch"

SALES_FUNCTION = """
CREATE FUNCTION quotatree_sales_batches_exist() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint[];
    locked bigint;
    missing bigint;
BEGIN
    SELECT array_agg(batch_id) INTO wanted
    FROM (SELECT DISTINCT batch_id FROM quotatree_new_sales) AS d;
    IF wanted IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO locked
    FROM (SELECT 1 FROM fact_batch WHERE id = ANY (wanted) FOR KEY SHARE) AS l;
    IF locked < cardinality(wanted) THEN
        SELECT w INTO missing FROM unnest(wanted) AS w
        WHERE NOT EXISTS (SELECT 1 FROM fact_batch b WHERE b.id = w) ORDER BY w LIMIT 1;
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = format(
                'insert or update on table "%s" violates the batch reference of sales_fact',
                TG_TABLE_NAME
            ),
            DETAIL = format('Key (batch_id)=(%s) is not present in table "fact_batch".', missing);
    END IF;
    RETURN NULL;
END
$$
"""

BATCH_FUNCTION = """
CREATE FUNCTION quotatree_batch_unreferenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM sales_fact) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'cannot truncate table "fact_batch": table "sales_fact" references it',
                HINT = 'Truncate table "sales_fact" at the same time.';
        END IF;
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM sales_fact WHERE batch_id = OLD.id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'update or delete on table "fact_batch" violates the batch reference '
                'of sales_fact',
            DETAIL = format('Key (id)=(%s) is still referenced from table "sales_fact".', OLD.id);
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$
"""

GUARD_FUNCTION = """
CREATE FUNCTION quotatree_guard_sales_partition(partition regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'CREATE TRIGGER sales_batch_insert AFTER INSERT ON %s '
        'REFERENCING NEW TABLE AS quotatree_new_sales FOR EACH STATEMENT '
        'EXECUTE FUNCTION quotatree_sales_batches_exist()', partition);
    EXECUTE format(
        'CREATE TRIGGER sales_batch_update AFTER UPDATE ON %s '
        'REFERENCING NEW TABLE AS quotatree_new_sales FOR EACH STATEMENT '
        'EXECUTE FUNCTION quotatree_sales_batches_exist()', partition);
END
$$
"""

PARTITIONS = "SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'sales_fact'::regclass"


def upgrade() -> None:
    op.execute(SALES_FUNCTION)
    op.execute(GUARD_FUNCTION)
    # A transition table cannot serve two events of one trigger: one trigger per event.
    op.execute("SELECT quotatree_guard_sales_partition('sales_fact')")
    op.execute(f"SELECT quotatree_guard_sales_partition(p) FROM ({PARTITIONS}) AS parts(p)")
    op.execute(BATCH_FUNCTION)
    op.execute(
        "CREATE TRIGGER fact_batch_sales_delete BEFORE DELETE ON fact_batch "
        "FOR EACH ROW EXECUTE FUNCTION quotatree_batch_unreferenced()"
    )
    op.execute(
        "CREATE TRIGGER fact_batch_sales_update BEFORE UPDATE OF id ON fact_batch "
        "FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
        "EXECUTE FUNCTION quotatree_batch_unreferenced()"
    )
    op.execute(
        "CREATE TRIGGER fact_batch_sales_truncate AFTER TRUNCATE ON fact_batch "
        "FOR EACH STATEMENT EXECUTE FUNCTION quotatree_batch_unreferenced()"
    )
    op.drop_constraint(FOREIGN_KEY, "sales_fact", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key(FOREIGN_KEY, "sales_fact", "fact_batch", ["batch_id"], ["id"])
    for event in ("delete", "update", "truncate"):
        op.execute(f"DROP TRIGGER fact_batch_sales_{event} ON fact_batch")
    op.execute("DROP FUNCTION quotatree_batch_unreferenced()")
    op.execute(
        "DO $$DECLARE t regclass; BEGIN "
        f"FOR t IN SELECT 'sales_fact'::regclass UNION ALL {PARTITIONS} LOOP "
        "EXECUTE format('DROP TRIGGER IF EXISTS sales_batch_insert ON %s', t); "
        "EXECUTE format('DROP TRIGGER IF EXISTS sales_batch_update ON %s', t); "
        "END LOOP; END$$"
    )
    op.execute("DROP FUNCTION quotatree_guard_sales_partition(regclass)")
    op.execute("DROP FUNCTION quotatree_sales_batches_exist()")
