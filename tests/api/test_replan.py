"""versionReplan: closed periods frozen at their actuals, the gaps spread over the open
ones, every total above a time split kept, the review linked and every move audited."""

from __future__ import annotations

from datetime import date
from typing import Any

from service.db.engine import Database
from tests.api.helpers import create_dimension, create_member, create_plan, split
from tests.api.sales import insert_sales, local_id
from tests.conftest import GraphQLClient

REPLAN = """mutation($input: VersionReplanInput!) { versionReplan(input: $input) {
    version { id state replanAsOf replanReview { notes } copiedFrom { number }
              auditTrail(first: 100) { nodes { action nodeKey before after } } }
    changed { key target }
    frozenPeriods notes
    userErrors { code field message } } }"""

TREE = """query($id: ID!) { node(id: $id) { ... on PlanVersion { root { target
    children { target coordinate { member { code } } explanation
      children { target coordinate { member { code } } explanation } } } } } }"""


async def _calendar(gql: GraphQLClient, plan_id: str) -> tuple[str, dict[str, str]]:
    data = await gql(
        """query($id: ID!) { node(id: $id) { ... on Plan { timeDimension { id
            members(first: 100) { nodes { id code } } } } } }""",
        {"id": plan_id},
    )
    time = data["node"]["timeDimension"]
    return time["id"], {m["code"]: m["id"] for m in time["members"]["nodes"]}


async def _tree(gql: GraphQLClient, version_id: str) -> dict[str, Any]:
    data = await gql(TREE, {"id": version_id})
    root = data["node"]["root"]
    flat: dict[str, Any] = {"root": root["target"]}
    for child in root["children"]:
        flat[child["coordinate"]["member"]["code"]] = child["target"]
        for grandchild in child["children"]:
            code = grandchild["coordinate"]["member"]["code"]
            flat[f"{child['coordinate']['member']['code']}/{code}"] = grandchild["target"]
    return flat


async def _setup(gql: GraphQLClient, db: Database) -> dict[str, Any]:
    """FY2027 plan of 1200.00: four quarters of 300.00; Q1 split NORTH / SOUTH, Q2 split
    into its months. Actuals: Q1 180.00 (NORTH 120, SOUTH 60), April 130.00."""
    plan = await create_plan(gql, target="1200.00")
    time, codes = await _calendar(gql, plan["plan"]["id"])
    quarters = [codes[f"FY2027-Q{i}"] for i in range(1, 5)]
    done = await split(gql, plan["root"]["id"], 1, time, quarters)
    assert done["userErrors"] == []
    q1, q2 = done["children"][0]["id"], done["children"][1]["id"]
    region = await create_dimension(gql, "Region")
    north = await create_member(gql, region, "NORTH")
    south = await create_member(gql, region, "SOUTH")
    revision = done["version"]["revision"]
    done = await split(gql, q1, revision, region, [north, south])
    assert done["userErrors"] == []
    months = [codes[f"FY2027-M0{i}"] for i in (4, 5, 6)]
    done = await split(gql, q2, done["version"]["revision"], time, months)
    assert done["userErrors"] == []
    await insert_sales(
        db,
        local_id(plan["plan"]["id"]),
        [
            (date(2027, 1, 10), 10000, [local_id(north)]),
            (date(2027, 3, 31), 2000, [local_id(north)]),
            (date(2027, 2, 1), 6000, [local_id(south)]),
            (date(2027, 4, 15), 13000, []),
            (date(2027, 5, 2), 99900, []),  # after asOf: not read
            (date(2026, 12, 31), 55500, []),  # last year: not read
        ],
    )
    return {"plan": plan, "codes": codes}


