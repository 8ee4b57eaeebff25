"""nodeSetTarget and nodeSplit on top of the domain's retarget and split checks.

Issues: edits that are not edits (a no-op bumped the revision and wrote an
audit entry); buffers that locked the tree; bounds enforced in one mode only;
lag by request order; messages in minor units and node keys.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.api.helpers import create_dimension, create_plan
from tests.conftest import GraphQLClient

SET = """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
    node { id target explanation } changed { id target explanation }
    version { revision } userErrors { code field message } } }"""
SPLIT = """mutation($input: NodeSplitInput!) { nodeSplit(input: $input) {
    node { id } children { id target explanation coordinate { member { code } } }
    version { revision } userErrors { code field message } } }"""
BULK = """mutation($input: MembersCreateInput!) { membersCreate(input: $input) {
    members { id code } userErrors { code field message } } }"""
UPDATE = """mutation($input: NodeUpdateInput!) { nodeUpdate(input: $input) {
    version { revision } userErrors { code field message } } }"""
CALENDAR = """query($id: ID!) { plan(id: $id) { timeDimension { id
  roots { edges { node { children { edges { node { id code } } } } } } } } }"""
AUDIT = "SELECT count(*) FROM audit_entry WHERE action = 'nodeSetTarget'"


async def regions_split(
    gql: GraphQLClient, **extra: Any
) -> tuple[dict[str, Any], dict[str, str], int]:
    plan = await create_plan(gql, target="1000000.00")
    regions = await create_dimension(gql, "Regions")
    data = await gql(
        BULK,
        {
            "input": {
                "dimensionId": regions,
                "members": [{"code": c, "name": c.title()} for c in ("EAST", "WEST", "NORTH")],
            }
        },
    )
    members = [m["id"] for m in data["membersCreate"]["members"]]
    done = (
        await gql(
            SPLIT,
            {
                "input": {
                    "nodeId": plan["root"]["id"],
                    "revision": 1,
                    "dimensionId": regions,
                    "memberIds": members,
                    **extra,
                }
            },
        )
    )["nodeSplit"]
    assert done["userErrors"] == [], done
    ids = {c["coordinate"]["member"]["code"]: c["id"] for c in done["children"]}
    ids["root"] = plan["root"]["id"]
    return done, ids, done["version"]["revision"]


async def test_setting_the_current_target_writes_nothing(gql: GraphQLClient, db: Any) -> None:
    done, ids, revision = await regions_split(gql)
    east = done["children"][0]
    async with db.session() as session:
        audits = await session.scalar(text(AUDIT))
    data = (
        await gql(
            SET, {"input": {"nodeId": ids["EAST"], "revision": revision, "target": east["target"]}}
        )
    )["nodeSetTarget"]
    assert data["userErrors"] == []
    assert data["version"]["revision"] == revision  # nobody else gets a CONFLICT
    assert data["changed"] == []
    assert data["node"]["explanation"] == east["explanation"]  # not replaced
    async with db.session() as session:
        assert await session.scalar(text(AUDIT)) == audits


async def test_a_buffered_tree_stays_editable(gql: GraphQLClient, db: Any) -> None:
    """The issue: after a 10 % over-assignment, setting the node's target or rebalancing
    a sibling failed with TREE_INCONSISTENT ("the children of 21 add up to ...")."""
    done, ids, revision = await regions_split(gql, options={"overAssignment": "10"})
    east = done["children"][0]
    assert east["target"] == "366666.67"
    assert east["explanation"]["text"].startswith(
        "EAST: 366666.67 = 36.67 % of the plan (33.33 % of 1100000.00, the plan plus its 10 % "
        "buffer)"
    )
    sibling = (
        await gql(SET, {"input": {"nodeId": ids["WEST"], "revision": revision, "target": "400000"}})
    )["nodeSetTarget"]
    assert sibling["userErrors"] == []
    revision = sibling["version"]["revision"]
    root = (
        await gql(
            SET, {"input": {"nodeId": ids["root"], "revision": revision, "target": "2000000"}}
        )
    )["nodeSetTarget"]
    assert root["userErrors"] == []
    revision = root["version"]["revision"]
    rolled = (
        await gql(
            SET,
            {
                "input": {
                    "nodeId": ids["EAST"],
                    "revision": revision,
                    "target": "800000.05",
                    "mode": "ROLL_UP",
                }
            },
        )
    )["nodeSetTarget"]
    assert rolled["userErrors"] == []
    async with db.session() as session:
        root_target = await session.scalar(text("SELECT target FROM target_node WHERE depth = 0"))
        children = await session.scalar(text("SELECT sum(target) FROM target_node WHERE depth = 1"))
    assert children == root_target + (root_target * 10 + 50) // 100  # still exactly +10 %


async def test_roll_up_respects_an_ancestors_cap_and_speaks_in_units(gql: GraphQLClient) -> None:
    plan = await create_plan(gql, target="900.00")
    regions = await create_dimension(gql, "Regions")
    channels = await create_dimension(gql, "Channels", "CHANNEL")
    r = (
        await gql(
            BULK,
            {"input": {"dimensionId": regions, "members": [{"code": "EAST", "name": "East"}]}},
        )
    )["membersCreate"]["members"]
    c = (
        await gql(
            BULK,
            {
                "input": {
                    "dimensionId": channels,
                    "members": [{"code": x, "name": x.title()} for x in ("DIRECT", "ONLINE")],
                }
            },
        )
    )["membersCreate"]["members"]
    top = (
        await gql(
            SPLIT,
            {
                "input": {
                    "nodeId": plan["root"]["id"],
                    "revision": 1,
                    "dimensionId": regions,
                    "memberIds": [r[0]["id"]],
                }
            },
        )
    )["nodeSplit"]
    east = top["children"][0]["id"]
    below = (
        await gql(
            SPLIT,
            {
                "input": {
                    "nodeId": east,
                    "revision": top["version"]["revision"],
                    "dimensionId": channels,
                    "memberIds": [m["id"] for m in c],
                }
            },
        )
    )["nodeSplit"]
    capped = (
        await gql(
            UPDATE,
            {"input": {"nodeId": east, "revision": below["version"]["revision"], "cap": "950.00"}},
        )
    )["nodeUpdate"]
    assert capped["userErrors"] == []
    data = (
        await gql(
            SET,
            {
                "input": {
                    "nodeId": below["children"][0]["id"],
                    "revision": capped["version"]["revision"],
                    "target": "600.00",
                    "mode": "ROLL_UP",
                }
            },
        )
    )["nodeSetTarget"]
    [error] = data["userErrors"]
    assert error["code"] == "INVALID_BOUNDS"
    assert error["field"] == ["input", "target"]
    assert error["message"] == "EAST cannot roll up to 1050.00: that is above its cap 950.00"


async def test_quarters_sent_backwards_split_in_calendar_order(gql: GraphQLClient) -> None:
    plan = await create_plan(gql, target="1000.00")
    cal = (await gql(CALENDAR, {"id": plan["plan"]["id"]}))["plan"]["timeDimension"]
    [year] = [e["node"] for e in cal["roots"]["edges"]]
    quarters = [e["node"] for e in year["children"]["edges"]]
    backwards = list(reversed(quarters))
    data = (
        await gql(
            SPLIT,
            {
                "input": {
                    "nodeId": plan["root"]["id"],
                    "revision": 1,
                    "dimensionId": cal["id"],
                    "memberIds": [q["id"] for q in backwards],
                    "method": "SEASONAL",
                    "options": {"profile": "GIVEN", "lag": 1},
                    # inputs go with their member, whatever the order they are sent in
                    "children": [
                        {"memberId": q["id"], "weight": str(4 - i)} for i, q in enumerate(backwards)
                    ],
                }
            },
        )
    )["nodeSplit"]
    assert data["userErrors"] == [], data
    codes = [c["coordinate"]["member"]["code"] for c in data["children"]]
    assert codes == [f"FY2027-Q{i}" for i in range(1, 5)]
    # Q1..Q4 weights 1..4; the one-quarter lag holds Q1 back, not Q4
    assert [c["target"] for c in data["children"]] == ["0.00", "222.22", "333.33", "444.45"]
