"""Change notifications: the database tells every server which nodes moved, at commit.

Live updates (GraphQL subscriptions, ``service.db.notifications``) must reach
subscribers on every server, whichever server made the change, and whatever code
path made it (a use case, an import, a hand-written UPDATE in psql). So the
database itself announces changes: statement-level triggers with transition
tables ``NOTIFY`` the channel ``quotatree_changes``. PostgreSQL delivers
notifications only when (and if) the transaction commits, in commit order, the
notifications of one transaction together and in the order they were sent.

Payloads (JSON, each under PostgreSQL's 8000-byte limit whatever the change's size):

- ``{"x": xid, "v": version id, "k": [node keys]}`` from ``target_node``
  (insert, update, delete): the keys of the rows the statement touched, in chunks
  of at most ``CHUNK`` keys (a 10,000-node split sends 34 notifications; 19-digit
  keys would still fit);
- ``{"x": xid, "v": version id, "r": revision, "s": state}`` from ``plan_version``
  when a version's revision or state moves (every change of a version's tree
  moves its revision, in the same transaction);
- ``{"x": xid, "all": true}`` from a TRUNCATE of either table: everything may have
  changed.

``x`` (the writing transaction's id) lets a listener merge the notifications of one
transaction into one event: the nodes that moved and the new revision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "quotatree_changes"
CHUNK = 300
"""Node keys per notification: 300 keys of 19 digits and their commas are 6,000 bytes."""

NODE_FUNCTION = f"""
CREATE FUNCTION quotatree_notify_nodes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    xid bigint := txid_current();
    chunk record;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{CHANNEL}', json_build_object('x', xid, 'all', true)::text);
        RETURN NULL;
    END IF;
    FOR chunk IN
        WITH changed AS (
            SELECT version_id, key FROM quotatree_changed_nodes
        ), numbered AS (
            SELECT version_id, key,
                   (row_number() OVER (PARTITION BY version_id ORDER BY key) - 1) / {CHUNK}
                       AS part
            FROM changed
        )
        SELECT version_id, json_agg(key ORDER BY key) AS keys
        FROM numbered GROUP BY version_id, part ORDER BY version_id, part
    LOOP
        PERFORM pg_notify(
            '{CHANNEL}',
            json_build_object('x', xid, 'v', chunk.version_id, 'k', chunk.keys)::text
        );
    END LOOP;
    RETURN NULL;
END
$$
"""

VERSION_FUNCTION = f"""
CREATE FUNCTION quotatree_notify_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    xid bigint := txid_current();
    moved record;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{CHANNEL}', json_build_object('x', xid, 'all', true)::text);
        RETURN NULL;
    END IF;
    FOR moved IN
        SELECT n.id, n.revision, n.state
        FROM quotatree_new_versions n JOIN quotatree_old_versions o ON o.id = n.id
        WHERE n.revision IS DISTINCT FROM o.revision OR n.state IS DISTINCT FROM o.state
        ORDER BY n.id
    LOOP
        PERFORM pg_notify(
            '{CHANNEL}',
            json_build_object(
                'x', xid, 'v', moved.id, 'r', moved.revision, 's', moved.state
            )::text
        );
    END LOOP;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(NODE_FUNCTION)
    # A transition table cannot serve two events of one trigger, so each event has its
    # own trigger; all name the touched rows quotatree_changed_nodes for the function.
    for event, table in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        op.execute(
            f"CREATE TRIGGER notify_nodes_{event.lower()} AFTER {event} ON target_node "
            f"REFERENCING {table} TABLE AS quotatree_changed_nodes "
            "FOR EACH STATEMENT EXECUTE FUNCTION quotatree_notify_nodes()"
        )
    op.execute(
        "CREATE TRIGGER notify_nodes_truncate AFTER TRUNCATE ON target_node "
        "FOR EACH STATEMENT EXECUTE FUNCTION quotatree_notify_nodes()"
    )
    op.execute(VERSION_FUNCTION)
    op.execute(
        "CREATE TRIGGER notify_versions_update AFTER UPDATE ON plan_version "
        "REFERENCING OLD TABLE AS quotatree_old_versions NEW TABLE AS quotatree_new_versions "
        "FOR EACH STATEMENT EXECUTE FUNCTION quotatree_notify_versions()"
    )
    op.execute(
        "CREATE TRIGGER notify_versions_truncate AFTER TRUNCATE ON plan_version "
        "FOR EACH STATEMENT EXECUTE FUNCTION quotatree_notify_versions()"
    )


def downgrade() -> None:
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER notify_nodes_{event} ON target_node")
    op.execute("DROP FUNCTION quotatree_notify_nodes()")
    for event in ("update", "truncate"):
        op.execute(f"DROP TRIGGER notify_versions_{event} ON plan_version")
    op.execute("DROP FUNCTION quotatree_notify_versions()")
