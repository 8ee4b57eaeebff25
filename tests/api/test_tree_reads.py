"""Issue 5, reading: slice lookups, bulk subtree reads, statement counts at 1,000 nodes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.api.ids import encode
from service.auth import Role
from tests.api.helpers import create_dimension, create_plan, split
from tests.conftest import GraphQLClient, StatementCounter

BULK = """mutation($input: MembersCreateInput!) { membersCreate(input: $input) {
    members { id code } userErrors { code } } }"""


async def members(
    gql: GraphQLClient, name: str, kind: str, codes: list[str]
) -> tuple[str, dict[str, str]]:
    dim = await create_dimension(gql, name, kind)
    data = await gql(
        BULK,
        {"input": {"dimensionId": dim, "members": [{"code": c, "name": c.title()} for c in codes]}},
    )
    return dim, {m["code"]: m["id"] for m in data["membersCreate"]["members"]}


@pytest.fixture
async def big_tree(gql: GraphQLClient) -> dict[str, Any]:
    """1 + 10 + 100 + 1000 = 1,111 nodes: regions x channels x products."""
    plan = await create_plan(gql, target="10000000.00")
    regions = await members(gql, "Regions", "REGION", [f"R{i}" for i in range(10)])
    channels = await members(gql, "Channels", "CHANNEL", [f"C{i}" for i in range(10)])
    products = await members(gql, "Products", "PRODUCT", [f"P{i}" for i in range(10)])
    revision = 1
    level1 = await split(gql, plan["root"]["id"], revision, regions[0], list(regions[1].values()))
    revision = level1["version"]["revision"]
    level2_ids = []
    for node in level1["children"]:
        done = await split(gql, node["id"], revision, channels[0], list(channels[1].values()))
        revision = done["version"]["revision"]
        level2_ids += [c["id"] for c in done["children"]]
    for node_id in level2_ids:
        done = await split(gql, node_id, revision, products[0], list(products[1].values()))
        assert done["userErrors"] == []
        revision = done["version"]["revision"]
    return {
        "plan": plan,
        "version": plan["version"]["id"],
        "root": plan["root"]["id"],
        "regions": regions,
        "channels": channels,
        "products": products,
        "first_region": level1["children"][0]["id"],
    }


TREE = """query($id: ID!) { planVersion(id: $id) { root {
  id target share slice { dimension { name } member { code name } }
  children { id target share explanation locked splitDimension { name }
    slice { dimension { name } member { code name } }
    children { id target share explanation slice { dimension { name } member { code } }
      children { id target share explanation parent { id } coordinate { dimension { kind } member { code } } } } } } } }"""


async def test_reading_1000_nodes_takes_a_fixed_number_of_statements(
    gql: GraphQLClient, big_tree: dict[str, Any], statements: StatementCounter
) -> None:
    statements.reset()
    data = await gql(TREE, {"id": big_tree["version"]}, role=Role.VIEWER)
    count = statements.count
    root = data["planVersion"]["root"]
    leaves = [g for c in root["children"] for gc in c["children"] for g in gc["children"]]
    assert len(leaves) == 1000
    assert all(leaf["target"] == "10000.00" for leaf in leaves)
    assert all(abs(leaf["share"] - 0.1) < 1e-12 for leaf in leaves)
    # One statement per kind of object and level, never per node.
    print(f"1,111-node tree read: {count} SQL statements")
    assert count <= 15, statements.statements


async def test_slice_lookup_without_knowing_the_id(
    gql: GraphQLClient, big_tree: dict[str, Any]
) -> None:
    regions_dim, regions = big_tree["regions"]
    channels_dim, channels = big_tree["channels"]
    query = """query($id: ID!, $slice: [SliceInput!], $exact: Boolean!) { planVersion(id: $id) {
        nodes(slice: $slice, exact: $exact, first: 500) { edges { node { target depth
          slice { member { code } } } } pageInfo { hasNextPage } } } }"""
    exact = await gql(
        query,
        {
            "id": big_tree["version"],
            "exact": True,
            "slice": [
                {"dimensionId": channels_dim, "memberId": channels["C3"]},
                {"dimensionId": regions_dim, "memberId": regions["R2"]},
            ],
        },
    )
    [edge] = exact["planVersion"]["nodes"]["edges"]
    assert edge["node"]["target"] == "100000.00"
    assert [s["member"]["code"] for s in edge["node"]["slice"]] == ["R2", "C3"]
    everything_in_r2 = await gql(
        query,
        {
            "id": big_tree["version"],
            "exact": False,
            "slice": [{"dimensionId": regions_dim, "memberId": regions["R2"]}],
        },
    )
    assert len(everything_in_r2["planVersion"]["nodes"]["edges"]) == 1 + 10 + 100


NODE_FAMILY = """query($id: ID!) { node(id: $id) { ... on TargetNode {
  id target slice { member { code } }
  children { id target share locked coordinate { dimension { kind } member { code } }
    slice { dimension { name } member { code name } } } } } }"""

CHILD_IDS = "query($id: ID!) { node(id: $id) { ... on TargetNode { children { id } } } }"

FAMILY_FROM_ROOT = """query($id: ID!) { planVersion(id: $id) { root { children {
  id target slice { member { code } }
  children { id target share locked coordinate { dimension { kind } member { code } }
    slice { dimension { name } member { code name } } } } } } }"""


async def test_a_node_with_its_children_and_their_slices_is_one_statement(
    gql: GraphQLClient, big_tree: dict[str, Any], statements: StatementCounter
) -> None:
    """The CRM's everyday read: a rep's node, its children, their numbers and slices.
    The node, its plan, the children and the members and dimensions of their slices
    come in one statement, and the answer is the one the general path gives."""
    statements.reset()
    data = await gql(NODE_FAMILY, {"id": big_tree["first_region"]}, role=Role.VIEWER)
    assert statements.data_count == 1, statements.statements
    node = data["node"]
    assert [s["member"]["code"] for s in node["slice"]] == ["R0"]
    assert [c["coordinate"]["member"]["code"] for c in node["children"]] == [
        f"C{i}" for i in range(10)
    ]
    assert all(c["slice"][0]["dimension"]["name"] == "Regions" for c in node["children"])
    general = await gql(FAMILY_FROM_ROOT, {"id": big_tree["version"]}, role=Role.VIEWER)
    assert general["planVersion"]["root"]["children"][0] == node

    # A node split once more: its children; a leaf: none; an unknown node: null.
    channel = general["planVersion"]["root"]["children"][0]["children"][0]["id"]
    products = await gql(CHILD_IDS, {"id": channel}, role=Role.VIEWER)
    assert len(products["node"]["children"]) == 10
    leaf = products["node"]["children"][0]["id"]
    assert (await gql(CHILD_IDS, {"id": leaf}, role=Role.VIEWER))["node"]["children"] == []
    unknown = encode("TargetNode", 10**9, 1)
    assert (await gql(CHILD_IDS, {"id": unknown}, role=Role.VIEWER))["node"] is None


async def test_bulk_subtree_read_is_one_compact_field(
    gql: GraphQLClient, big_tree: dict[str, Any], statements: StatementCounter
) -> None:
    statements.reset()
    data = await gql(
        """query($id: ID!) { planVersion(id: $id) { subtree { count truncated columns } } }""",
        {"id": big_tree["version"]},
        role=Role.VIEWER,
    )
    table = data["planVersion"]["subtree"]
    assert table["count"] == 1111 and table["truncated"] is False
    columns = table["columns"]
    assert set(columns) == {
        "id",
        "key",
        "parentId",
        "depth",
        "target",
        "locked",
        "dimensionId",
        "memberCode",
        "memberName",
    }
    assert all(len(v) == 1111 for v in columns.values())
    assert columns["parentId"][0] is None
    index = {node_id: i for i, node_id in enumerate(columns["id"])}
    # parents come before children, and children add up to parents
    sums: dict[str, int] = {}
    for i, parent in enumerate(columns["parentId"]):
        if parent is not None:
            assert index[parent] < i
            sums[parent] = sums.get(parent, 0) + int(columns["target"][i].replace(".", ""))
    for parent, total in sums.items():
        assert total == int(columns["target"][index[parent]].replace(".", ""))
    # The rows in at most 4 statements, and one read of the data generation the answer
    # is cached under.
    assert statements.data_count <= 4
    assert statements.generation_reads == 1

    region = await gql(
        """query($id: ID!, $root: ID!) { planVersion(id: $id) {
             subtree(rootId: $root, maxDepth: 1) { count columns } } }""",
        {"id": big_tree["version"], "root": big_tree["first_region"]},
    )
    sub = region["planVersion"]["subtree"]
    assert sub["count"] == 1 + 10
    assert sub["columns"]["depth"][0] == 1


async def test_subtree_bad_arguments(gql: GraphQLClient) -> None:
    plan = await create_plan(gql)
    other = await create_plan(gql)
    response = await gql.post(
        """query($id: ID!, $root: ID!) { planVersion(id: $id) { subtree(rootId: $root) { count } } }""",
        {"id": plan["version"]["id"], "root": other["root"]["id"]},
    )
    assert "another version" in response.json()["errors"][0]["message"]
    response = await gql.post(
        """query($id: ID!) { planVersion(id: $id) { subtree(rootId: "junk") { count } } }""",
        {"id": plan["version"]["id"]},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_ID"


CHILDREN_WITH_SLICES = """query($id: ID!) { node(id: $id) { ... on TargetNode { id target
  children { id target share slice { dimension { name } member { code name } }
    coordinate { member { code } } } } } }"""
NODE_ALONE = """query($id: ID!) { node(id: $id) { id } }"""


async def test_children_with_slices_resolve_without_a_task_per_field(
    gql: GraphQLClient, big_tree: dict[str, Any]
) -> None:
    """graphql-core runs every awaitable field as an asyncio task, which costs more than
    the field. A node's children arrive with their plan, parent and slice members
    loaded, so their fields answer synchronously: the tasks of a request do not
    grow with the number of children (10 here) or of coordinates (3 each)."""
    loop = asyncio.get_running_loop()
    created = 0

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def tasks_of(query: str) -> tuple[int, dict[str, Any]]:
        nonlocal created
        created = 0
        previous = loop.get_task_factory()
        loop.set_task_factory(counting)
        try:
            data = await gql(query, {"id": big_tree["first_region"]}, role=Role.VIEWER)
        finally:
            loop.set_task_factory(previous)
        return created, data

    alone, _ = await tasks_of(NODE_ALONE)
    tasks, data = await tasks_of(CHILDREN_WITH_SLICES)
    children = data["node"]["children"]
    assert len(children) == 10
    assert all(len(c["slice"]) == 2 for c in children)  # region, channel
    assert [c["coordinate"]["member"]["code"] for c in children] == [f"C{i}" for i in range(10)]
    assert all(c["slice"][0]["member"]["code"] == "R0" for c in children)
    print(f"tasks: node alone {alone}, node with 10 children and slices {tasks}")
    # The node's target and children wait (2); four batches (children, plan,
    # dimensions, members) take a dispatch task and a session-close task each (8).
    assert tasks - alone <= 10
