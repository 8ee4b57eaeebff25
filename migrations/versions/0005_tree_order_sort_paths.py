"""Tree order: a sort path beside the id path of target nodes and members.

``path`` stays the ancestry (ids, ``"12.40.41."``), but its text order is not tree
order: ``"1.10."`` sorts before ``"1.9."``, and a member's id says nothing of its
place among its siblings. ``sort_path`` holds per level an order-preserving encoding
of the siblings' defined order (see ``service/domain/paths.py``): a node's
``sort_order`` and key, a member's ``sort_order`` and code. Its byte order
(``COLLATE "C"``) is tree order, and a subtree is one prefix range of the btree on
``(version_id, sort_path)`` (``(dimension_id, sort_path)``), which replaces the one
on ``path``. ``tree_order_int()`` is the SQL twin of ``paths.int_key``.

Existing rows are converted from their parents (one recursive statement per table;
the draft-only trigger is paused for it, the rows' content does not change).
Downgrade drops the columns and restores the path indexes: ``path`` is untouched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

C_TEXT = sa.Text(collation="C")

ORDER_INT_FUNCTION = """
CREATE FUNCTION tree_order_int(value bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN value >= 0 THEN chr(106 + length(value::text)) || value::text
        ELSE chr(107 - length(abs(value::numeric)::text))
             || translate(abs(value::numeric)::text, '0123456789', '9876543210')
    END
$$
"""

NODE_SORT_PATHS = """
WITH RECURSIVE tree(version_id, key, sort_path) AS (
    SELECT version_id, key,
           (tree_order_int(sort_order) || tree_order_int(key) || '.') COLLATE "C"
    FROM target_node WHERE parent_key IS NULL
  UNION ALL
    SELECT n.version_id, n.key,
           (t.sort_path || tree_order_int(n.sort_order) || tree_order_int(n.key) || '.')
               COLLATE "C"
    FROM target_node n JOIN tree t ON n.version_id = t.version_id AND n.parent_key = t.key
)
UPDATE target_node n SET sort_path = tree.sort_path
FROM tree WHERE n.version_id = tree.version_id AND n.key = tree.key
"""

MEMBER_SORT_PATHS = """
WITH RECURSIVE tree(id, sort_path) AS (
    SELECT id, (tree_order_int(sort_order) || code || chr(1)) COLLATE "C"
    FROM member WHERE parent_id IS NULL
  UNION ALL
    SELECT m.id, (t.sort_path || tree_order_int(m.sort_order) || m.code || chr(1)) COLLATE "C"
    FROM member m JOIN tree t ON m.parent_id = t.id
)
UPDATE member m SET sort_path = tree.sort_path FROM tree WHERE m.id = tree.id
"""


def upgrade() -> None:
    op.execute(ORDER_INT_FUNCTION)

    op.add_column("target_node", sa.Column("sort_path", C_TEXT))
    # Published versions' nodes get their sort path too: pause the draft-only guard.
    op.execute("ALTER TABLE target_node DISABLE TRIGGER target_node_guard_update")
    op.execute(NODE_SORT_PATHS)
    op.execute("ALTER TABLE target_node ENABLE TRIGGER target_node_guard_update")
    op.alter_column("target_node", "sort_path", nullable=False)
    op.drop_index("ix_target_node_version_id_path", "target_node")
    op.create_index(
        "ix_target_node_version_id_sort_path", "target_node", ["version_id", "sort_path"]
    )

    op.add_column("member", sa.Column("sort_path", C_TEXT))
    op.execute(MEMBER_SORT_PATHS)
    op.alter_column("member", "sort_path", nullable=False)
    op.drop_index("ix_member_dimension_id_path", "member")
    op.create_index("ix_member_dimension_id_sort_path", "member", ["dimension_id", "sort_path"])


def downgrade() -> None:
    op.drop_index("ix_member_dimension_id_sort_path", "member")
    op.create_index("ix_member_dimension_id_path", "member", ["dimension_id", "path"])
    op.drop_column("member", "sort_path")
    op.drop_index("ix_target_node_version_id_sort_path", "target_node")
    op.create_index("ix_target_node_version_id_path", "target_node", ["version_id", "path"])
    op.drop_column("target_node", "sort_path")
    op.execute("DROP FUNCTION tree_order_int(bigint)")
