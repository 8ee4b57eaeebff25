"""Issue 4: typed attributes, tree reads, bulk loads, update, move, retire."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from service.auth import Role
from tests.api.helpers import create_dimension, create_member, create_plan
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
    ("kind", "attributes", "field", "code"),
    [
        ("REGION", {"tier": "A"}, "attributes.tier", "INVALID_VALUE"),
        ("REGION", {"marketPotential": "-5"}, "attributes.marketPotential", "OUT_OF_RANGE"),
        ("REGION", {"marketPotential": "1e31"}, "attributes.marketPotential", "OUT_OF_RANGE"),
        (
            "REGION",
            {"marketPotential": "1.00000000001"},
            "attributes.marketPotential",
            "TOO_MANY_DECIMALS",
        ),
        ("CUSTOMER", {"tier": "Z"}, "attributes.tier", "INVALID_VALUE"),
        ("CUSTOMER", {"industry": "Re\ntail"}, "attributes.industry", "INVALID_VALUE"),
        ("PRODUCT", {"salesCycleDays": -1}, "attributes.salesCycleDays", "OUT_OF_RANGE"),
        ("PRODUCT", {"salesCycleDays": 3651}, "attributes.salesCycleDays", "OUT_OF_RANGE"),
        ("PRODUCT", {"category": "x" * 201}, "attributes.category", "TOO_LONG"),
        ("CHANNEL", {"extra": [1, 2]}, "attributes.extra", "INVALID_VALUE"),
        ("CHANNEL", {"extra": {"nested": {"a": 1}}}, "attributes.extra.nested", "INVALID_VALUE"),
        ("CHANNEL", {"extra": {"n": 2**53}}, "attributes.extra.n", "OUT_OF_RANGE"),
        ("CHANNEL", {"extra": {"n": -(2**63)}}, "attributes.extra.n", "OUT_OF_RANGE"),
    ],
)
async def test_bad_attributes_are_refused(
    gql: GraphQLClient, db: Any, kind: str, attributes: dict[str, Any], field: str, code: str
) -> None:
    dim = await create_dimension(gql, "D", kind)
    data = await gql(
        CREATE, {"input": {"dimensionId": dim, "code": "X", "name": "X", "attributes": attributes}}
    )
    [error] = data["memberCreate"]["userErrors"]
    assert error["code"] == code, error
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


# -- issue: every value through every GraphQL door is stored in a form reads serve --

ALL_ATTRIBUTES = (
    "marketPotential competitionLevel tier size industry customerLifecycle category "
    "productLifecycle launchDate salesCycleDays channelType extra"
)
READ_MEMBERS = f"""query($id: ID!) {{ dimension(id: $id) {{ members(first: 200) {{
    edges {{ node {{ code name sortOrder attributes {{ {ALL_ATTRIBUTES} }} }} }} }} }} }}"""


async def read_members(gql: GraphQLClient, dimension_id: str) -> dict[str, dict[str, Any]]:
    """Every member's set attributes, read back through GraphQL; fails on any error."""
    response = await gql.post(READ_MEMBERS, {"id": dimension_id}, role=Role.VIEWER)
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["dimension"] is not None, body
    return {
        e["node"]["code"]: {k: v for k, v in e["node"]["attributes"].items() if v is not None}
        for e in body["data"]["dimension"]["members"]["edges"]
    }


# (kind, attributes as a client sends them, what reads give back)
GRAPHQL_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "REGION",
        {"marketPotential": " 125000000.50 ", "competitionLevel": "HIGH"},
        {"marketPotential": "125000000.50", "competitionLevel": "HIGH"},
    ),
    ("REGION", {"marketPotential": "1e3"}, {"marketPotential": "1000"}),
    ("REGION", {"marketPotential": "-0"}, {"marketPotential": "0"}),
    (
        "CUSTOMER",
        {
            "tier": " b ",
            "size": "ENTERPRISE",
            "industry": "  Retail\u00a0Banking ",
            "customerLifecycle": "EXISTING",
        },
        {
            "tier": "B",
            "size": "ENTERPRISE",
            "industry": "Retail\u00a0Banking",
            "customerLifecycle": "EXISTING",
        },
    ),
    (
        "PRODUCT",
        {
            "category": "Hardware",
            "productLifecycle": "NEW",
            "launchDate": "2027-03-01",
            "salesCycleDays": 3650,
        },
        {
            "category": "Hardware",
            "productLifecycle": "NEW",
            "launchDate": "2027-03-01",
            "salesCycleDays": 3650,
        },
    ),
    ("CHANNEL", {"channelType": "ONLINE"}, {"channelType": "ONLINE"}),
    (
        "CUSTOM",
        {
            "extra": {
                "manager": " Li ",
                "cities": 12,
                "ratio": 0.5,
                "pilot": True,
                "none": None,
                "big": 2**53 - 1,
                "note": "line 1\nline 2\tend",
            }
        },
        {
            "extra": {
                "manager": "Li",
                "cities": 12,
                "ratio": 0.5,
                "pilot": True,
                "none": None,
                "big": 2**53 - 1,
                "note": "line 1\nline 2\tend",
            }
        },
    ),
]

