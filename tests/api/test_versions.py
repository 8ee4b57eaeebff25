"""Issue 5, versions: copy-on-write drafts, the lifecycle, diffs, the read-only rule."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from service.auth import Role
from tests.api.helpers import create_dimension, create_member, create_plan, split
from tests.conftest import GraphQLClient

DRAFT = "version { id number state revision copiedFrom { number } }"
VERSION = DRAFT + " archived { number state }"


async def move(
    gql: GraphQLClient,
    action: str,
    version: dict[str, Any],
    *,
    role: Role = Role.ADMIN,
    reason: str | None = None,
) -> dict[str, Any]:
    data = await gql(
        f"""mutation($input: VersionTransitionInput!) {{ version{action}(input: $input) {{
            {VERSION} userErrors {{ code field message }} }} }}""",
        {"input": {"id": version["id"], "revision": version["revision"], "reason": reason}},
        role=role,
    )
    return data[f"version{action}"]  # type: ignore[no-any-return]


async def draft_from(gql: GraphQLClient, version_id: str) -> dict[str, Any]:
    data = await gql(
        f"""mutation($input: VersionCreateDraftInput!) {{ versionCreateDraft(input: $input) {{
            {DRAFT} userErrors {{ code field message }} }} }}""",
        {"input": {"from": version_id}},
    )
    return data["versionCreateDraft"]  # type: ignore[no-any-return]


@pytest.fixture
async def split_plan(gql: GraphQLClient) -> dict[str, Any]:
    plan = await create_plan(gql, target="90.00")
    regions = await create_dimension(gql, "Regions")
    members = [await create_member(gql, regions, code) for code in ("EAST", "WEST", "NORTH")]
    done = await split(gql, plan["root"]["id"], 1, regions, members)
    assert done["userErrors"] == []
    return {**plan, "regions": regions, "members": members, "children": done["children"]}


async def test_full_lifecycle_and_single_published_version(
    gql: GraphQLClient, split_plan: dict[str, Any]
) -> None:
    v1 = {"id": split_plan["version"]["id"], "revision": 2}
    submitted = await move(gql, "Submit", v1, role=Role.PLANNER)
    assert submitted["version"]["state"] == "SUBMITTED"
    # a planner cannot approve
    refused = await move(gql, "Approve", submitted["version"], role=Role.PLANNER)
    assert refused["userErrors"][0]["code"] == "FORBIDDEN"
    rejected = await move(gql, "Reject", submitted["version"], reason="Q3 is too heavy")
    assert rejected["version"]["state"] == "DRAFT"
    no_reason = await move(gql, "Reject", rejected["version"])
    assert no_reason["userErrors"][0]["code"] == "INVALID_TRANSITION"
    again = await move(gql, "Submit", rejected["version"])
    reasonless = await move(gql, "Reject", again["version"], reason="   ")
    assert reasonless["userErrors"][0]["code"] == "REQUIRED"
    assert reasonless["userErrors"][0]["field"] == ["input", "reason"]
    approved = await move(gql, "Approve", again["version"])
    published = await move(gql, "Publish", approved["version"])
    assert published["version"]["state"] == "PUBLISHED"
    assert published["archived"] == []

    v2 = await draft_from(gql, published["version"]["id"])
    assert v2["version"]["number"] == 2
    assert v2["version"]["copiedFrom"] == {"number": 1}
    v2v = v2["version"]
    for action in ("Submit", "Approve", "Publish"):
        v2v = (await move(gql, action, v2v))["version"]
    data = await gql(
        "query($id: ID!) { plan(id: $id) { versions { totalCount nodes { number state } } } }",
        {"id": split_plan["plan"]["id"]},
    )
    assert data["plan"]["versions"]["nodes"] == [
        {"number": 1, "state": "ARCHIVED"},
        {"number": 2, "state": "PUBLISHED"},
    ]
    assert data["plan"]["versions"]["totalCount"] == 2
    newest = await gql(
        "query($id: ID!) { plan(id: $id) { versions(last: 1) { nodes { number } "
        "pageInfo { hasPreviousPage hasNextPage } } } }",
        {"id": split_plan["plan"]["id"]},
    )
    assert newest["plan"]["versions"] == {
        "nodes": [{"number": 2}],
        "pageInfo": {"hasPreviousPage": True, "hasNextPage": False},
    }


async def test_wrong_transitions_and_stale_revisions(
    gql: GraphQLClient, split_plan: dict[str, Any]
) -> None:
    v1 = {"id": split_plan["version"]["id"], "revision": 2}
    early = await move(gql, "Publish", v1)
    assert early["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert "APPROVED" in early["userErrors"][0]["message"]
    stale = await move(gql, "Submit", {"id": v1["id"], "revision": 1})
    assert stale["userErrors"][0]["code"] == "CONFLICT"
    viewer = await move(gql, "Submit", v1, role=Role.VIEWER)
    assert viewer["userErrors"][0]["code"] == "FORBIDDEN"
    unknown = await move(gql, "Submit", {"id": "UGxhblZlcnNpb246OTk5OTk5", "revision": 1})
    assert unknown["userErrors"][0]["code"] == "NOT_FOUND"


async def test_published_versions_refuse_edits_in_domain_and_database(
    gql: GraphQLClient, split_plan: dict[str, Any], db: Any
) -> None:
    v = {"id": split_plan["version"]["id"], "revision": 2}
    for action in ("Submit", "Approve", "Publish"):
        v = (await move(gql, action, v))["version"]
    leaf = split_plan["children"][0]["id"]
    channels = await create_dimension(gql, "Channels", "CHANNEL")
    direct = await create_member(gql, channels, "DIRECT")
    refused = await split(gql, leaf, v["revision"], channels, [direct])
    assert refused["userErrors"][0]["code"] == "NOT_DRAFT"
    with pytest.raises(Exception, match="not a draft"):
        async with db.session() as session, session.begin():
            await session.execute(text("DELETE FROM target_node"))


async def test_copy_keeps_keys_and_diff_shows_changes(
    gql: GraphQLClient, split_plan: dict[str, Any]
) -> None:
    v2 = (await draft_from(gql, split_plan["version"]["id"]))["version"]
    keys = await gql(
        """query($a: ID!, $b: ID!) {
             a: planVersion(id: $a) { root { key target children { key target } } }
             b: planVersion(id: $b) { root { key target children { id key target } } } }""",
        {"a": split_plan["version"]["id"], "b": v2["id"]},
    )
    assert [c["key"] for c in keys["a"]["root"]["children"]] == [
        c["key"] for c in keys["b"]["root"]["children"]
    ]
    same = await gql(
        "query($a: ID!, $b: ID!) { versionDiff(base: $a, other: $b) { changes { key } truncated } }",
        {"a": split_plan["version"]["id"], "b": v2["id"]},
    )
    assert same["versionDiff"] == {"changes": [], "truncated": False}

    # Split one of the copied children in the draft: three nodes added.
    channels = await create_dimension(gql, "Channels", "CHANNEL")
    chans = [await create_member(gql, channels, c) for c in ("DIRECT", "ONLINE", "PARTNER")]
    east_in_v2 = keys["b"]["root"]["children"][0]["id"]
    done = await split(gql, east_in_v2, v2["revision"], channels, chans)
    assert done["userErrors"] == []
    diff = await gql(
        """query($a: ID!, $b: ID!) { versionDiff(base: $a, other: $b) {
             changes { kind aspects oldTarget newTarget delta
                       other { slice { member { code } } } } } }""",
        {"a": split_plan["version"]["id"], "b": v2["id"]},
    )
    changes = diff["versionDiff"]["changes"]
    # the split node itself changed (it now has a split), and three children were added
    assert sorted(c["kind"] for c in changes) == ["ADDED", "ADDED", "ADDED", "CHANGED"]
    added = [c for c in changes if c["kind"] == "ADDED"]
    assert {c["newTarget"] for c in added} == {"10.00"}
    assert all(c["oldTarget"] is None and c["delta"] is None for c in added)
    assert all(c["aspects"] == [] for c in added)
    [split_node] = [c for c in changes if c["kind"] == "CHANGED"]
    assert split_node["aspects"] == ["SPLIT"] and split_node["delta"] == "0.00"

    # Re-target and lock a copied child: the diff says what changed and by how much.
    revision = done["version"]["revision"]
    west_in_v2 = keys["b"]["root"]["children"][1]["id"]
    moved = await gql(
        """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
             version { revision } userErrors { code } } }""",
        {"input": {"nodeId": west_in_v2, "revision": revision, "target": "40.00"}},
    )
    revision = moved["nodeSetTarget"]["version"]["revision"]
    await gql(
        """mutation($input: NodeInput!) { nodeLock(input: $input) { userErrors { code } } }""",
        {"input": {"nodeId": west_in_v2, "revision": revision}},
    )
    diff = await gql(
        """query($a: ID!, $b: ID!) { versionDiff(base: $a, other: $b) {
             changes { kind aspects delta other { id } } } }""",
        {"a": split_plan["version"]["id"], "b": v2["id"]},
    )
    by_node = {c["other"]["id"]: c for c in diff["versionDiff"]["changes"] if c["other"]}
    assert by_node[west_in_v2]["aspects"] == ["TARGET", "LOCK"]
    assert by_node[west_in_v2]["delta"] == "10.00"


async def test_diff_refuses_versions_of_different_plans(gql: GraphQLClient) -> None:
    a = await create_plan(gql)
    b = await create_plan(gql)
    response = await gql.post(
        "query($a: ID!, $b: ID!) { versionDiff(base: $a, other: $b) { truncated } }",
        {"a": a["version"]["id"], "b": b["version"]["id"]},
    )
    assert "different plans" in response.json()["errors"][0]["message"]