async def test_replan_freezes_closed_periods_and_keeps_the_year(
    gql: GraphQLClient, db: Database
) -> None:
    setup = await _setup(gql, db)
    plan = setup["plan"]
    review = await gql(
        """mutation($input: ReviewCreateInput!) { reviewCreate(input: $input) {
            review { id } userErrors { code } } }""",
        {"input": {"nodeId": plan["root"]["id"], "heldOn": "2027-05-03", "notes": "Q1 short"}},
    )
    review_id = review["reviewCreate"]["review"]["id"]
    before = await _tree(gql, plan["version"]["id"])
    data = await gql(
        REPLAN,
        {
            "input": {
                "from": plan["version"]["id"],
                "asOf": "2027-04-30",
                "reviewId": review_id,
                "reason": "after the April review",
            }
        },
    )
    payload = data["versionReplan"]
    assert payload["userErrors"] == []
    version = payload["version"]
    assert version["state"] == "DRAFT"
    assert version["replanAsOf"] == "2027-04-30"
    assert version["replanReview"] == {"notes": "Q1 short"}
    assert version["copiedFrom"] == {"number": 1}
    assert payload["frozenPeriods"] == 2  # Q1 and April
    after = await _tree(gql, version["id"])
    assert after == {
        "root": "1200.00",  # the year is unchanged
        "FY2027-Q1": "180.00",  # closed: its actual
        "FY2027-Q1/NORTH": "90.00",  # follow Q1 in proportion
        "FY2027-Q1/SOUTH": "90.00",
        "FY2027-Q2": "340.00",  # the gap 1020.00 over the three open quarters
        "FY2027-Q2/FY2027-M04": "130.00",  # closed: its actual
        "FY2027-Q2/FY2027-M05": "105.00",
        "FY2027-Q2/FY2027-M06": "105.00",
        "FY2027-Q3": "340.00",
        "FY2027-Q4": "340.00",
    }
    assert await _tree(gql, plan["version"]["id"]) == before  # the source is untouched
    moved = {c["key"]: c["target"] for c in payload["changed"]}
    assert len(moved) == 9
    entries = version["auditTrail"]["nodes"]
    assert all(e["action"] == "VERSION_REPLAN" for e in entries)
    (head,) = [e for e in entries if e["nodeKey"] is None]
    assert head["after"]["asOf"] == "2027-04-30"
    assert head["after"]["closedPeriods"] == 2
    per_node = {e["nodeKey"]: (e["before"], e["after"]) for e in entries if e["nodeKey"]}
    assert per_node.keys() == moved.keys()
    assert all(b["target"] != a["target"] for b, a in per_node.values())
    data = await gql(TREE, {"id": version["id"]})
    q1 = data["node"]["root"]["children"][0]
    assert q1["explanation"]["method"] == "ACTUAL"
    assert "re-planned as of 2027-04-30" in q1["explanation"]["replan"]["text"]


async def test_replan_errors(gql: GraphQLClient, db: Database) -> None:
    setup = await _setup(gql, db)
    plan = setup["plan"]
    source = plan["version"]["id"]

    async def error(input: dict[str, Any]) -> tuple[str, list[str] | None, str]:
        data = await gql(REPLAN, {"input": {"from": source, **input}})
        (e,) = data["versionReplan"]["userErrors"]
        assert data["versionReplan"]["version"] is None
        return e["code"], e["field"], e["message"]

    code, field, _ = await error({"asOf": "2026-12-31"})
    assert (code, field) == ("OUT_OF_RANGE", ["input", "asOf"])
    code, field, _ = await error({"asOf": "2027-12-31"})  # nothing left open
    assert (code, field) == ("OUT_OF_RANGE", ["input", "asOf"])
    other = await create_plan(gql)
    review = await gql(
        """mutation($input: ReviewCreateInput!) { reviewCreate(input: $input) {
            review { id } userErrors { code } } }""",
        {"input": {"nodeId": other["root"]["id"], "heldOn": "2027-05-03", "notes": "other"}},
    )
    code, field, _ = await error(
        {"asOf": "2027-04-30", "reviewId": review["reviewCreate"]["review"]["id"]}
    )
    assert (code, field) == ("INVALID_VALUE", ["input", "reviewId"])
    # May's 999.00 on top of 310.00 by the end of May: Q2's 300.00 is overshot
    code, field, message = await error({"asOf": "2027-05-31"})
    assert (code, field) == ("OVERSHOOT", ["input", "asOf"])
    assert "FY2027-Q2" in message
    versions = await gql(
        """query($id: ID!) { node(id: $id) { ... on Plan { versions { totalCount } } } }""",
        {"id": plan["plan"]["id"]},
    )
    assert versions["node"]["versions"]["totalCount"] == 1  # nothing written
