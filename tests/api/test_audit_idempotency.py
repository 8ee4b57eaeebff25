"""Issue 6: the audit trail of a sequence of mutations; idempotent retries."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.api.helpers import create_dimension, create_member, create_plan, split
from tests.conftest import GraphQLClient

SET = """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
    node { id target } version { revision } userErrors { code } } }"""
LOCK = """mutation($input: NodeInput!) { nodeLock(input: $input) {
    version { revision } userErrors { code } } }"""
TRAIL = """query($id: ID!, $after: String) { planVersion(id: $id) { auditTrail(first: 50, after: $after) {
    edges { node { actor action nodeKey before after reason requestId } }
    pageInfo { hasNextPage endCursor } } } }"""


@pytest.fixture
async def small(gql: GraphQLClient) -> dict[str, Any]:
    plan = await create_plan(gql, target="100.00")
    regions = await create_dimension(gql, "Regions")
    members = [await create_member(gql, regions, c) for c in ("EAST", "WEST")]
    done = await split(gql, plan["root"]["id"], 1, regions, members)
    return {
        "version": plan["version"]["id"],
        "root": plan["root"]["id"],
        "children": [c["id"] for c in done["children"]],
        "revision": done["version"]["revision"],
    }


async def test_audit_trail_records_a_sequence_in_order(
    gql: GraphQLClient, small: dict[str, Any], db: Any
) -> None:
    east, west = small["children"]
    data = await gql(
        SET,
        {
            "input": {
                "nodeId": east,
                "revision": small["revision"],
                "target": "70.00",
                "reason": "East signed the key account",
            }
        },
    )
    revision = data["nodeSetTarget"]["version"]["revision"]
    await gql(LOCK, {"input": {"nodeId": west, "revision": revision, "reason": "agreed with West"}})
    trail = (await gql(TRAIL, {"id": small["version"], "after": None}))["planVersion"]["auditTrail"]
    entries = [e["node"] for e in trail["edges"]]
    assert [e["action"] for e in entries] == [
        "PLAN_CREATE",
        "NODE_SPLIT",
        "NODE_SET_TARGET",
        "NODE_SET_TARGET",
        "NODE_LOCK",
    ]
    assert all(e["actor"] == "tester" for e in entries)
    split_entry = entries[1]
    assert split_entry["before"]["split"] is None
    # Amounts in JSON travel as decimal strings in the plan's currency, never minor units.
    assert [c["target"] for c in split_entry["after"]["children"]] == ["50.00", "50.00"]
    set_targets = {e["after"]["target"]: e for e in entries[2:4]}
    assert set_targets["70.00"]["before"] == {"target": "50.00"}
    assert set_targets["30.00"]["before"] == {"target": "50.00"}
    assert {e["reason"] for e in entries[2:4]} == {"East signed the key account"}
    assert entries[4]["before"] == {"locked": False} and entries[4]["after"] == {"locked": True}
    assert entries[4]["reason"] == "agreed with West"
    assert all(e["requestId"] for e in entries)

    node_trail = await gql(
        """query($id: ID!) { node(id: $id) { ... on TargetNode {
             auditTrail { edges { node { action after } } } } } }""",
        {"id": west},
    )
    actions = [e["node"]["action"] for e in node_trail["node"]["auditTrail"]["edges"]]
    assert actions == ["NODE_SET_TARGET", "NODE_LOCK"]

    with pytest.raises(Exception, match="append-only"):
        async with db.session() as session, session.begin():
            await session.execute(text("UPDATE audit_entry SET actor = 'someone else'"))
    with pytest.raises(Exception, match="append-only"):
        async with db.session() as session, session.begin():
            await session.execute(text("DELETE FROM audit_entry"))


async def test_failed_mutations_leave_no_audit_entry(
    gql: GraphQLClient, small: dict[str, Any], db: Any
) -> None:
    async with db.session() as session:
        before = await session.scalar(text("SELECT count(*) FROM audit_entry"))
    data = await gql(
        SET, {"input": {"nodeId": small["children"][0], "revision": 1, "target": "1.00"}}
    )
    assert data["nodeSetTarget"]["userErrors"] == [{"code": "CONFLICT"}]
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM audit_entry")) == before


async def test_idempotent_retry_applies_once_and_replays(
    gql: GraphQLClient, small: dict[str, Any], db: Any
) -> None:
    body = {
        "input": {"nodeId": small["children"][0], "revision": small["revision"], "target": "60.00"}
    }
    headers = {"Idempotency-Key": "reorg-2027-03-01-east"}
    first = await gql.post(SET, body, headers=headers)
    assert first.status_code == 200
    assert first.json()["data"]["nodeSetTarget"]["userErrors"] == []
    retry = await gql.post(SET, body, headers=headers)
    assert retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content  # byte for byte, key order included
    async with db.session() as session:
        applied = await session.scalar(
            text("SELECT count(*) FROM audit_entry WHERE action = 'nodeSetTarget'")
        )
        assert applied == 2  # EAST and WEST once, not twice
        assert (
            await session.scalar(text("SELECT revision FROM plan_version")) == small["revision"] + 1
        )
    other = dict(body, input={**body["input"], "target": "65.00"})
    reused = await gql.post(SET, other, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["extensions"] == {
        "code": "IDEMPOTENCY_KEY_REUSED",
        "requestId": reused.headers["x-request-id"],
    }


async def test_idempotency_keys_are_per_subject_and_validated(
    gql: GraphQLClient, small: dict[str, Any]
) -> None:
    bad = await gql.post(
        LOCK,
        {"input": {"nodeId": small["root"], "revision": 1}},
        headers={"Idempotency-Key": "x" * 500, "Accept": "application/graphql-response+json"},
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/graphql-response+json")
    assert bad.json()["errors"][0]["extensions"] == {
        "code": "IDEMPOTENCY_KEY_INVALID",
        "requestId": bad.headers["x-request-id"],
    }