UPDATE = f"""mutation($input: MemberUpdateInput!) {{ memberUpdate(input: $input) {{
    member {{ attributes {{ {ALL_ATTRIBUTES} }} }} userErrors {{ code field message }} }} }}"""
BULK_ALL = f"""mutation($input: MembersCreateInput!) {{ membersCreate(input: $input) {{
    members {{ attributes {{ {ALL_ATTRIBUTES} }} }} created updated unchanged
    userErrors {{ code field message }} }} }}"""


def set_only(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}


@pytest.mark.parametrize("door", ["memberCreate", "membersCreate", "memberUpdate"])
@pytest.mark.parametrize(("kind", "given", "expected"), GRAPHQL_CASES)
async def test_every_attribute_type_round_trips_through_every_graphql_door(
    gql: GraphQLClient, door: str, kind: str, given: dict[str, Any], expected: dict[str, Any]
) -> None:
    dim = await create_dimension(gql, f"{kind} via {door}", kind)
    if door == "memberCreate":
        data = await gql(
            CREATE, {"input": {"dimensionId": dim, "code": "M", "name": "M", "attributes": given}}
        )
        payload = data["memberCreate"]
        assert payload["userErrors"] == []
        written = payload["member"]["attributes"]
    elif door == "membersCreate":
        rows = [{"code": "M", "name": "M", "attributes": given}]
        data = await gql(BULK_ALL, {"input": {"dimensionId": dim, "members": rows}})
        payload = data["membersCreate"]
        assert payload["userErrors"] == [] and payload["created"] == 1
        [member] = payload["members"]
        written = member["attributes"]
        # the same rows again are a no-op: the stored form equals the normalised input
        again = await gql(BULK_ALL, {"input": {"dimensionId": dim, "members": rows}})
        assert (again["membersCreate"]["updated"], again["membersCreate"]["unchanged"]) == (0, 1)
    else:
        member_id = await create_member(gql, dim, "M")
        data = await gql(UPDATE, {"input": {"id": member_id, "attributes": given}})
        payload = data["memberUpdate"]
        assert payload["userErrors"] == []
        written = payload["member"]["attributes"]
    assert set_only(written) == expected
    assert (await read_members(gql, dim)) == {"M": expected}


@pytest.mark.parametrize(
    ("mutation", "variables", "path"),
    [
        (CREATE, {"code": "A\x00B"}, ["input", "code"]),
        (CREATE, {"name": "A\x00B"}, ["input", "name"]),
        (CREATE, {"name": "A\x07B"}, ["input", "name"]),
        (CREATE, {"attributes": {"industry": "A\x00B"}}, ["input", "attributes", "industry"]),
        (CREATE, {"attributes": {"tier": "A\x00"}}, ["input", "attributes", "tier"]),
        (
            CREATE,
            {"attributes": {"extra": {"note": "A\x00B"}}},
            ["input", "attributes", "extra", "note"],
        ),
        (CREATE, {"attributes": {"extra": {"k\x00": 1}}}, ["input", "attributes", "extra"]),
        (BULK, {"rows": [{"code": "A\x00", "name": "A"}]}, ["input", "members", "0", "code"]),
        (BULK, {"rows": [{"code": "A", "name": "A\x00"}]}, ["input", "members", "0", "name"]),
        (
            BULK,
            {"rows": [{"code": "A", "name": "A", "parentCode": "P\x00"}]},
            ["input", "members", "0", "parentCode"],
        ),
        (
            BULK,
            {"rows": [{"code": "A", "name": "A", "attributes": {"industry": "x\x00"}}]},
            ["input", "members", "0", "attributes", "industry"],
        ),
        (UPDATE, {"update": {"name": "A\x00B"}}, ["input", "name"]),
        (UPDATE, {"update": {"code": "A\x00B"}}, ["input", "code"]),
        (
            UPDATE,
            {"update": {"attributes": {"category": "\x00"}}},
            ["input", "attributes", "category"],
        ),
    ],
)
async def test_nul_and_control_characters_are_user_errors_naming_the_field(
    gql: GraphQLClient, db: Any, mutation: str, variables: dict[str, Any], path: list[str]
) -> None:
    kind = "PRODUCT" if "category" in str(variables) else "CUSTOMER"
    dim = await create_dimension(gql, "D", kind)
    member_id = await create_member(gql, dim, "KEEP")
    if mutation is CREATE:
        base = {"dimensionId": dim, "code": "X", "name": "X"}
        data = await gql(CREATE, {"input": {**base, **variables}})
        payload = data["memberCreate"]
    elif mutation is BULK:
        data = await gql(BULK, {"input": {"dimensionId": dim, "members": variables["rows"]}})
        payload = data["membersCreate"]
    else:
        data = await gql(UPDATE, {"input": {"id": member_id, **variables["update"]}})
        payload = data["memberUpdate"]
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_VALUE", path), error
    assert "U+00" in error["message"]
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM member")) == 1
    assert (await read_members(gql, dim)) == {"KEEP": {}}


