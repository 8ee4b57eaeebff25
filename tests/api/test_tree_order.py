"""Issue "Order": tree-order lists come back parents first, siblings in their defined order.

``PlanVersion.subtree`` and ``PlanVersion.nodes`` list nodes in split order,
``Dimension.members`` and ``Member.descendants`` list members in ``(sortOrder, code)``
order (as ``children`` pages them), whatever the digit counts of member ids and node
keys: the ids are made to cross a power of ten on purpose (the identity sequence of
``member`` and ``target_node_key_seq`` are moved forward with ``setval``; each test
checks the crossing really happens). Re-orders, re-codes, moves and loads move
members in every list. Migration 0005 converts existing rows and goes back.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from service.api.ids import decode, decode_node
from service.db.engine import ConnectionBoundDatabase, make_engine
from service.domain import paths
from tests.api.helpers import create_dimension, create_member, split
from tests.conftest import GraphQLClient, ServerInfo, create_database, drop_database, migrate

MEMBER_IDS = "pg_get_serial_sequence('member', 'id')"
NODE_KEYS = "'target_node_key_seq'"


async def cross_next(db: ConnectionBoundDatabase, sequence: str, before: int) -> int:
    """Move ``sequence`` forward so that its next ``before`` values have one digit fewer
    than the ones after them; returns the power of ten they cross."""
    async with db.session() as session:
        current = int(await session.scalar(text(f"SELECT nextval({sequence})")) or 0)
        boundary = 10 ** len(str(current + before + 100))
        await session.execute(
            text(f"SELECT setval({sequence}, :value)"), {"value": boundary - before - 1}
        )
    return boundary


def digits(member_ids: list[str]) -> set[int]:
    return {len(str(decode(i, "Member", "id"))) for i in member_ids}


def key_digits(node_ids: list[str]) -> set[int]:
    return {len(str(decode_node(i, "id")[1])) for i in node_ids}


QUARTERS = [f"FY2027-Q{q}" for q in range(1, 5)]
MONTHS = {q: [f"FY2027-M{m:02d}" for m in range(3 * q - 2, 3 * q + 1)] for q in range(1, 5)}
CALENDAR_ORDER = ["FY2027"] + [code for q in range(1, 5) for code in [f"FY2027-Q{q}", *MONTHS[q]]]

PLAN = """mutation { planCreate(input: {name: "FY27", currency: EUR, fiscalYear: 2027,
    target: "1200.00"}) { plan { id timeDimension { id } } version { id revision } root { id }
    userErrors { code } } }"""
CALENDAR = """query($id: ID!) { dimension(id: $id) {
  roots { edges { node { id code
    children { edges { node { id code
      children { edges { node { id code } } } } } } } } } } }"""
MEMBERS = """query($id: ID!, $after: String) { dimension(id: $id) {
    members(first: 4, after: $after) { totalCount edges { node { code } }
    pageInfo { hasNextPage endCursor } } } }"""
DESCENDANTS = """query($id: ID!, $after: String) { node(id: $id) { ... on Member {
    descendants(first: 3, after: $after) { totalCount nodes { code }
    pageInfo { hasNextPage endCursor } } } } }"""
SUBTREE = """query($v: ID!, $root: ID, $depth: Int) { planVersion(id: $v) {
    subtree(rootId: $root, maxDepth: $depth) { count columns } } }"""
NODES = """query($v: ID!, $slice: [SliceInput!], $after: String) { planVersion(id: $v) {
    nodes(slice: $slice, first: 5, after: $after) { edges { node { coordinate { member { code } } } }
    pageInfo { hasNextPage endCursor } } } }"""
UPDATE = """mutation($input: MemberUpdateInput!) { memberUpdate(input: $input) {
    member { code sortOrder } userErrors { code field message } } }"""
MOVE = """mutation($input: MemberMoveInput!) { memberMove(input: $input) {
    member { code } userErrors { code field message } } }"""
LOAD = """mutation($input: MembersCreateInput!) { membersCreate(input: $input) {
    created updated unchanged userErrors { code field message } } }"""


async def members_in_order(gql: GraphQLClient, dimension_id: str) -> list[str]:
    """Dimension.members, page after page of 4."""
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(MEMBERS, {"id": dimension_id, "after": after}))["dimension"]["members"]
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(seen)
            return seen
        after = page["pageInfo"]["endCursor"]


async def descendants(gql: GraphQLClient, member_id: str) -> list[str]:
    """Member.descendants, page after page of 3."""
    seen: list[str] = []
    after = None
    while True:
        data = await gql(DESCENDANTS, {"id": member_id, "after": after})
        page = data["node"]["descendants"]
        seen += [m["code"] for m in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(seen)
            return seen
        after = page["pageInfo"]["endCursor"]


async def children_order(gql: GraphQLClient, dimension_id: str) -> list[str]:
    """The calendar read through roots and children (the lists that were right)."""
    year = (await gql(CALENDAR, {"id": dimension_id}))["dimension"]["roots"]["edges"][0]["node"]
    codes = [year["code"]]
    for quarter in year["children"]["edges"]:
        codes.append(quarter["node"]["code"])
        codes += [m["node"]["code"] for m in quarter["node"]["children"]["edges"]]
    return codes


async def node_codes(gql: GraphQLClient, version: str, slice: Any = None) -> list[str | None]:
    """PlanVersion.nodes, page after page of 5: each node's own member code."""
    seen: list[str | None] = []
    after = None
    while True:
        data = await gql(NODES, {"v": version, "slice": slice, "after": after})
        page = data["planVersion"]["nodes"]
        seen += [
            (e["node"]["coordinate"] or {"member": {"code": None}})["member"]["code"]
            for e in page["edges"]
        ]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def subtree_codes(
    gql: GraphQLClient, version: str, root: str | None = None, depth: int | None = None
) -> list[str | None]:
    data = await gql(SUBTREE, {"v": version, "root": root, "depth": depth})
    return data["planVersion"]["subtree"]["columns"]["memberCode"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("crossing", "before"),
    # year, Q1, Q2 | Q3, Q4 ...: the "Q3, Q4, Q1, Q2";
    # year, Q1..Q4, M01, M02 | M03 ...: months of Q1 would come M03, M01, M02.
    [("quarters", 3), ("months", 7)],
)
async def test_calendar_lists_in_calendar_order_across_digit_boundaries(
    gql: GraphQLClient, db: ConnectionBoundDatabase, crossing: str, before: int
) -> None:
    await cross_next(db, MEMBER_IDS, before)
    created = (await gql(PLAN))["planCreate"]
    calendar = created["plan"]["timeDimension"]["id"]
    year = (await gql(CALENDAR, {"id": calendar}))["dimension"]["roots"]["edges"][0]["node"]
    quarters = [e["node"] for e in year["children"]["edges"]]
    q1_months = [e["node"] for e in quarters[0]["children"]["edges"]]
    crossing_ids = (
        [q["id"] for q in quarters] if crossing == "quarters" else [m["id"] for m in q1_months]
    )
    assert len(digits(crossing_ids)) == 2, "the ids must cross a power of ten"

    assert await children_order(gql, calendar) == CALENDAR_ORDER
    assert await members_in_order(gql, calendar) == CALENDAR_ORDER
    assert await descendants(gql, year["id"]) == CALENDAR_ORDER[1:]
    assert await descendants(gql, quarters[0]["id"]) == MONTHS[1]

    # The same calendar as a target tree, node keys crossing a power of ten at the
    # quarters and again at Q1's months.
    version = created["version"]["id"]
    await cross_next(db, NODE_KEYS, 2)
    by_quarter = await split(gql, created["root"]["id"], 1, calendar, [q["id"] for q in quarters])
    assert by_quarter["userErrors"] == []
    quarter_nodes = [c["id"] for c in by_quarter["children"]]
    assert len(key_digits(quarter_nodes)) == 2
    revision = by_quarter["version"]["revision"]
    month_nodes: list[str] = []
    for index, (node, quarter) in enumerate(zip(quarter_nodes, quarters, strict=True)):
        if index == 0:
            await cross_next(db, NODE_KEYS, 1)
        months = [e["node"]["id"] for e in quarter["children"]["edges"]]
        done = await split(gql, node, revision, calendar, months)
        assert done["userErrors"] == []
        revision = done["version"]["revision"]
        month_nodes += [c["id"] for c in done["children"]]
    assert len(key_digits(month_nodes[:3])) == 2

    tree_order = [None, *CALENDAR_ORDER[1:]]
    assert await subtree_codes(gql, version) == tree_order
    assert await subtree_codes(gql, version, quarter_nodes[0]) == ["FY2027-Q1", *MONTHS[1]]
    assert await subtree_codes(gql, version, depth=1) == [None, *QUARTERS]
    assert await node_codes(gql, version) == tree_order
    q1 = [{"dimensionId": calendar, "memberId": quarters[0]["id"]}]
    assert await node_codes(gql, version, q1) == ["FY2027-Q1", *MONTHS[1]]

    # Nodes keep their split order, whatever their members' order is.
    assert await subtree_codes(gql, version, quarter_nodes[1]) == ["FY2027-Q2", *MONTHS[2]]


