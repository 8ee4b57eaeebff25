"""Issue 4: typed attributes, tree reads, bulk loads, update, move, retire."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from service.auth import Role
from tests.api.helpers import create_dimension, create_member
from tests.conftest import GraphQLClient, StatementCounter

MEMBER_FIELDS = """id code name depth retired parent { code }
  attributes { marketPotential competitionLevel tier size industry customerLifecycle category
               productLifecycle launchDate salesCycleDays channelType extra }"""

CREATE = f"""mutation($input: MemberCreateInput!) {{ memberCreate(input: $input) {{
    member {{ {MEMBER_FIELDS} }} userErrors {{ code field message }} }} }}"""

BULK = """mutation($input: MembersCreateInput!) { membersCreate(input: $input) {
    members { code depth parent { code } attributes { tier channelType } }
    created updated unchanged userErrors { code field message } } }"""


async def test_typed_attributes_per_kind(gql: GraphQLClient) -> None:
    regions = await create_dimension(gql, "Regions")
    data = await gql(
        CREATE,
        {
            "input": {
                "dimensionId": regions,
                "code": "EAST",
                "name": "East",
                "attributes": {
                    "marketPotential": "125000000.50",
                    "competitionLevel": "HIGH",
                    "extra": {"manager": "Li", "cities": 12, "pilot": True},
                },
            }
        },
    )
    member = data["memberCreate"]["member"]
    assert member["attributes"]["marketPotential"] == "125000000.50"
    assert member["attributes"]["competitionLevel"] == "HIGH"
    assert member["attributes"]["extra"] == {"manager": "Li", "cities": 12, "pilot": True}
    assert member["attributes"]["tier"] is None

    products = await create_dimension(gql, "Products", "PRODUCT")
    data = await gql(
        CREATE,
        {
            "input": {
                "dimensionId": products,
                "code": "NOVA",
                "name": "Nova",
                "attributes": {
                    "productLifecycle": "NEW",
                    "launchDate": "2027-03-01",
                    "salesCycleDays": 90,
                    "category": "Hardware",
                },
            }
        },
    )
    attrs = data["memberCreate"]["member"]["attributes"]
    assert (attrs["productLifecycle"], attrs["launchDate"], attrs["salesCycleDays"]) == (
        "NEW",
        "2027-03-01",
        90,
    )


@pytest.mark.parametrize(
    ("kind", "attributes", "field"),
    [
        ("REGION", {"tier": "A"}, "attributes.tier"),
        ("REGION", {"marketPotential": "-5"}, "attributes.marketPotential"),
        ("CUSTOMER", {"tier": "Z"}, "attributes.tier"),
        ("PRODUCT", {"salesCycleDays": -1}, "attributes.salesCycleDays"),
        ("CHANNEL", {"extra": [1, 2]}, "attributes.extra"),
        ("CHANNEL", {"extra": {"nested": {"a": 1}}}, "attributes.extra"),
    ],
)
async def test_bad_attributes_are_refused(
    gql: GraphQLClient, db: Any, kind: str, attributes: dict[str, Any], field: str
) -> None:
    dim = await create_dimension(gql, "D", kind)
    data = await gql(
        CREATE, {"input": {"dimensionId": dim, "code": "X", "name": "X", "attributes": attributes}}
    )
    [error] = data["memberCreate"]["userErrors"]
    assert error["code"] == "INVALID_VALUE", error
    assert error["field"] == ["input", *field.split(".")]
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM member")) == 0


@pytest.mark.parametrize("potential", ["NaN", "lots", "Infinity", 1.5])
async def test_malformed_decimals_are_refused_before_anything_runs(
    gql: GraphQLClient, db: Any, potential: Any
) -> None:
    dim = await create_dimension(gql, "D", "REGION")
    response = await gql.post(
        CREATE,
        {
            "input": {
                "dimensionId": dim,
                "code": "X",
                "name": "X",
                "attributes": {"marketPotential": potential},
            }
        },
    )
    [error] = response.json()["errors"]
    assert "$input" in error["message"] and ".attributes.marketPotential" in error["message"]
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM member")) == 0


async def test_customer_tiers_are_configurable(gql: GraphQLClient) -> None:
    data = await gql(
        """mutation { dimensionCreate(input: {name: "Customers", kind: CUSTOMER,
           tiers: ["platinum", "gold"]}) { dimension { id tiers } userErrors { code } } }"""
    )
    dim = data["dimensionCreate"]["dimension"]
    assert dim["tiers"] == ["PLATINUM", "GOLD"]
    ok = await gql(
        CREATE,
        {
            "input": {
                "dimensionId": dim["id"],
                "code": "ACME",
                "name": "Acme",
                "attributes": {"tier": "gold"},
            }
        },
    )
    assert ok["memberCreate"]["member"]["attributes"]["tier"] == "GOLD"


async def test_time_dimensions_are_not_created_by_hand(gql: GraphQLClient) -> None:
    data = await gql(
        'mutation { dimensionCreate(input: {name: "Months", kind: TIME}) { userErrors { code field } } }'
    )
    assert data["dimensionCreate"]["userErrors"] == [
        {"code": "INVALID_VALUE", "field": ["input", "kind"]}
    ]


def rows(*specs: tuple[str, str | None]) -> list[dict[str, Any]]:
    return [{"code": code, "name": code.title(), "parentCode": parent} for code, parent in specs]


async def test_bulk_load_is_idempotent_and_updates_in_place(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Channels", "CHANNEL")
    load = rows(("CHINA", None), ("EAST", "CHINA"), ("SHANGHAI", "EAST"), ("WEST", "CHINA"))
    # children before parents in the list: the load orders them itself
    load.reverse()
    first = (await gql(BULK, {"input": {"dimensionId": dim, "members": load}}))["membersCreate"]
    assert first["userErrors"] == []
    assert (first["created"], first["updated"], first["unchanged"]) == (4, 0, 0)
    depths = {m["code"]: (m["depth"], (m["parent"] or {}).get("code")) for m in first["members"]}
    assert depths == {
        "CHINA": (0, None),
        "EAST": (1, "CHINA"),
        "SHANGHAI": (2, "EAST"),
        "WEST": (1, "CHINA"),
    }
    again = (await gql(BULK, {"input": {"dimensionId": dim, "members": load}}))["membersCreate"]
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 4)

    changed = [dict(r) for r in load]
    for r in changed:
        if r["code"] == "WEST":
            r["attributes"] = {"channelType": "ONLINE"}
        if r["code"] == "SHANGHAI":
            r["parentCode"] = "WEST"  # a move
    third = (await gql(BULK, {"input": {"dimensionId": dim, "members": changed}}))["membersCreate"]
    assert (third["created"], third["updated"], third["unchanged"]) == (0, 2, 2)
    moved = await gql(
        """query($id: ID!) { dimension(id: $id) { member(code: "SHANGHAI") {
             depth ancestors { code } } } }""",
        {"id": dim},
    )
    assert moved["dimension"]["member"] == {
        "depth": 2,
        "ancestors": [{"code": "CHINA"}, {"code": "WEST"}],
    }


async def test_bulk_load_reports_every_bad_row_and_writes_nothing(
    gql: GraphQLClient, db: Any
) -> None:
    dim = await create_dimension(gql, "Channels", "CHANNEL")
    await create_member(gql, dim, "EXISTING")
    load = [
        {"code": "A", "name": "A", "parentCode": "B"},
        {"code": "B", "name": "B", "parentCode": "A"},  # cycle with A
        {"code": "C", "name": "C", "parentCode": "NOWHERE"},
        {"code": "C", "name": "C again"},
        {"code": "D", "name": ""},
        {"code": "E", "name": "E", "attributes": {"tier": "A"}},
        {"code": "F", "name": "Fine", "parentCode": "EXISTING"},
    ]
    data = (await gql(BULK, {"input": {"dimensionId": dim, "members": load}}))["membersCreate"]
    assert data["members"] is None
    found = {(e["code"], tuple(e["field"])) for e in data["userErrors"]}
    assert found == {
        ("CYCLE", ("input", "members", "0", "parentCode")),
        ("CYCLE", ("input", "members", "1", "parentCode")),
        ("NOT_FOUND", ("input", "members", "2", "parentCode")),
        ("DUPLICATE", ("input", "members", "3", "code")),
        ("REQUIRED", ("input", "members", "4", "name")),
        ("INVALID_VALUE", ("input", "members", "5", "attributes", "tier")),
    }
    assert all(e["message"].startswith("row ") for e in data["userErrors"])
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM member")) == 1


async def test_bulk_load_limit(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Channels", "CHANNEL")
    load = [{"code": f"C{i}", "name": "x"} for i in range(10_001)]
    data = (await gql(BULK, {"input": {"dimensionId": dim, "members": load}}))["membersCreate"]
    assert data["userErrors"][0]["code"] == "TOO_MANY"


async def test_move_refuses_cycles_with_the_path(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Regions")
    china = await create_member(gql, dim, "CHINA")
    east = await create_member(gql, dim, "EAST", china)
    shanghai = await create_member(gql, dim, "SHANGHAI", east)
    data = await gql(
        """mutation($input: MemberMoveInput!) { memberMove(input: $input) {
             member { code } userErrors { code field message } } }""",
        {"input": {"id": china, "parentId": shanghai}},
    )
    [error] = data["memberMove"]["userErrors"]
    assert error["code"] == "CYCLE"
    assert "CHINA › EAST › SHANGHAI" in error["message"]

    west = await create_member(gql, dim, "WEST", china)
    data = await gql(
        """mutation($input: MemberMoveInput!) { memberMove(input: $input) {
             member { depth parent { code } descendants { nodes { code depth } } }
             userErrors { code } } }""",
        {"input": {"id": east, "parentId": west}},
    )
    assert data["memberMove"]["member"] == {
        "depth": 2,
        "parent": {"code": "WEST"},
        "descendants": {"nodes": [{"code": "SHANGHAI", "depth": 3}]},
    }
    to_top = await gql(
        """mutation($input: MemberMoveInput!) { memberMove(input: $input) {
             member { depth descendants { nodes { depth } } } } }""",
        {"input": {"id": east, "parentId": None}},
    )
    assert to_top["memberMove"]["member"] == {"depth": 0, "descendants": {"nodes": [{"depth": 1}]}}


async def test_update_and_retire(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Regions")
    east = await create_member(gql, dim, "EAST")
    await create_member(gql, dim, "WEST")
    data = await gql(
        """mutation($input: MemberUpdateInput!) { memberUpdate(input: $input) {
             member { code name attributes { marketPotential competitionLevel } }
             userErrors { code field } } }""",
        {
            "input": {
                "id": east,
                "name": "East China",
                "attributes": {"marketPotential": "10", "competitionLevel": "LOW"},
            }
        },
    )
    assert data["memberUpdate"]["member"] == {
        "code": "EAST",
        "name": "East China",
        "attributes": {"marketPotential": "10", "competitionLevel": "LOW"},
    }
    cleared = await gql(
        """mutation($input: MemberUpdateInput!) { memberUpdate(input: $input) {
             member { attributes { marketPotential competitionLevel } } } }""",
        {"input": {"id": east, "attributes": {"marketPotential": None}}},
    )
    assert cleared["memberUpdate"]["member"]["attributes"] == {
        "marketPotential": None,
        "competitionLevel": "LOW",
    }
    clash = await gql(
        """mutation($input: MemberUpdateInput!) { memberUpdate(input: $input) {
             userErrors { code field } } }""",
        {"input": {"id": east, "code": "WEST"}},
    )
    assert clash["memberUpdate"]["userErrors"] == [
        {"code": "DUPLICATE", "field": ["input", "code"]}
    ]
    retired = await gql(
        """mutation($input: MemberRetireInput!) { memberRetire(input: $input) {
             member { retired retiredAt } } }""",
        {"input": {"id": east}},
    )
    assert retired["memberRetire"]["member"]["retired"] is True


async def test_viewer_cannot_change_members(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Regions")
    east = await create_member(gql, dim, "EAST")
    data = await gql(
        """mutation($input: MemberRetireInput!) { memberRetire(input: $input) {
             member { retired } userErrors { code } } }""",
        {"input": {"id": east}},
        role=Role.VIEWER,
    )
    assert data["memberRetire"] == {"member": None, "userErrors": [{"code": "FORBIDDEN"}]}


SUBTREE = """query($id: ID!) { node(id: $id) { ... on Member {
  code descendants(first: 500) { totalCount nodes { code depth parent { code } dimension { name }
  children { edges { node { code } } } } } } } }"""


async def test_member_subtree_reads_in_fixed_statements(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    counts = []
    for width in (3, 30):
        dim = await create_dimension(gql, f"R{width}")
        load = [{"code": "TOP", "name": "Top"}]
        load += [{"code": f"A{i}", "name": "a", "parentCode": "TOP"} for i in range(width)]
        load += [
            {"code": f"B{i}-{j}", "name": "b", "parentCode": f"A{i}"}
            for i in range(width)
            for j in range(3)
        ]
        await gql(BULK, {"input": {"dimensionId": dim, "members": load}})
        top = await gql(
            'query($id: ID!) { dimension(id: $id) { member(code: "TOP") { id } } }', {"id": dim}
        )
        statements.reset()
        data = await gql(SUBTREE, {"id": top["dimension"]["member"]["id"]}, role=Role.VIEWER)
        counts.append(statements.count)
        assert len(data["node"]["descendants"]["nodes"]) == width * 4
        assert data["node"]["descendants"]["totalCount"] == width * 4
    assert counts[0] == counts[1], counts


async def test_members_connection_pages_in_tree_order(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Regions")
    load = [{"code": f"M{i:02d}", "name": "m"} for i in range(5)]
    await gql(BULK, {"input": {"dimensionId": dim, "members": load}})
    query = """query($id: ID!, $after: String) { dimension(id: $id) {
        members(first: 2, after: $after) { totalCount edges { node { code } }
        pageInfo { hasNextPage endCursor } } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(query, {"id": dim, "after": after}))["dimension"]["members"]
        assert page["totalCount"] == 5
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == [f"M{i:02d}" for i in range(5)]
    assert len(seen) == 5


async def test_children_and_roots_are_paginated(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Customers", "CUSTOMER")
    load = [{"code": "TOP", "name": "Top"}, {"code": "TOP2", "name": "Top 2"}]
    load += [{"code": f"C{i:03d}", "name": "c", "parentCode": "TOP"} for i in range(7)]
    load += [{"code": f"D{i:03d}", "name": "d", "parentCode": "TOP2"} for i in range(2)]
    await gql(BULK, {"input": {"dimensionId": dim, "members": load}})
    query = """query($id: ID!, $after: String) { dimension(id: $id) {
        roots(first: 5) { edges { node { code
          children(first: 3, after: $after) { edges { node { code } } pageInfo { hasNextPage endCursor } } } } } } }"""
    seen: list[str] = []
    after = None
    while True:
        data = await gql(query, {"id": dim, "after": after})
        roots = [e["node"] for e in data["dimension"]["roots"]["edges"]]
        assert [r["code"] for r in roots] == ["TOP", "TOP2"]
        page = roots[0]["children"]
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"C{i:03d}" for i in range(7)]