async def test_nul_in_reason_strategy_and_owner_texts_is_a_user_error(
    gql: GraphQLClient, db: Any
) -> None:
    plan = await create_plan(gql)
    node = plan["root"]["id"]
    revision = plan["version"]["revision"]
    node_update = """mutation($input: NodeUpdateInput!) { nodeUpdate(input: $input) {
        userErrors { code field } } }"""
    for extra, field in (
        ({"strategy": "visit\x00"}, "strategy"),
        ({"strategy": "visit\x1b[31m"}, "strategy"),
        ({"reason": "because\x00"}, "reason"),
        ({"kpis": {"newCustomers": 10**12}}, "kpis.newCustomers"),
        ({"kpis": {"averageOrderValue": "1\x00"}}, "kpis.averageOrderValue"),
    ):
        data = await gql(node_update, {"input": {"nodeId": node, "revision": revision, **extra}})
        [error] = data["nodeUpdate"]["userErrors"]
        assert error["field"] == ["input", *field.split(".")], (extra, error)
    ok = await gql(
        node_update,
        {
            "input": {
                "nodeId": node,
                "revision": revision,
                "strategy": "Tier-1 cities:\n\tmore visits",
                "reason": "Q1 review\nagreed",
            }
        },
    )
    assert ok["nodeUpdate"]["userErrors"] == []
    owner_create = """mutation($input: OwnerCreateInput!) { ownerCreate(input: $input) {
        userErrors { code field } } }"""
    for given, field in (
        ({"name": "Li\x00"}, "name"),
        ({"name": "Li", "email": "li@example.com\x00"}, "email"),
        ({"name": "Li", "subject": "li\x00"}, "subject"),
    ):
        data = await gql(owner_create, {"input": given})
        assert data["ownerCreate"]["userErrors"] == [
            {"code": "INVALID_VALUE", "field": ["input", field]}
        ]
    reject = """mutation($input: VersionTransitionInput!) { versionReject(input: $input) {
        userErrors { code field } } }"""
    data = await gql(
        reject,
        {"input": {"id": plan["version"]["id"], "revision": revision, "reason": "no\x00"}},
    )
    assert data["versionReject"]["userErrors"] == [
        {"code": "INVALID_VALUE", "field": ["input", "reason"]}
    ]


# -- issue: integers past column types ---------------------------------------------


