"""dimensionCreate, memberCreate and the dimension queries."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from service.auth import Role
from tests.api.helpers import create_dimension, create_member
from tests.conftest import GraphQLClient

MEMBER_CREATE = """mutation($input: MemberCreateInput!) { memberCreate(input: $input) {
    member { id code depth parent { code } dimension { name } } userErrors { code field message } } }"""


async def test_dimension_with_a_hierarchy(gql: GraphQLClient) -> None:
    regions = await create_dimension(gql, "Regions")
    east = await create_member(gql, regions, "EAST")
    await create_member(gql, regions, "SHANGHAI", parent_id=east)
    await create_member(gql, regions, "WEST")
    data = await gql(
        """query($id: ID!) { dimension(id: $id) { name kind
            members { totalCount edges { node { code depth parent { code } } } } } }""",
        {"id": regions},
        role=Role.VIEWER,
    )
    dim = data["dimension"]
    assert dim["name"] == "Regions" and dim["kind"] == "REGION"
    assert dim["members"]["totalCount"] == 3
    nodes = [e["node"] for e in dim["members"]["edges"]]
    assert {(m["code"], m["depth"], (m["parent"] or {}).get("code")) for m in nodes} == {
        ("EAST", 0, None),
        ("SHANGHAI", 1, "EAST"),
        ("WEST", 0, None),
    }
    listing = await gql("{ dimensions { edges { node { name } } } }", role=Role.VIEWER)
    assert [e["node"]["name"] for e in listing["dimensions"]["edges"]] == ["Regions"]


async def test_duplicate_dimension_name(gql: GraphQLClient) -> None:
    await create_dimension(gql, "Regions")
    data = await gql(
        'mutation { dimensionCreate(input: {name: "Regions", kind: REGION}) { dimension { id } userErrors { code field } } }'
    )
    assert data["dimensionCreate"]["userErrors"] == [
        {"code": "DUPLICATE", "field": ["input", "name"]}
    ]


@pytest.mark.parametrize(
    ("override", "code", "field"),
    [
        ({"code": ""}, "REQUIRED", "code"),
        ({"code": "x" * 101}, "TOO_LONG", "code"),
        ({"name": "x" * 10_000}, "TOO_LONG", "name"),
        ({"dimensionId": "bm9wZQ=="}, "INVALID_ID", "dimensionId"),
        ({"dimensionId": "not base64 at all!"}, "INVALID_ID", "dimensionId"),
        ({"parentId": "UGxhbjox"}, "INVALID_ID", "parentId"),  # a Plan's id
        ({"parentId": "TWVtYmVyOjk5OTk5OQ=="}, "NOT_FOUND", "parentId"),  # Member:999999
        ({"dimensionId": "RGltZW5zaW9uOjk5OTk5OQ=="}, "NOT_FOUND", "dimensionId"),
        ({"code": "EAST"}, "DUPLICATE", "code"),
    ],
)
async def test_bad_member_input(
    gql: GraphQLClient, db: Any, override: dict[str, Any], code: str, field: str
) -> None:
    regions = await create_dimension(gql, "Regions")
    await create_member(gql, regions, "EAST")
    async with db.session() as session:
        before = await session.scalar(text("SELECT count(*) FROM member"))
    data = await gql(
        MEMBER_CREATE,
        {"input": {"dimensionId": regions, "code": "NEW", "name": "New", **override}},
    )
    payload = data["memberCreate"]
    assert payload["member"] is None
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == (code, ["input", field]), error
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM member")) == before


async def test_parent_from_another_dimension(gql: GraphQLClient) -> None:
    regions = await create_dimension(gql, "Regions")
    channels = await create_dimension(gql, "Channels", "CHANNEL")
    direct = await create_member(gql, channels, "DIRECT")
    data = await gql(
        MEMBER_CREATE,
        {"input": {"dimensionId": regions, "code": "EAST", "name": "East", "parentId": direct}},
    )
    [error] = data["memberCreate"]["userErrors"]
    assert error["code"] == "WRONG_DIMENSION"


async def test_unknown_ids_read_as_null(gql: GraphQLClient) -> None:
    data = await gql(
        """{ dimension(id: "RGltZW5zaW9uOjk5OTk5OQ==") { name }
             plan(id: "UGxhbjo5OTk5OTk=") { name }
             node(id: "UGxhbjo5OTk5OTk=") { id } }""",
        role=Role.VIEWER,
    )
    assert data == {"dimension": None, "plan": None, "node": None}


async def test_malformed_id_in_a_query_is_a_clear_error(gql: GraphQLClient) -> None:
    response = await gql.post('{ plan(id: "garbage") { name } }')
    [error] = response.json()["errors"]
    assert "not a valid id" in error["message"]
    assert error["extensions"]["code"] == "INVALID_ID"
