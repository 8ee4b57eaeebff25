"""reviewCreate and the reads of reviews on a node and on a version."""

from __future__ import annotations

from typing import Any

from service.auth import Role
from tests.api.helpers import create_plan
from tests.conftest import GraphQLClient

CREATE = """mutation($input: ReviewCreateInput!) { reviewCreate(input: $input) {
    review { id heldOn notes decisions createdBy createdAt period { code } node { id }
             version { id } }
    userErrors { code field message } } }"""


async def _months(gql: GraphQLClient, plan_id: str) -> dict[str, str]:
    data = await gql(
        """query($id: ID!) { node(id: $id) { ... on Plan { timeDimension {
            members(first: 100) { nodes { id code } } } } } }""",
        {"id": plan_id},
    )
    return {m["code"]: m["id"] for m in data["node"]["timeDimension"]["members"]["nodes"]}


async def test_review_is_recorded_audited_and_read_on_node_and_version(
    gql: GraphQLClient,
) -> None:
    plan = await create_plan(gql)
    root = plan["root"]["id"]
    months = await _months(gql, plan["plan"]["id"])
    data = await gql(
        CREATE,
        {
            "input": {
                "nodeId": root,
                "heldOn": "2027-04-03",
                "notes": "  Q1 behind: two key accounts slipped.\\nPipeline thin in the north. ",
                "decisions": "Re-plan from April.",
                "periodId": months["FY2027-Q1"],
            }
        },
    )
    payload = data["reviewCreate"]
    assert payload["userErrors"] == []
    review: dict[str, Any] = payload["review"]
    assert review["heldOn"] == "2027-04-03"
    assert review["notes"].startswith("Q1 behind")
    assert review["decisions"] == "Re-plan from April."
    assert review["createdBy"] == "tester"
    assert review["period"] == {"code": "FY2027-Q1"}
    assert review["node"]["id"] == root
    second = await gql(
        CREATE, {"input": {"nodeId": root, "heldOn": "2027-07-02", "notes": "Q2 on track."}}
    )
    assert second["reviewCreate"]["userErrors"] == []
    reads = await gql(
        """query($node: ID!, $version: ID!, $review: ID!) {
            n: node(id: $node) { ... on TargetNode { reviews(first: 1) {
                totalCount nodes { notes } pageInfo { hasNextPage } } } }
            v: node(id: $version) { ... on PlanVersion { reviews { totalCount
                nodes { heldOn period { code } } }
                auditTrail { nodes { action after } } } }
            r: node(id: $review) { ... on Review { notes } } }""",
        {
            "node": root,
            "version": plan["version"]["id"],
            "review": review["id"],
        },
    )
    assert reads["n"]["reviews"]["totalCount"] == 2
    assert reads["n"]["reviews"]["pageInfo"]["hasNextPage"] is True
    assert reads["v"]["reviews"]["nodes"] == [
        {"heldOn": "2027-04-03", "period": {"code": "FY2027-Q1"}},
        {"heldOn": "2027-07-02", "period": None},
    ]
    entries = [e for e in reads["v"]["auditTrail"]["nodes"] if e["action"] == "REVIEW_CREATE"]
    assert len(entries) == 2
    assert entries[0]["after"]["period"] == "FY2027-Q1"
    assert reads["r"]["notes"].startswith("Q1 behind")


async def test_review_errors(gql: GraphQLClient) -> None:
    plan = await create_plan(gql)
    root = plan["root"]["id"]
    empty = await gql(CREATE, {"input": {"nodeId": root, "heldOn": "2027-04-03", "notes": " "}})
    assert empty["reviewCreate"]["userErrors"] == [
        {"code": "REQUIRED", "field": ["input", "notes"], "message": "notes must not be empty"}
    ]
    other = await create_plan(gql)
    months = await _months(gql, other["plan"]["id"])
    wrong = await gql(
        CREATE,
        {
            "input": {
                "nodeId": root,
                "heldOn": "2027-04-03",
                "notes": "x",
                "periodId": months["FY2027-Q1"],
            }
        },
    )
    (error,) = wrong["reviewCreate"]["userErrors"]
    assert (error["code"], error["field"]) == ("WRONG_DIMENSION", ["input", "periodId"])
    viewer = await gql.post(
        CREATE,
        {"input": {"nodeId": root, "heldOn": "2027-04-03", "notes": "x"}},
        role=Role.VIEWER,
    )
    (error,) = viewer.json()["data"]["reviewCreate"]["userErrors"]
    assert error["code"] == "FORBIDDEN"
