"""Issue 5, editing: unsplit, set target, lock, bounds, strategy, KPIs; sums always exact."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import text

from tests.api.helpers import create_dimension, create_member, create_plan, split
from tests.conftest import GraphQLClient

NODE = "id target locked floor cap strategy kpis { newCustomers winRate averageOrderValue }"
SET = f"""mutation($input: NodeSetTargetInput!) {{ nodeSetTarget(input: $input) {{
    node {{ {NODE} }} changed {{ id target }} version {{ revision }} userErrors {{ code field message }} }} }}"""
LOCK = """mutation($input: NodeInput!) { nodeLock(input: $input) {
    node { locked } version { revision } userErrors { code } } }"""
UNLOCK = """mutation($input: NodeInput!) { nodeUnlock(input: $input) {
    node { locked } version { revision } userErrors { code } } }"""
UNSPLIT = """mutation($input: NodeInput!) { nodeUnsplit(input: $input) {
    node { id children { id } } version { revision } userErrors { code } } }"""
UPDATE = f"""mutation($input: NodeUpdateInput!) {{ nodeUpdate(input: $input) {{
    node {{ {NODE} }} version {{ revision }} userErrors {{ code field message }} }} }}"""

BAD_SUMS = """SELECT count(*) FROM target_node p
  JOIN LATERAL (SELECT sum(c.target) AS s, count(*) AS n FROM target_node c
                WHERE c.version_id = p.version_id AND c.parent_key = p.key) k ON true
  WHERE k.n > 0 AND k.s <> p.target"""


@pytest.fixture
async def tree(gql: GraphQLClient) -> dict[str, Any]:
    plan = await create_plan(gql, target="900.00")
    regions = await create_dimension(gql, "Regions")
    channels = await create_dimension(gql, "Channels", "CHANNEL")
    r = [await create_member(gql, regions, c) for c in ("EAST", "WEST", "NORTH")]
    c = [await create_member(gql, channels, x) for x in ("DIRECT", "ONLINE")]
    top = await split(gql, plan["root"]["id"], 1, regions, r)
    revision = top["version"]["revision"]
    grand = []
    for child in top["children"]:
        done = await split(gql, child["id"], revision, channels, c)
        revision = done["version"]["revision"]
        grand.append([g["id"] for g in done["children"]])
    return {
        "root": plan["root"]["id"],
        "regions": [x["id"] for x in top["children"]],
        "grand": grand,
        "revision": revision,
        "channels": channels,
        "channel_members": c,
    }


async def test_set_target_rebalances_siblings_and_cascades(
    gql: GraphQLClient, tree: dict[str, Any], db: Any
) -> None:
    data = await gql(
        SET,
        {"input": {"nodeId": tree["regions"][0], "revision": tree["revision"], "target": "500.00"}},
    )
    result = data["nodeSetTarget"]
    assert result["userErrors"] == []
    assert result["node"]["target"] == "500.00"
    changed = {c["id"]: c["target"] for c in result["changed"]}
    # EAST 500, WEST and NORTH share the remaining 400 in proportion (200 each), and every
    # changed region re-splits its channels.
    assert changed[tree["regions"][1]] == "200.00"
    assert changed[tree["regions"][2]] == "200.00"
    assert changed[tree["grand"][0][0]] == "250.00"
    assert result["version"]["revision"] == tree["revision"] + 1
    async with db.session() as session:
        assert await session.scalar(text(BAD_SUMS)) == 0


async def test_locked_sibling_keeps_its_target(gql: GraphQLClient, tree: dict[str, Any]) -> None:
    locked = await gql(
        LOCK, {"input": {"nodeId": tree["regions"][1], "revision": tree["revision"]}}
    )
    revision = locked["nodeLock"]["version"]["revision"]
    data = await gql(
        SET, {"input": {"nodeId": tree["regions"][0], "revision": revision, "target": "100.00"}}
    )
    changed = {c["id"]: c["target"] for c in data["nodeSetTarget"]["changed"]}
    assert tree["regions"][1] not in changed
    assert changed[tree["regions"][2]] == "500.00"


async def test_roll_up_moves_ancestors(gql: GraphQLClient, tree: dict[str, Any]) -> None:
    data = await gql(
        SET,
        {
            "input": {
                "nodeId": tree["grand"][0][0],
                "revision": tree["revision"],
                "target": "250.00",
                "mode": "ROLL_UP",
            }
        },
    )
    changed = {c["id"]: c["target"] for c in data["nodeSetTarget"]["changed"]}
    assert changed[tree["regions"][0]] == "400.00"
    assert changed[tree["root"]] == "1000.00"


async def test_infeasible_rebalance_names_the_numbers(
    gql: GraphQLClient, tree: dict[str, Any]
) -> None:
    data = await gql(
        SET,
        {"input": {"nodeId": tree["regions"][0], "revision": tree["revision"], "target": "901.00"}},
    )
    [error] = data["nodeSetTarget"]["userErrors"]
    assert error["code"] == "REBALANCE_INFEASIBLE"
    assert "900" in error["message"]


async def test_unsplit_and_resplit(gql: GraphQLClient, tree: dict[str, Any], db: Any) -> None:
    data = await gql(
        UNSPLIT, {"input": {"nodeId": tree["regions"][0], "revision": tree["revision"]}}
    )
    assert data["nodeUnsplit"]["node"]["children"] == []
    revision = data["nodeUnsplit"]["version"]["revision"]
    again = await gql(UNSPLIT, {"input": {"nodeId": tree["regions"][0], "revision": revision}})
    assert again["nodeUnsplit"]["userErrors"] == [{"code": "NOT_SPLIT"}]
    resplit = await split(
        gql, tree["regions"][0], revision, tree["channels"], tree["channel_members"]
    )
    assert resplit["userErrors"] == []
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM target_node")) == 1 + 3 + 6


async def test_bounds_strategy_and_kpis(gql: GraphQLClient, tree: dict[str, Any]) -> None:
    node = tree["regions"][0]
    data = await gql(
        UPDATE,
        {
            "input": {
                "nodeId": node,
                "revision": tree["revision"],
                "floor": "250.00",
                "cap": "400.00",
                "strategy": "Tier-1 cities: more visits to high-end accounts",
                "kpis": {"newCustomers": 12, "winRate": "0.35", "averageOrderValue": "1500.50"},
            }
        },
    )
    result = data["nodeUpdate"]
    assert result["userErrors"] == []
    assert result["node"]["floor"] == "250.00" and result["node"]["cap"] == "400.00"
    assert result["node"]["kpis"] == {
        "newCustomers": 12,
        "winRate": "0.35",
        "averageOrderValue": "1500.50",
    }
    revision = result["version"]["revision"]
    # The cap now bounds a rebalance of the siblings.
    data = await gql(
        SET, {"input": {"nodeId": tree["regions"][1], "revision": revision, "target": "0.00"}}
    )
    changed = {c["id"]: c["target"] for c in data["nodeSetTarget"]["changed"]}
    assert changed[node] == "400.00"
    assert changed[tree["regions"][2]] == "500.00"


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"floor": "500.00", "cap": "400.00"}, "INVALID_VALUE", "floor"),
        ({"floor": "301.00"}, "OUT_OF_RANGE", "floor"),
        ({"cap": "-1"}, "NEGATIVE_AMOUNT", "cap"),
        ({"strategy": "x" * 5000}, "TOO_LONG", "strategy"),
        ({"kpis": {"winRate": "1.5"}}, "OUT_OF_RANGE", "kpis.winRate"),
        ({"kpis": {"newCustomers": -3}}, "OUT_OF_RANGE", "kpis.newCustomers"),
        ({"kpis": {"nps": 10}}, "INVALID_VALUE", "kpis.nps"),
        ({"kpis": [1, 2]}, "INVALID_VALUE", "kpis"),
    ],
)
async def test_bad_node_updates(
    gql: GraphQLClient, tree: dict[str, Any], fields: dict[str, Any], code: str, field: str
) -> None:
    data = await gql(
        UPDATE, {"input": {"nodeId": tree["regions"][0], "revision": tree["revision"], **fields}}
    )
    [error] = data["nodeUpdate"]["userErrors"]
    assert (error["code"], error["field"]) == (code, ["input", *field.split(".")])


async def test_edits_need_a_current_revision(gql: GraphQLClient, tree: dict[str, Any]) -> None:
    data = await gql(LOCK, {"input": {"nodeId": tree["regions"][0], "revision": 1}})
    assert data["nodeLock"]["userErrors"] == [{"code": "CONFLICT"}]


async def test_a_long_random_sequence_of_edits_keeps_every_sum_exact(
    gql: GraphQLClient, tree: dict[str, Any], db: Any
) -> None:
    """Random splits, unsplits, target changes, locks: after each, every parent adds up."""
    rng = random.Random(20271)
    revision = tree["revision"]
    node_ids = [tree["root"], *tree["regions"], *[g for gs in tree["grand"] for g in gs]]
    applied = 0
    for step in range(100):
        node = rng.choice(node_ids)
        action = rng.choice(["set", "set", "roll", "lock", "unlock", "unsplit", "split"])
        if action in ("set", "roll"):
            amount = f"{rng.randint(0, 200000) / 100:.2f}"
            data = (
                await gql(
                    SET,
                    {
                        "input": {
                            "nodeId": node,
                            "revision": revision,
                            "target": amount,
                            "mode": "ROLL_UP" if action == "roll" else "REBALANCE_SIBLINGS",
                        }
                    },
                )
            )["nodeSetTarget"]
        elif action in ("lock", "unlock"):
            data = (
                await gql(
                    LOCK if action == "lock" else UNLOCK,
                    {"input": {"nodeId": node, "revision": revision}},
                )
            )["nodeLock" if action == "lock" else "nodeUnlock"]
        elif action == "unsplit":
            data = (await gql(UNSPLIT, {"input": {"nodeId": node, "revision": revision}}))[
                "nodeUnsplit"
            ]
        else:
            data = await split(gql, node, revision, tree["channels"], tree["channel_members"])
            if not data["userErrors"]:
                node_ids += [c["id"] for c in data["children"]]
        if not data["userErrors"]:
            revision = data["version"]["revision"]
            applied += 1
        else:
            # refusals are fine (infeasible, locked, already split...), never a broken tree
            assert data["userErrors"][0]["code"] in {
                "REBALANCE_INFEASIBLE",
                "LOCKED",
                "NOT_SPLIT",
                "ALREADY_SPLIT",
                "NOT_FOUND",
                "WRONG_LEVEL",
                "INVALID_BOUNDS",
                "AMOUNT_OUT_OF_RANGE",
                "CAPS_BELOW_TOTAL",
                "FLOORS_EXCEED_TOTAL",
                "LOCKED_EXCEEDS_TOTAL",
                "NOTHING_TO_ABSORB",
            }, (step, action, data["userErrors"])
        async with db.session() as session:
            assert await session.scalar(text(BAD_SUMS)) == 0, (step, action)
            assert (
                await session.scalar(text("SELECT count(*) FROM target_node WHERE target < 0")) == 0
            )
    assert applied >= 40, applied  # the sequence really edits the tree


async def _audit_count(db: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM audit_entry")) or 0)


async def test_edits_that_change_nothing_write_nothing_and_keep_the_revision(
    gql: GraphQLClient, tree: dict[str, Any], db: Any, statements: Any
) -> None:
    """A no-op edit neither bumps the revision (other editors would get CONFLICT) nor
    writes an audit entry nor replaces the explanation."""
    east, revision = tree["regions"][0], tree["revision"]
    before = await gql(
        "query($id: ID!) { node(id: $id) { ... on TargetNode { target explanation } } }",
        {"id": east},
    )
    audited = await _audit_count(db)
    statements.reset()
    same = await gql(SET, {"input": {"nodeId": east, "revision": revision, "target": "300"}})
    assert same["nodeSetTarget"]["userErrors"] == []
    assert same["nodeSetTarget"]["version"]["revision"] == revision
    assert same["nodeSetTarget"]["changed"] == []
    unlocked = await gql(UNLOCK, {"input": {"nodeId": east, "revision": revision}})
    assert unlocked["nodeUnlock"]["version"]["revision"] == revision
    kept = await gql(
        UPDATE,
        {"input": {"nodeId": east, "revision": revision, "floor": None, "strategy": None}},
    )
    assert kept["nodeUpdate"]["version"]["revision"] == revision
    owner = await gql(
        """mutation($input: NodeAssignOwnerInput!) { nodeAssignOwner(input: $input) {
             version { revision } userErrors { code } } }""",
        {"input": {"nodeId": east, "revision": revision, "ownerId": None}},
    )
    assert owner["nodeAssignOwner"]["version"]["revision"] == revision
    writes = [
        s
        for s in statements.statements
        if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == [], writes
    assert await _audit_count(db) == audited
    after = await gql(
        "query($id: ID!) { node(id: $id) { ... on TargetNode { target explanation } } }",
        {"id": east},
    )
    assert after == before
