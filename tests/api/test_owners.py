"""Issue 6: owners and teams, quotas, `me`, version owners, scoped editing."""

from __future__ import annotations

from typing import Any

import pytest

from service.auth import Role
from tests.api.helpers import create_dimension, create_member, split
from tests.conftest import GraphQLClient, token

PERSON = """mutation($input: OwnerCreateInput!) { ownerCreate(input: $input) {
    owner { id name subject } userErrors { code field } } }"""
TEAM = """mutation($input: TeamCreateInput!) { teamCreate(input: $input) {
    owner { id name members { nodes { name } } lead { name } } userErrors { code field } } }"""
ADD = """mutation($input: TeamAddMemberInput!) { teamAddMember(input: $input) {
    owner { members { nodes { name } } } userErrors { code field } } }"""
ASSIGN = """mutation($input: NodeAssignOwnerInput!) { nodeAssignOwner(input: $input) {
    node { owner { name } } version { revision } userErrors { code field message } } }"""
SET = """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
    version { revision } userErrors { code field message } } }"""


async def person(gql: GraphQLClient, name: str, subject: str) -> str:
    data = await gql(PERSON, {"input": {"name": name, "subject": subject}})
    assert data["ownerCreate"]["userErrors"] == []
    return data["ownerCreate"]["owner"]["id"]  # type: ignore[no-any-return]


@pytest.fixture
async def org(gql: GraphQLClient) -> dict[str, Any]:
    """FY plan 1200.00: East (quarters Q1..Q4) and West; Li owns East, team West owns West."""
    data = await gql(
        """mutation { planCreate(input: {name: "FY27", currency: EUR, fiscalYear: 2027,
             target: "1200.00"}) { plan { id timeDimension { id roots { edges { node {
             children { edges { node { id code } } } } } } } }
             version { id revision } root { id } userErrors { code } } }"""
    )
    created = data["planCreate"]
    calendar = created["plan"]["timeDimension"]
    quarters = [e["node"]["id"] for e in calendar["roots"]["edges"][0]["node"]["children"]["edges"]]
    regions = await create_dimension(gql, "Regions")
    east, west = [await create_member(gql, regions, c) for c in ("EAST", "WEST")]
    top = await split(gql, created["root"]["id"], 1, regions, [east, west])
    east_node, west_node = [c["id"] for c in top["children"]]
    by_q = await split(gql, east_node, top["version"]["revision"], calendar["id"], quarters)
    li = await person(gql, "Li Wei", "li")
    ana = await person(gql, "Ana", "ana")
    team = (await gql(TEAM, {"input": {"name": "West team", "leadId": ana}}))["teamCreate"]["owner"]
    bo = await person(gql, "Bo", "bo")
    await gql(ADD, {"input": {"teamId": team["id"], "personId": bo}})
    revision = by_q["version"]["revision"]
    for node, owner in ((east_node, li), (west_node, team["id"])):
        done = (
            await gql(ASSIGN, {"input": {"nodeId": node, "revision": revision, "ownerId": owner}})
        )["nodeAssignOwner"]
        assert done["userErrors"] == []
        revision = done["version"]["revision"]
    return {
        "version": created["version"]["id"],
        "revision": revision,
        "east": east_node,
        "west": west_node,
        "east_quarters": [c["id"] for c in by_q["children"]],
        "li": li,
        "team": team["id"],
    }


async def test_teams_and_people(gql: GraphQLClient, org: dict[str, Any]) -> None:
    data = await gql(
        """query($id: ID!) { node(id: $id) { ... on Owner { name kind lead { name }
             members { totalCount nodes { name } } } } }""",
        {"id": org["team"]},
    )
    assert data["node"] == {
        "name": "West team",
        "kind": "TEAM",
        "lead": {"name": "Ana"},
        "members": {"totalCount": 2, "nodes": [{"name": "Ana"}, {"name": "Bo"}]},
    }
    dup = await gql(PERSON, {"input": {"name": "Other Li", "subject": "li"}})
    assert dup["ownerCreate"]["userErrors"] == [
        {"code": "DUPLICATE", "field": ["input", "subject"]}
    ]


