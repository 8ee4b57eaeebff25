"""Small builders shared by API tests: each goes through GraphQL like a client."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient


async def create_plan(
    gql: GraphQLClient, target: str = "1000.00", currency: str = "EUR"
) -> dict[str, Any]:
    data = await gql(
        """mutation($input: PlanCreateInput!) { planCreate(input: $input) {
            plan { id } version { id revision } root { id target } userErrors { code message } } }""",
        {"input": {"name": "Plan", "currency": currency, "fiscalYear": 2027, "target": target}},
    )
    payload = data["planCreate"]
    assert payload["userErrors"] == [], payload
    return payload  # type: ignore[no-any-return]


async def create_dimension(gql: GraphQLClient, name: str, kind: str = "REGION") -> str:
    data = await gql(
        """mutation($input: DimensionCreateInput!) { dimensionCreate(input: $input) {
            dimension { id } userErrors { code message } } }""",
        {"input": {"name": name, "kind": kind}},
    )
    assert data["dimensionCreate"]["userErrors"] == []
    return data["dimensionCreate"]["dimension"]["id"]  # type: ignore[no-any-return]


async def create_member(
    gql: GraphQLClient, dimension_id: str, code: str, parent_id: str | None = None
) -> str:
    data = await gql(
        """mutation($input: MemberCreateInput!) { memberCreate(input: $input) {
            member { id } userErrors { code field message } } }""",
        {
            "input": {
                "dimensionId": dimension_id,
                "code": code,
                "name": code.title(),
                "parentId": parent_id,
            }
        },
    )
    assert data["memberCreate"]["userErrors"] == [], data
    return data["memberCreate"]["member"]["id"]  # type: ignore[no-any-return]


SPLIT = """mutation($input: NodeSplitInput!) { nodeSplit(input: $input) {
    node { id splitDimension { name } children { id } }
    children { id target explanation slice { dimension { name } member { code } } }
    version { revision }
    userErrors { code field message } } }"""


async def split(
    gql: GraphQLClient, node_id: str, revision: int, dimension_id: str, member_ids: list[str]
) -> dict[str, Any]:
    data = await gql(
        SPLIT,
        {
            "input": {
                "nodeId": node_id,
                "revision": revision,
                "dimensionId": dimension_id,
                "memberIds": member_ids,
            }
        },
    )
    return data["nodeSplit"]  # type: ignore[no-any-return]