async def test_out_of_range_integers_are_user_errors(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Products", "PRODUCT")
    for attributes, field in (
        ({"salesCycleDays": 3651}, "salesCycleDays"),
        ({"salesCycleDays": -1}, "salesCycleDays"),
        ({"extra": {"n": 2**53}}, "extra.n"),
        ({"extra": {"n": 1e300}}, "extra.n"),
    ):
        data = await gql(
            CREATE,
            {"input": {"dimensionId": dim, "code": "X", "name": "X", "attributes": attributes}},
        )
        [error] = data["memberCreate"]["userErrors"]
        assert (error["code"], error["field"]) == (
            "OUT_OF_RANGE",
            ["input", "attributes", *field.split(".")],
        )
    # sortOrder past a 32-bit integer never reaches the database: GraphQL's Int refuses it
    response = await gql.post(
        CREATE, {"input": {"dimensionId": dim, "code": "X", "name": "X", "sortOrder": 2**31}}
    )
    body = response.json()
    assert body["errors"][0].get("extensions", {}).get("code") != "INTERNAL"
    assert "Int cannot represent" in body["errors"][0]["message"]


async def test_a_subtree_cannot_be_moved_past_the_deepest_level(gql: GraphQLClient) -> None:
    dim = await create_dimension(gql, "Deep")
    chain = [{"code": "L0", "name": "L0"}]
    chain += [{"code": f"L{i}", "name": f"L{i}", "parentCode": f"L{i - 1}"} for i in range(1, 15)]
    subtree = [{"code": "S0", "name": "S0"}]
    subtree += [{"code": f"S{i}", "name": f"S{i}", "parentCode": f"S{i - 1}"} for i in range(1, 6)]
    await gql(BULK, {"input": {"dimensionId": dim, "members": chain + subtree}})
    ids = await gql(
        """query($id: ID!) { dimension(id: $id) { a: member(code: "L14") { id }
           b: member(code: "S0") { id } c: member(code: "L13") { id } } }""",
        {"id": dim},
    )
    move = """mutation($input: MemberMoveInput!) { memberMove(input: $input) {
        member { depth } userErrors { code field } } }"""
    s0 = ids["dimension"]["b"]["id"]
    # S0 has five levels below it: under L14 (depth 14) its deepest would be at 20
    too_deep = await gql(move, {"input": {"id": s0, "parentId": ids["dimension"]["a"]["id"]}})
    assert too_deep["memberMove"]["userErrors"] == [
        {"code": "TOO_DEEP", "field": ["input", "parentId"]}
    ]
    fits = await gql(move, {"input": {"id": s0, "parentId": ids["dimension"]["c"]["id"]}})
    assert fits["memberMove"] == {"member": {"depth": 14}, "userErrors": []}


# -- issue: a no-op changes nothing and records nothing ----------------------------


async def audit_count(db: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM audit_entry")) or 0)


def writes(statements: StatementCounter) -> list[str]:
    return [
        s
        for s in statements.statements
        if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


async def test_no_ops_write_nothing_and_record_nothing(
    gql: GraphQLClient, db: Any, statements: StatementCounter
) -> None:
    dim = await create_dimension(gql, "Channels", "CHANNEL")
    rows = [
        {"code": "ALL", "name": "All", "attributes": {"channelType": "DIRECT"}},
        {
            "code": "WEB",
            "name": "Web",
            "parentCode": "ALL",
            "sortOrder": 2,
            "attributes": {"channelType": "ONLINE", "extra": {"launch": 2024}},
        },
    ]
    first = await gql(BULK, {"input": {"dimensionId": dim, "members": rows}})
    assert first["membersCreate"]["created"] == 2
    ids = await gql(
        """query($id: ID!) { dimension(id: $id) { all: member(code: "ALL") { id }
           web: member(code: "WEB") { id } } }""",
        {"id": dim},
    )
    web, top = ids["dimension"]["web"]["id"], ids["dimension"]["all"]["id"]
    retire = """mutation($input: MemberRetireInput!) { memberRetire(input: $input) {
        member { retired } userErrors { code } } }"""
    await gql(retire, {"input": {"id": web}})
    before = await audit_count(db)

    statements.reset()
    again = await gql(BULK, {"input": {"dimensionId": dim, "members": rows}})
    assert again["membersCreate"]["userErrors"] == []
    assert (again["membersCreate"]["created"], again["membersCreate"]["unchanged"]) == (0, 2)
    assert [m["code"] for m in again["membersCreate"]["members"]] == ["ALL", "WEB"]
    same = await gql(
        UPDATE,
        {
            "input": {
                "id": web,
                "name": " Web ",
                "code": "WEB",
                "sortOrder": 2,
                "attributes": {"channelType": "ONLINE", "extra": {"launch": 2024}},
            }
        },
    )
    assert same["memberUpdate"]["userErrors"] == []
    moved = await gql(
        """mutation($input: MemberMoveInput!) { memberMove(input: $input) {
             member { parent { code } } userErrors { code } } }""",
        {"input": {"id": web, "parentId": top}},
    )
    assert moved["memberMove"] == {"member": {"parent": {"code": "ALL"}}, "userErrors": []}
    retired = await gql(retire, {"input": {"id": web}})
    assert retired["memberRetire"] == {"member": {"retired": True}, "userErrors": []}
    assert writes(statements) == []
    assert await audit_count(db) == before

    # a real change is still written and recorded, once
    changed = await gql(UPDATE, {"input": {"id": web, "name": "Online"}})
    assert changed["memberUpdate"]["userErrors"] == []
    assert await audit_count(db) == before + 1