async def test_my_quota_by_period_and_dimension(gql: GraphQLClient, org: dict[str, Any]) -> None:
    response = await gql.post(
        """query($v: ID!) { me { name quota(version: $v) { total nodes { target }
             byPeriod { period { code } amount } byDimension { member { code } amount } } } }""",
        {"v": org["version"]},
        headers={"Authorization": f"Bearer {token(Role.VIEWER, subject='li')}"},
        role=None,
    )
    me = response.json()["data"]["me"]
    assert me["name"] == "Li Wei"
    assert me["quota"]["total"] == "600.00"
    assert me["quota"]["byPeriod"] == [{"period": None, "amount": "600.00"}]
    assert me["quota"]["byDimension"] == [{"member": {"code": "EAST"}, "amount": "600.00"}]

    # Give Li only Q2 and Q3 of East instead: the quota follows, by quarter.
    revision = org["revision"]
    for node, owner in (
        (org["east"], None),
        (org["east_quarters"][1], org["li"]),
        (org["east_quarters"][2], org["li"]),
    ):
        done = (
            await gql(ASSIGN, {"input": {"nodeId": node, "revision": revision, "ownerId": owner}})
        )["nodeAssignOwner"]
        revision = done["version"]["revision"]
    data = await gql(
        """query($id: ID!, $v: ID!) { node(id: $id) { ... on Owner { quota(version: $v) { total
             byPeriod { period { code } amount } } } } }""",
        {"id": org["li"], "v": org["version"]},
    )
    assert data["node"]["quota"] == {
        "total": "300.00",
        "byPeriod": [
            {"period": {"code": "FY2027-Q2"}, "amount": "150.00"},
            {"period": {"code": "FY2027-Q3"}, "amount": "150.00"},
        ],
    }


async def test_held_nodes_list_nested_holdings_the_total_counts_once(
    gql: GraphQLClient, org: dict[str, Any]
) -> None:
    # Li holds East; give Li its second quarter too: a node inside a node Li holds.
    done = (
        await gql(
            ASSIGN,
            {
                "input": {
                    "nodeId": org["east_quarters"][1],
                    "revision": org["revision"],
                    "ownerId": org["li"],
                }
            },
        )
    )["nodeAssignOwner"]
    assert done["userErrors"] == []
    data = await gql(
        """query($id: ID!, $v: ID!) { node(id: $id) { ... on Owner { quota(version: $v) {
             total nodes { id } heldNodes { id target } } } } }""",
        {"id": org["li"], "v": org["version"]},
    )
    quota = data["node"]["quota"]
    assert quota["total"] == "600.00"  # East alone: its quarter is not counted twice
    assert [n["id"] for n in quota["nodes"]] == [org["east"]]
    assert quota["heldNodes"] == [
        {"id": org["east"], "target": "600.00"},
        {"id": org["east_quarters"][1], "target": "150.00"},
    ]


