"""nodeSplit end to end: exact cents, slices, levels, revisions, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from service.auth import Role
from tests.api.helpers import SPLIT, create_dimension, create_member, create_plan, split
from tests.conftest import GraphQLClient, StatementCounter


@pytest.fixture
async def world(gql: GraphQLClient) -> dict[str, Any]:
    plan = await create_plan(gql, target="100.00")
    regions = await create_dimension(gql, "Regions")
    channels = await create_dimension(gql, "Channels", "CHANNEL")
    east = await create_member(gql, regions, "EAST")
    west = await create_member(gql, regions, "WEST")
    north = await create_member(gql, regions, "NORTH")
    shanghai = await create_member(gql, regions, "SHANGHAI", parent_id=east)
    nanjing = await create_member(gql, regions, "NANJING", parent_id=east)
    direct = await create_member(gql, channels, "DIRECT")
    online = await create_member(gql, channels, "ONLINE")
    return {
        "root": plan["root"]["id"],
        "version": plan["version"]["id"],
        "revision": plan["version"]["revision"],
        "regions": regions,
        "channels": channels,
        "east": east,
        "west": west,
        "north": north,
        "shanghai": shanghai,
        "nanjing": nanjing,
        "direct": direct,
        "online": online,
    }


async def test_equal_split_is_exact_to_the_cent(gql: GraphQLClient, world: dict[str, Any]) -> None:
    result = await split(
        gql,
        world["root"],
        world["revision"],
        world["regions"],
        [world["east"], world["west"], world["north"]],
    )
    assert result["userErrors"] == []
    targets = [c["target"] for c in result["children"]]
    # 100.00 / 3: 33.34 + 33.33 + 33.33, exactly 100.00
    assert sorted(targets, reverse=True) == ["33.34", "33.33", "33.33"]
    assert sum(int(t.replace(".", "")) for t in targets) == 10000
    assert result["version"]["revision"] == world["revision"] + 1
    assert result["node"]["splitDimension"]["name"] == "Regions"
    assert result["children"][0]["slice"] == [
        {"dimension": {"name": "Regions"}, "member": {"code": "EAST"}}
    ]
    explanation = result["children"][0]["explanation"]
    # Amounts inside the JSON are decimal strings in the plan's currency, like `target`.
    assert explanation["final"] == result["children"][0]["target"]
    assert all(isinstance(c["explanation"]["final"], str) for c in result["children"])
    assert "33." in explanation["text"] and "3334" not in explanation["text"]


async def test_split_deeper_along_another_and_the_same_dimension(
    gql: GraphQLClient, world: dict[str, Any]
) -> None:
    first = await split(gql, world["root"], 1, world["regions"], [world["east"], world["west"]])
    east_node = first["children"][0]["id"]
    second = await split(gql, east_node, 2, world["channels"], [world["direct"], world["online"]])
    assert second["userErrors"] == []
    east_direct = second["children"][0]
    assert [(s["dimension"]["name"], s["member"]["code"]) for s in east_direct["slice"]] == [
        ("Regions", "EAST"),
        ("Channels", "DIRECT"),
    ]
    # Region again, one level deeper: only East's children are allowed.
    wrong = await split(gql, east_direct["id"], 3, world["regions"], [world["west"]])
    assert wrong["userErrors"][0]["code"] == "WRONG_LEVEL"
    third = await split(
        gql, east_direct["id"], 3, world["regions"], [world["shanghai"], world["nanjing"]]
    )
    assert third["userErrors"] == []
    crumbs = [s["member"]["code"] for s in third["children"][0]["slice"]]
    assert crumbs == ["EAST", "DIRECT", "SHANGHAI"]


async def test_children_add_up_in_sql(gql: GraphQLClient, world: dict[str, Any], db: Any) -> None:
    plan = await create_plan(gql, target="92233720368547758.07")
    root = plan["root"]["id"]
    done = await split(
        gql, root, 1, world["regions"], [world["east"], world["west"], world["north"]]
    )
    assert done["userErrors"] == []
    async with db.session() as session:
        bad = await session.scalar(
            text(
                """SELECT count(*) FROM target_node p
                   JOIN LATERAL (SELECT sum(c.target) AS s, count(*) AS n FROM target_node c
                                 WHERE c.version_id = p.version_id AND c.parent_key = p.key) k ON true
                   WHERE k.n > 0 AND k.s <> p.target"""
            )
        )
    assert bad == 0


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("no members", "EMPTY_SET", ["input", "memberIds"]),
        ("other dimension", "WRONG_DIMENSION", ["input", "memberIds", "0"]),
        ("mixed levels", "WRONG_LEVEL", ["input", "memberIds", "1"]),
        ("duplicate", "DUPLICATE", ["input", "memberIds", "1"]),
        ("unknown member", "NOT_FOUND", ["input", "memberIds", "0"]),
        ("malformed member", "INVALID_ID", ["input", "memberIds", "0"]),
        ("malformed node", "INVALID_ID", ["input", "nodeId"]),
        ("unknown node", "NOT_FOUND", ["input", "nodeId"]),
        ("plan id as node", "INVALID_ID", ["input", "nodeId"]),
        ("unknown dimension", "NOT_FOUND", ["input", "dimensionId"]),
        ("stale revision", "CONFLICT", ["input", "revision"]),
    ],
)
async def test_bad_split_input(
    gql: GraphQLClient, world: dict[str, Any], db: Any, case: str, code: str, field: list[str]
) -> None:
    node, revision, dim = world["root"], world["revision"], world["regions"]
    members = [world["east"], world["west"]]
    match case:
        case "no members":
            members = []
        case "other dimension":
            members = [world["direct"]]
        case "mixed levels":
            members = [world["east"], world["shanghai"]]
        case "duplicate":
            members = [world["east"], world["east"]]
        case "unknown member":
            members = ["TWVtYmVyOjk5OTk5OTk="]
        case "malformed member":
            members = ["%%%"]
        case "malformed node":
            node = "bm9wZQ"
        case "unknown node":
            node = "VGFyZ2V0Tm9kZTo5OTk5OTo5OTk5OQ=="  # TargetNode:99999:99999
        case "plan id as node":
            node = "UGxhbjox"
        case "unknown dimension":
            dim = "RGltZW5zaW9uOjk5OTk5OQ=="
        case "stale revision":
            revision = 99
    result = await split(gql, node, revision, dim, members)
    assert result["children"] is None
    [error] = result["userErrors"]
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"]
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM target_node")) == 1
        assert await session.scalar(text("SELECT revision FROM plan_version")) == 1


async def test_splitting_twice_is_refused(gql: GraphQLClient, world: dict[str, Any]) -> None:
    await split(gql, world["root"], 1, world["regions"], [world["east"]])
    again = await split(gql, world["root"], 2, world["channels"], [world["direct"]])
    assert again["userErrors"][0]["code"] == "ALREADY_SPLIT"


async def test_viewer_cannot_split(gql: GraphQLClient, world: dict[str, Any]) -> None:
    data = await gql(
        SPLIT,
        {
            "input": {
                "nodeId": world["root"],
                "revision": 1,
                "dimensionId": world["regions"],
                "memberIds": [world["east"]],
            }
        },
        role=Role.VIEWER,
    )
    assert data["nodeSplit"]["userErrors"][0]["code"] == "FORBIDDEN"


async def test_non_draft_versions_refuse_in_the_domain_and_in_the_database(
    gql: GraphQLClient, world: dict[str, Any], db: Any
) -> None:
    async with db.session() as session, session.begin():
        await session.execute(text("UPDATE plan_version SET state = 'PUBLISHED'"))
    result = await split(gql, world["root"], world["revision"], world["regions"], [world["east"]])
    assert result["userErrors"][0]["code"] == "NOT_DRAFT"
    # Second line of defence: the trigger refuses a write that bypasses the domain.
    with pytest.raises(Exception, match="not a draft"):
        async with db.session() as session, session.begin():
            await session.execute(text("UPDATE target_node SET target = target + 1"))


TREE = """query($id: ID!) { node(id: $id) { ... on TargetNode {
  target slice { dimension { name } member { code } }
  children { target explanation parent { key } splitDimension { name }
    slice { dimension { name } member { code name } }
    children { target slice { member { code } } children { target } } } } } }"""


async def test_reading_a_tree_takes_a_fixed_number_of_statements(
    gql: GraphQLClient, world: dict[str, Any], statements: StatementCounter
) -> None:
    """No N+1: the same query over a wider tree issues the same number of statements."""
    counts = []
    for width in (2, 12):
        regions = await create_dimension(gql, f"R{width}")
        channels = await create_dimension(gql, f"C{width}", "CHANNEL")
        region_ids = [await create_member(gql, regions, f"R{i}") for i in range(width)]
        channel_ids = [await create_member(gql, channels, f"C{i}") for i in range(width)]
        plan = await create_plan(gql, target="1000000.00")
        top = await split(gql, plan["root"]["id"], 1, regions, region_ids)
        revision = top["version"]["revision"]
        for child in top["children"]:
            done = await split(gql, child["id"], revision, channels, channel_ids)
            revision = done["version"]["revision"]
        statements.reset()
        data = await gql(TREE, {"id": plan["root"]["id"]}, role=Role.VIEWER)
        counts.append(statements.count)
        assert len(data["node"]["children"]) == width
        assert all(len(c["children"]) == width for c in data["node"]["children"])
    assert counts[0] == counts[1], counts
    assert counts[1] <= 10, counts


async def test_root_may_split_straight_to_a_deeper_level(
    gql: GraphQLClient, world: dict[str, Any]
) -> None:
    done = await split(
        gql, world["root"], 1, world["regions"], [world["shanghai"], world["nanjing"]]
    )
    assert done["userErrors"] == []


CALENDAR = """query($id: ID!) { plan(id: $id) { timeDimension { id kind
  roots { edges { node { id code startsOn endsOn
    children { edges { node { id code startsOn endsOn
      children { edges { node { id code } } } } } } } } } } } }"""


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]


async def test_time_splits_follow_the_plans_calendar(gql: GraphQLClient) -> None:
    data = await gql(
        """mutation { planCreate(input: {name: "FY27", currency: EUR, fiscalYear: 2027,
             target: "1200.00", calendar: {startMonth: 4}}) {
             plan { id calendar } version { revision } root { id } userErrors { code } } }"""
    )
    created = data["planCreate"]
    assert created["plan"]["calendar"]["startMonth"] == 4
    cal = (await gql(CALENDAR, {"id": created["plan"]["id"]}))["plan"]["timeDimension"]
    assert cal["kind"] == "TIME"
    [year] = nodes(cal["roots"])
    assert (year["code"], year["startsOn"], year["endsOn"]) == (
        "FY2027",
        "2026-04-01",
        "2027-04-01",
    )
    quarters = nodes(year["children"])
    assert [q["code"] for q in quarters] == [f"FY2027-Q{i}" for i in range(1, 5)]
    by_quarter = await split(gql, created["root"]["id"], 1, cal["id"], [q["id"] for q in quarters])
    assert by_quarter["userErrors"] == []
    assert [c["target"] for c in by_quarter["children"]] == ["300.00"] * 4
    q1 = by_quarter["children"][0]["id"]
    q2_months = [m["id"] for m in nodes(quarters[1]["children"])]
    wrong = await split(gql, q1, 2, cal["id"], q2_months)
    assert wrong["userErrors"][0]["code"] == "WRONG_LEVEL"
    q1_months = [m["id"] for m in nodes(quarters[0]["children"])]
    months = await split(gql, q1, 2, cal["id"], q1_months)
    assert [c["target"] for c in months["children"]] == ["100.00"] * 3
    # The year itself is what the root already stands for: not a split member.
    year_split = await split(gql, by_quarter["children"][1]["id"], 3, cal["id"], [year["id"]])
    assert year_split["userErrors"][0]["code"] == "WRONG_LEVEL"


async def test_another_plans_calendar_is_refused(gql: GraphQLClient) -> None:
    first = await create_plan(gql)
    other = await create_plan(gql)
    cal = (await gql(CALENDAR, {"id": other["plan"]["id"]}))["plan"]["timeDimension"]
    quarter = nodes(nodes(cal["roots"])[0]["children"])[0]["id"]
    done = await split(gql, first["root"]["id"], 1, cal["id"], [quarter])
    assert done["userErrors"][0]["code"] == "WRONG_DIMENSION"


async def test_bad_calendar_input(gql: GraphQLClient) -> None:
    data = await gql(
        """mutation { planCreate(input: {name: "FY27", currency: EUR, fiscalYear: 2027,
             target: "1.00", calendar: {startMonth: 13}}) { plan { id } userErrors { code field } } }"""
    )
    assert data["planCreate"]["userErrors"] == [
        {"code": "INVALID_VALUE", "field": ["input", "calendar", "startMonth"]}
    ]


async def test_retail_calendar_with_weeks(gql: GraphQLClient) -> None:
    data = await gql(
        """mutation { planCreate(input: {name: "Retail", currency: USD, fiscalYear: 2025,
             target: "1.00", calendar: {startMonth: 2, pattern: P454, weeks: true, weekStart: 6}}) {
             plan { timeDimension { roots { edges { node { startsOn endsOn } } }
                    members(first: 500) { totalCount } } } userErrors { code } } }"""
    )
    plan = data["planCreate"]["plan"]
    # NRF fiscal 2024 (named FY2025 here): 2024-02-04 .. 2025-02-02 exclusive
    assert nodes(plan["timeDimension"]["roots"]) == [
        {"startsOn": "2024-02-04", "endsOn": "2025-02-02"}
    ]
    assert plan["timeDimension"]["members"]["totalCount"] == 1 + 4 + 12 + 52


async def test_retired_members_are_refused_for_new_splits(
    gql: GraphQLClient, world: dict[str, Any]
) -> None:
    await gql(
        "mutation($id: ID!) { memberRetire(input: {id: $id}) { userErrors { code } } }",
        {"id": world["west"]},
    )
    done = await split(gql, world["root"], 1, world["regions"], [world["east"], world["west"]])
    assert done["userErrors"][0]["code"] == "RETIRED"
    assert done["userErrors"][0]["field"] == ["input", "memberIds", "1"]