CREATE = """mutation($input: MemberCreateInput!) { memberCreate(input: $input) {
    member { id } userErrors { code field message } } }"""


async def add(gql: GraphQLClient, dim: str, code: str, sort_order: int, parent: str | None) -> str:
    data = await gql(
        CREATE,
        {
            "input": {
                "dimensionId": dim,
                "code": code,
                "name": code,
                "sortOrder": sort_order,
                "parentId": parent,
            }
        },
    )
    assert data["memberCreate"]["userErrors"] == []
    return data["memberCreate"]["member"]["id"]  # type: ignore[no-any-return]


async def test_reordered_members_come_back_in_their_new_order_everywhere(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    """A hand-made calendar (plans' calendars are not edited by hand) whose quarter ids
    cross a power of ten, re-ordered with memberUpdate(sortOrder)."""
    dim = await create_dimension(gql, "Seasons", "CUSTOM")
    await cross_next(db, MEMBER_IDS, 3)
    year = await add(gql, dim, "FY2027", 1, None)
    quarters = [await add(gql, dim, f"FY2027-Q{q}", q, year) for q in range(1, 5)]
    assert len(digits(quarters)) == 2
    months = {
        q: [await add(gql, dim, code, i + 1, quarters[q - 1]) for i, code in enumerate(MONTHS[q])]
        for q in range(1, 5)
    }
    assert await members_in_order(gql, dim) == CALENDAR_ORDER
    assert await descendants(gql, year) == CALENDAR_ORDER[1:]

    moved = await gql(UPDATE, {"input": {"id": quarters[0], "sortOrder": 9}})
    assert moved["memberUpdate"] == {
        "member": {"code": "FY2027-Q1", "sortOrder": 9},
        "userErrors": [],
    }
    await gql(UPDATE, {"input": {"id": months[2][2], "sortOrder": -1}})
    new_order = ["FY2027", "FY2027-Q2", "FY2027-M06", "FY2027-M04", "FY2027-M05"]
    new_order += ["FY2027-Q3", *MONTHS[3], "FY2027-Q4", *MONTHS[4], "FY2027-Q1", *MONTHS[1]]
    assert await children_order(gql, dim) == new_order
    assert await members_in_order(gql, dim) == new_order
    assert await descendants(gql, year) == new_order[1:]
    assert await descendants(gql, quarters[1]) == ["FY2027-M06", "FY2027-M04", "FY2027-M05"]
    assert await descendants(gql, quarters[0]) == MONTHS[1]


async def test_codes_moves_and_loads_move_members_in_tree_order(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    dim = await create_dimension(gql, "Regions")
    await cross_next(db, MEMBER_IDS, 2)
    top = await create_member(gql, dim, "TOP")
    # Equal sort orders: code order. B's id has one digit fewer than C's and D's.
    b, c, d = [await create_member(gql, dim, code, top) for code in ("B", "C", "D")]
    assert len(digits([b, c, d])) == 2
    assert await members_in_order(gql, dim) == ["TOP", "B", "C", "D"]

    renamed = await gql(UPDATE, {"input": {"id": d, "code": "A"}})
    assert renamed["memberUpdate"]["userErrors"] == []
    assert await members_in_order(gql, dim) == ["TOP", "A", "B", "C"]
    assert await descendants(gql, top) == ["A", "B", "C"]

    moved = await gql(MOVE, {"input": {"id": c, "parentId": b}})
    assert moved["memberMove"]["userErrors"] == []
    await create_member(gql, dim, "X", c)
    assert await members_in_order(gql, dim) == ["TOP", "A", "B", "C", "X"]
    assert await descendants(gql, b) == ["C", "X"]

    # A load that changes only a sort order moves the member and its subtree too.
    rows = [{"code": "B", "name": "B", "parentCode": "TOP", "sortOrder": -5}]
    loaded = (await gql(LOAD, {"input": {"dimensionId": dim, "members": rows}}))["membersCreate"]
    assert (loaded["updated"], loaded["userErrors"]) == (1, [])
    assert await members_in_order(gql, dim) == ["TOP", "B", "C", "X", "A"]
    assert await descendants(gql, top) == ["B", "C", "X", "A"]
    # A code sorts before the codes it is a prefix of, and before "-" and " " after it,
    # in every list (byte order of the codes, as `children` pages them).
    for code in ("A-1", "A 2", "AB"):
        await create_member(gql, dim, code, top)
    data = await gql(
        """query($id: ID!) { node(id: $id) { ... on Member {
             children(first: 10) { edges { node { code } } } } } }""",
        {"id": top},
    )
    siblings = [e["node"]["code"] for e in data["node"]["children"]["edges"]]
    assert siblings == ["B", "A", "A 2", "A-1", "AB"]
    assert await descendants(gql, top) == ["B", "C", "X", "A", "A 2", "A-1", "AB"]
    assert await members_in_order(gql, dim) == ["TOP", "B", "C", "X", "A", "A 2", "A-1", "AB"]


WIDE = "\U00020000"  # a printable 4-byte character (CJK extension B)
CJK = "\u4e2d"  # 3 bytes


async def test_long_codes_deep_down_page_and_are_refused_past_the_limit(
    gql: GraphQLClient, db: ConnectionBoundDatabase
) -> None:
    """Sort paths hold the codes: deep trees of long codes still page (cursors of
    2,000+ characters); past ``MAX_SORT_PATH_BYTES`` the write is a clear user error."""
    dim = await create_dimension(gql, "Deep", "CUSTOM")
    # 6 levels of 400 bytes and one of 175: 7 x 3 + 2,575 = 2,596 bytes at the bottom.
    codes = [WIDE * 99 + chr(ord(WIDE) + 1 + i) for i in range(6)]
    codes.append("x" + CJK * 58)
    parent = None
    ids = []
    for code in codes:
        parent = await create_member(gql, dim, code, parent)
        ids.append(parent)
    assert await members_in_order(gql, dim) == codes
    assert await descendants(gql, ids[0]) == codes[1:]

    too_deep = await gql(
        """mutation($input: MemberCreateInput!) { memberCreate(input: $input) {
             member { id } userErrors { code field message } } }""",
        {"input": {"dimensionId": dim, "code": "Y" * 10, "name": "Y", "parentId": parent}},
    )
    [error] = too_deep["memberCreate"]["userErrors"]
    assert (error["code"], error["field"]) == ("TOO_LONG", ["input", "code"])
    assert "2609 bytes" in error["message"] and "2600" in error["message"]
    # A far sort order on the top member lengthens every path below it past the limit.
    refused = await gql(UPDATE, {"input": {"id": ids[0], "sortOrder": -(2**31)}})
    [error] = refused["memberUpdate"]["userErrors"]
    assert (error["code"], error["field"]) == ("TOO_LONG", ["input", "sortOrder"])
    # A load is refused the same way, all or nothing.
    rows = [
        {"code": "NEW", "name": "New"},
        {"code": "Z" * 10, "name": "Z", "parentCode": codes[-1]},
    ]
    loaded = (await gql(LOAD, {"input": {"dimensionId": dim, "members": rows}}))["membersCreate"]
    [error] = loaded["userErrors"]
    assert (error["code"], error["field"]) == ("TOO_LONG", ["input", "code"])
    assert "'ZZZZZZZZZZ'" in error["message"]
    # Nothing was written by any of them.
    assert await members_in_order(gql, dim) == codes
    kept = await gql(UPDATE, {"input": {"id": ids[0], "sortOrder": 7}})
    assert kept["memberUpdate"]["userErrors"] == []
    assert await descendants(gql, ids[0]) == codes[1:]


async def test_sql_and_python_encodings_agree(db: ConnectionBoundDatabase) -> None:
    values = [-(2**63), -(2**63) + 1, -(10**18), -1001, -1000, -999, -100, -99, -10, -9, -1]
    values += [0, 1, 9, 10, 99, 100, 999, 1000, 2**31 - 1, 2**31, 10**18, 2**63 - 1]
    async with db.session() as session:
        rows = await session.execute(
            text("SELECT v, tree_order_int(v) FROM unnest(CAST(:vs AS bigint[])) AS v"),
            {"vs": values},
        )
        from_sql = {int(v): str(k) for v, k in rows.all()}
        ordered = await session.scalars(
            text(
                "SELECT v FROM unnest(CAST(:vs AS bigint[])) AS v "
                'ORDER BY tree_order_int(v) COLLATE "C"'
            ),
            {"vs": list(reversed(values))},
        )
        assert [int(v) for v in ordered] == sorted(values)
    assert from_sql == {v: paths.int_key(v) for v in values}


# --- migration 0005 --------------------------------------------------------------------------

SEED_0003 = [
    "INSERT INTO dimension (id, kind, name) VALUES (1, 'REGION', 'Regions')",
    # Quarter ids 8, 9 | 10, 11 and a top member with id 7.
    "INSERT INTO member (id, dimension_id, parent_id, code, name, path, depth, sort_order) "
    "VALUES (7, 1, NULL, 'TOP', 'Top', '7.', 0, 0), (8, 1, 7, 'Q1', 'Q1', '7.8.', 1, 1), "
    "(9, 1, 7, 'Q2', 'Q2', '7.9.', 1, 2), (10, 1, 7, 'Q3', 'Q3', '7.10.', 1, 3), "
    "(11, 1, 7, 'Q4', 'Q4', '7.11.', 1, 4)",
    "INSERT INTO plan (id, name, currency, minor_digits, fiscal_year, created_by) "
    "VALUES (1, 'P', 'EUR', 2, 2027, 't')",
    "INSERT INTO plan_version (id, plan_id, number, name, created_by) VALUES (1, 1, 1, 'v', 't')",
    # Keys 98 | 99 | 100, 101: split order 0..3 under root 97.
    "INSERT INTO target_node (version_id, key, plan_id, parent_key, path, depth, sort_order, "
    "dimension_id, member_id, target) VALUES "
    "(1, 97, 1, NULL, '97.', 0, 0, NULL, NULL, 400), "
    "(1, 98, 1, 97, '97.98.', 1, 0, 1, 8, 100), (1, 99, 1, 97, '97.99.', 1, 1, 1, 9, 100), "
    "(1, 100, 1, 97, '97.100.', 1, 2, 1, 10, 100), (1, 101, 1, 97, '97.101.', 1, 3, 1, 11, 100)",
    # Published: the draft-only trigger must not stop the conversion.
    "UPDATE plan_version SET state = 'PUBLISHED' WHERE id = 1",
]


async def test_migration_0005_converts_existing_rows_and_goes_back(pg_server: ServerInfo) -> None:
    name = await create_database(pg_server, "quotatree_order")
    engine = make_engine(pg_server.url_for(name), pool_size=1, max_overflow=0)

    async def read(sql: str) -> list[Any]:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text(sql))]

    def expected_sort_paths() -> tuple[dict[int, str], dict[int, str]]:
        top = paths.member_sort_path(None, 0, "TOP")
        members = {7: top}
        members |= {i: paths.member_sort_path(top, i - 7, f"Q{i - 7}") for i in (8, 9, 10, 11)}
        root = paths.node_sort_path(None, 0, 97)
        nodes = {97: root} | {k: paths.node_sort_path(root, k - 98, k) for k in range(98, 102)}
        return members, nodes

    try:
        await migrate(engine, "0003")
        async with engine.begin() as conn:
            for statement in SEED_0003:
                await conn.execute(text(statement))
        for _ in range(2):  # up, down, up again
            await migrate(engine, "0005")
            members, nodes = expected_sort_paths()
            assert dict(await read("SELECT id, sort_path FROM member")) == members
            assert dict(await read("SELECT key, sort_path FROM target_node")) == nodes
            assert [r[0] for r in await read("SELECT code FROM member ORDER BY sort_path")] == [
                "TOP",
                "Q1",
                "Q2",
                "Q3",
                "Q4",
            ]
            assert [r[0] for r in await read("SELECT key FROM target_node ORDER BY sort_path")] == [
                97,
                98,
                99,
                100,
                101,
            ]
            # The published version stays protected once converted.
            with pytest.raises(Exception, match="not a draft"):
                async with engine.begin() as conn:
                    await conn.execute(text("UPDATE target_node SET target = target"))

            await migrate(engine, "0003", down=True)
            columns = await read(
                "SELECT table_name FROM information_schema.columns WHERE column_name = 'sort_path'"
            )
            assert columns == []
            indexes = {r[0] for r in await read("SELECT indexname FROM pg_indexes")}
            assert {"ix_target_node_version_id_path", "ix_member_dimension_id_path"} <= indexes
            assert dict(await read("SELECT key, path FROM target_node"))[100] == "97.100."
    finally:
        await engine.dispose()
        await drop_database(pg_server, name)