async def test_version_owners_and_unowned_leaves(gql: GraphQLClient, org: dict[str, Any]) -> None:
    data = await gql(
        """query($id: ID!) { planVersion(id: $id) { owners {
             owners { totalCount edges { node { name } total nodeCount } }
             unownedLeaves { id } } } }""",
        {"id": org["version"]},
    )
    owners = data["planVersion"]["owners"]
    assert owners["owners"]["totalCount"] == 2
    assert sorted((e["node"]["name"], e["total"]) for e in owners["owners"]["edges"]) == [
        ("Li Wei", "600.00"),
        ("West team", "600.00"),
    ]
    first = await gql(
        """query($id: ID!) { planVersion(id: $id) { owners {
             owners(first: 1) { edges { node { name } } pageInfo { hasNextPage endCursor } } } } }""",
        {"id": org["version"]},
    )
    page = first["planVersion"]["owners"]["owners"]
    assert page["pageInfo"]["hasNextPage"] is True and len(page["edges"]) == 1
    second = await gql(
        """query($id: ID!, $after: String) { planVersion(id: $id) { owners {
             owners(first: 1, after: $after) { edges { node { name } } pageInfo { hasNextPage } } } } }""",
        {"id": org["version"], "after": page["pageInfo"]["endCursor"]},
    )
    rest = second["planVersion"]["owners"]["owners"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert {page["edges"][0]["node"]["name"], rest["edges"][0]["node"]["name"]} == {
        "Li Wei",
        "West team",
    }
    assert owners["unownedLeaves"] == []
    done = (
        await gql(
            ASSIGN, {"input": {"nodeId": org["west"], "revision": org["revision"], "ownerId": None}}
        )
    )["nodeAssignOwner"]
    assert done["node"]["owner"] is None
    data = await gql(
        """query($id: ID!) { planVersion(id: $id) { owners { unownedLeaves { id } } } }""",
        {"id": org["version"]},
    )
    assert data["planVersion"]["owners"]["unownedLeaves"] == [{"id": org["west"]}]


async def scoped(
    gql: GraphQLClient,
    query: str,
    variables: dict[str, Any],
    owners: list[str],
    subject: str = "someone",
) -> dict[str, Any]:
    response = await gql.post(
        query,
        variables,
        role=None,
        headers={"Authorization": f"Bearer {token(Role.PLANNER, subject=subject, owners=owners)}"},
    )
    return response.json()["data"]  # type: ignore[no-any-return]


async def test_scoped_planner_edits_only_inside_held_subtrees(
    gql: GraphQLClient, org: dict[str, Any]
) -> None:
    q1 = org["east_quarters"][0]
    inside = await scoped(
        gql, SET, {"input": {"nodeId": q1, "revision": org["revision"], "target": "200.00"}}, ["li"]
    )
    assert inside["nodeSetTarget"]["userErrors"] == []
    revision = inside["nodeSetTarget"]["version"]["revision"]
    outside = await scoped(
        gql,
        SET,
        {"input": {"nodeId": org["west"], "revision": revision, "target": "500.00"}},
        ["li"],
    )
    [error] = outside["nodeSetTarget"]["userErrors"]
    assert error["code"] == "FORBIDDEN"
    assert "outside" in error["message"]
    # Editing East itself would rebalance West, outside Li's subtree.
    east = await scoped(
        gql,
        SET,
        {"input": {"nodeId": org["east"], "revision": revision, "target": "700.00"}},
        ["li"],
    )
    assert east["nodeSetTarget"]["userErrors"][0]["code"] == "FORBIDDEN"


async def test_scope_through_a_team(gql: GraphQLClient, org: dict[str, Any]) -> None:
    # Bo's token names Bo; Bo belongs to the West team, which holds West.
    data = await scoped(
        gql,
        """mutation($input: NodeInput!) { nodeLock(input: $input) { userErrors { code } } }""",
        {"input": {"nodeId": org["west"], "revision": org["revision"]}},
        ["bo"],
    )
    assert data["nodeLock"]["userErrors"] == []


async def test_admin_unlimited_and_viewer_nothing(gql: GraphQLClient, org: dict[str, Any]) -> None:
    admin = await gql(
        SET, {"input": {"nodeId": org["west"], "revision": org["revision"], "target": "500.00"}}
    )
    assert admin["nodeSetTarget"]["userErrors"] == []
    viewer = await gql(
        SET,
        {
            "input": {
                "nodeId": org["west"],
                "revision": admin["nodeSetTarget"]["version"]["revision"],
                "target": "400.00",
            }
        },
        role=Role.VIEWER,
    )
    assert viewer["nodeSetTarget"]["userErrors"][0]["code"] == "FORBIDDEN"


async def test_owner_audit_trail(gql: GraphQLClient, org: dict[str, Any]) -> None:
    data = await gql(
        """query($id: ID!) { node(id: $id) { ... on Owner { auditTrail { edges { node { action after } } } } } }""",
        {"id": org["li"]},
    )
    actions = [e["node"]["action"] for e in data["node"]["auditTrail"]["edges"]]
    assert actions == ["OWNER_CREATE", "NODE_ASSIGN_OWNER"]


async def test_unscoped_planner_and_bad_owner_ids(gql: GraphQLClient, org: dict[str, Any]) -> None:
    data = await gql(
        ASSIGN,
        {
            "input": {
                "nodeId": org["west"],
                "revision": org["revision"],
                "ownerId": "T3duZXI6OTk5OTk=",
            }
        },
    )
    assert data["nodeAssignOwner"]["userErrors"][0]["code"] == "NOT_FOUND"
    data = await gql(
        ASSIGN,
        {"input": {"nodeId": org["west"], "revision": org["revision"], "ownerId": org["version"]}},
    )
    assert data["nodeAssignOwner"]["userErrors"][0]["code"] == "INVALID_ID"


async def test_scoped_planner_cannot_change_plans_or_versions(
    gql: GraphQLClient, org: dict[str, Any]
) -> None:
    data = await scoped(
        gql,
        """mutation($input: VersionTransitionInput!) { versionSubmit(input: $input) { userErrors { code message } } }""",
        {"input": {"id": org["version"], "revision": org["revision"]}},
        ["li"],
    )
    [error] = data["versionSubmit"]["userErrors"]
    assert error["code"] == "FORBIDDEN" and "scoped" in error["message"]


async def test_accountable_owner_is_the_nearest_owner_on_the_path(
    gql: GraphQLClient, org: dict[str, Any]
) -> None:
    """East's quarters have no owner of their own: Li, who owns East, answers for them."""
    read = """query($id: ID!) { planVersion(id: $id) { root {
        owner { name } accountableOwner { name }
        children { owner { name } accountableOwner { name }
                   children { owner { name } accountableOwner { name } } } } } }"""
    root = (await gql(read, {"id": org["version"]}))["planVersion"]["root"]
    assert root["owner"] is None and root["accountableOwner"] is None
    east, west = root["children"]
    assert east["owner"] == east["accountableOwner"] == {"name": "Li Wei"}
    assert west["owner"] == west["accountableOwner"] == {"name": "West team"}
    assert [q["owner"] for q in east["children"]] == [None] * 4
    assert [q["accountableOwner"] for q in east["children"]] == [{"name": "Li Wei"}] * 4
    q1 = org["east_quarters"][0]
    done = (
        await gql(
            ASSIGN, {"input": {"nodeId": q1, "revision": org["revision"], "ownerId": org["team"]}}
        )
    )["nodeAssignOwner"]
    assert done["userErrors"] == []
    root = (await gql(read, {"id": org["version"]}))["planVersion"]["root"]
    quarters = root["children"][0]["children"]
    assert [q["accountableOwner"]["name"] for q in quarters] == ["West team"] + ["Li Wei"] * 3
