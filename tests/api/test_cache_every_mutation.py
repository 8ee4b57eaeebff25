"""Every mutation of the schema, run after a cached read: the next read reflects it.

The response cache (service.api.cache) keys answers by the data generation that
triggers maintain on every read table, so no write path can forget to
invalidate. This test holds that promise for every mutation the schema has:
the list of mutations comes from the schema itself, and a mutation without a
scenario here fails the test, so a new mutation cannot slip past.

Each scenario builds its state through GraphQL, reads something the mutation
changes (twice: the second read must be a cache hit, one statement), runs the
mutation, and reads again: the answer must show the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from service.api.schema import build_schema
from service.auth import Role
from service.settings import Settings
from tests.api.helpers import create_dimension, create_member, create_plan
from tests.conftest import GraphQLClient, StatementCounter, token

Json = dict[str, Any]


@dataclass
class Case:
    """A read, the mutation, and what the read shows before and after."""

    read: str
    mutation: str
    mutation_input: Json
    read_variables: Json = field(default_factory=dict)
    subject: str = "tester"  # the caller of the read (``me`` depends on it)
    before: Any = None  # expected value of ``observe`` before (None: not checked)
    after: Any = None  # expected value of ``observe`` after (None: only "changed")
    observe: Callable[[Json], Any] = lambda data: data


@dataclass
class World:
    """A plan whose root is split by region into north and south."""

    gql: GraphQLClient
    plan_id: str
    version_id: str
    root: str
    north: str
    south: str
    region: str
    members: dict[str, str]
    product: str
    channel: str
    person: str

    async def revision(self) -> int:
        data = await self.gql(
            "query($id: ID!) { planVersion(id: $id) { revision } }", {"id": self.version_id}
        )
        return int(data["planVersion"]["revision"])

    async def run(self, mutation: str, payload_name: str, variables: Json) -> Json:
        data = await self.gql(mutation, {"input": variables})
        payload: Json = data[payload_name]
        assert payload["userErrors"] == [], payload
        return payload

    async def transition(self, name: str) -> None:
        await self.run(
            TRANSITION.format(name=name),
            name,
            {"id": self.version_id, "revision": await self.revision()},
        )


TRANSITION = """mutation($input: VersionTransitionInput!) {{ {name}(input: $input) {{
    version {{ state }} userErrors {{ code message }} }} }}"""
NODE_INPUT = """mutation($input: NodeInput!) {{ {name}(input: $input) {{
    userErrors {{ code message }} }} }}"""
VERSION_STATE = "query($id: ID!) { planVersion(id: $id) { state } }"
NODE = "query($id: ID!) { node(id: $id) { ... on TargetNode { %s } } }"
MEMBER = "query($id: ID!) { node(id: $id) { ... on Member { %s } } }"
OWNER = "query($id: ID!) { node(id: $id) { ... on Owner { %s } } }"
VERSION_COUNT = "query($id: ID!) { plan(id: $id) { versions(first: 100) { totalCount } } }"


def at(*path: str | int) -> Callable[[Json], Any]:
    def get(data: Json) -> Any:
        value: Any = data
        for step in path:
            value = value[step]
        return value

    return get


async def build_world(gql: GraphQLClient) -> World:
    plan = await create_plan(gql, target="1000.00")
    region = await create_dimension(gql, "Region", "REGION")
    product = await create_dimension(gql, "Product", "PRODUCT")
    channel = await create_dimension(gql, "Channel", "CHANNEL")
    members = {
        code: await create_member(gql, dimension, code)
        for dimension, codes in (
            (region, ["north", "south", "east"]),
            (product, ["p1", "p2"]),
            (channel, ["c1", "c2"]),
        )
        for code in codes
    }
    data = await gql(
        """mutation($input: NodeSplitInput!) { nodeSplit(input: $input) {
            children { id } userErrors { code message } } }""",
        {
            "input": {
                "nodeId": plan["root"]["id"],
                "revision": plan["version"]["revision"],
                "dimensionId": region,
                "memberIds": [members["north"], members["south"]],
            }
        },
    )
    assert data["nodeSplit"]["userErrors"] == [], data
    north, south = (child["id"] for child in data["nodeSplit"]["children"])
    person = await gql(
        """mutation { ownerCreate(input: {name: "Alice"}) {
            owner { id } userErrors { code } } }"""
    )
    return World(
        gql=gql,
        plan_id=plan["plan"]["id"],
        version_id=plan["version"]["id"],
        root=plan["root"]["id"],
        north=north,
        south=south,
        region=region,
        members=members,
        product=product,
        channel=channel,
        person=person["ownerCreate"]["owner"]["id"],
    )


Scenario = Callable[[World], Awaitable[Case]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        return fn

    return register


@scenario("planCreate")
async def _plan_create(w: World) -> Case:
    return Case(
        read="{ plans(first: 500) { totalCount } }",
        mutation="""mutation($input: PlanCreateInput!) { planCreate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"name": "Another", "fiscalYear": 2028, "target": "5.00", "currency": "EUR"},
        observe=at("plans", "totalCount"),
    )


@scenario("versionCreateDraft")
async def _version_create_draft(w: World) -> Case:
    return Case(
        read=VERSION_COUNT,
        read_variables={"id": w.plan_id},
        mutation="""mutation($input: VersionCreateDraftInput!) { versionCreateDraft(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"from": w.version_id},
        before=1,
        after=2,
        observe=at("plan", "versions", "totalCount"),
    )


def _transition_case(w: World, name: str, revision: int, before: str, after: str) -> Case:
    return Case(
        read=VERSION_STATE,
        read_variables={"id": w.version_id},
        mutation=TRANSITION.format(name=name),
        mutation_input={"id": w.version_id, "revision": revision, "reason": "cache test"},
        before=before,
        after=after,
        observe=at("planVersion", "state"),
    )


@scenario("versionSubmit")
async def _submit(w: World) -> Case:
    return _transition_case(w, "versionSubmit", await w.revision(), "DRAFT", "SUBMITTED")


@scenario("versionReject")
async def _reject(w: World) -> Case:
    await w.transition("versionSubmit")
    return _transition_case(w, "versionReject", await w.revision(), "SUBMITTED", "DRAFT")


@scenario("versionApprove")
async def _approve(w: World) -> Case:
    await w.transition("versionSubmit")
    return _transition_case(w, "versionApprove", await w.revision(), "SUBMITTED", "APPROVED")


@scenario("versionPublish")
async def _publish(w: World) -> Case:
    await w.transition("versionSubmit")
    await w.transition("versionApprove")
    return _transition_case(w, "versionPublish", await w.revision(), "APPROVED", "PUBLISHED")


@scenario("versionArchive")
async def _archive(w: World) -> Case:
    return _transition_case(w, "versionArchive", await w.revision(), "DRAFT", "ARCHIVED")


def _node_case(w: World, name: str, node: str, revision: int, fields: str, **kw: Any) -> Case:
    return Case(
        read=NODE % fields,
        read_variables={"id": node},
        mutation=NODE_INPUT.format(name=name),
        mutation_input={"nodeId": node, "revision": revision},
        **kw,
    )


@scenario("nodeUnsplit")
async def _unsplit(w: World) -> Case:
    return _node_case(
        w,
        "nodeUnsplit",
        w.root,
        await w.revision(),
        "children { id }",
        observe=lambda d: len(d["node"]["children"]),
        before=2,
        after=0,
    )


@scenario("nodeLock")
async def _lock(w: World) -> Case:
    return _node_case(
        w,
        "nodeLock",
        w.north,
        await w.revision(),
        "locked",
        before=False,
        after=True,
        observe=at("node", "locked"),
    )


@scenario("nodeUnlock")
async def _unlock(w: World) -> Case:
    await w.run(
        NODE_INPUT.format(name="nodeLock"),
        "nodeLock",
        {"nodeId": w.north, "revision": await w.revision()},
    )
    return _node_case(
        w,
        "nodeUnlock",
        w.north,
        await w.revision(),
        "locked",
        before=True,
        after=False,
        observe=at("node", "locked"),
    )


@scenario("nodeSetTarget")
async def _set_target(w: World) -> Case:
    return Case(
        read=NODE % "target children { target }",
        read_variables={"id": w.root},
        mutation="""mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"nodeId": w.north, "revision": await w.revision(), "target": "600.00"},
        before=["500.00", "500.00"],
        after=["600.00", "400.00"],
        observe=lambda d: [c["target"] for c in d["node"]["children"]],
    )


@scenario("nodeUpdate")
async def _update(w: World) -> Case:
    return Case(
        read=NODE % "strategy cap",
        read_variables={"id": w.north},
        mutation="""mutation($input: NodeUpdateInput!) { nodeUpdate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={
            "nodeId": w.north,
            "revision": await w.revision(),
            "strategy": "Win the harbour accounts",
        },
        before=None,
        after="Win the harbour accounts",
        observe=at("node", "strategy"),
    )


@scenario("nodeSplit")
async def _split(w: World) -> Case:
    return Case(
        read=NODE % "children { target }",
        read_variables={"id": w.north},
        mutation="""mutation($input: NodeSplitInput!) { nodeSplit(input: $input) {
            userErrors { code message } } }""",
        mutation_input={
            "nodeId": w.north,
            "revision": await w.revision(),
            "dimensionId": w.product,
            "memberIds": [w.members["p1"], w.members["p2"]],
        },
        before=[],
        after=[{"target": "250.00"}, {"target": "250.00"}],
        observe=at("node", "children"),
    )


@scenario("nodeSplitMatrix")
async def _split_matrix(w: World) -> Case:
    return Case(
        read=NODE % "children { id }",
        read_variables={"id": w.north},
        mutation="""mutation($input: NodeSplitMatrixInput!) { nodeSplitMatrix(input: $input) {
            userErrors { code message } } }""",
        mutation_input={
            "nodeId": w.north,
            "revision": await w.revision(),
            "rows": {"dimensionId": w.product, "memberIds": [w.members["p1"], w.members["p2"]]},
            "columns": {
                "dimensionId": w.channel,
                "memberIds": [w.members["c1"], w.members["c2"]],
            },
        },
        before=0,
        after=2,  # one child per row, each split by the columns
        observe=lambda d: len(d["node"]["children"]),
    )


@scenario("dimensionCreate")
async def _dimension_create(w: World) -> Case:
    return Case(
        read="{ dimensions(first: 500) { totalCount } }",
        mutation="""mutation($input: DimensionCreateInput!) { dimensionCreate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"name": "Segment", "kind": "CUSTOMER"},
        observe=at("dimensions", "totalCount"),
    )


DIMENSION_MEMBERS = """query($id: ID!) { node(id: $id) { ... on Dimension {
    members(first: 500) { totalCount } } } }"""


@scenario("memberCreate")
async def _member_create(w: World) -> Case:
    return Case(
        read=DIMENSION_MEMBERS,
        read_variables={"id": w.region},
        mutation="""mutation($input: MemberCreateInput!) { memberCreate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"dimensionId": w.region, "code": "west", "name": "West"},
        before=3,
        after=4,
        observe=at("node", "members", "totalCount"),
    )


@scenario("membersCreate")
async def _members_create(w: World) -> Case:
    return Case(
        read=DIMENSION_MEMBERS,
        read_variables={"id": w.region},
        mutation="""mutation($input: MembersCreateInput!) { membersCreate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={
            "dimensionId": w.region,
            "members": [{"code": "west", "name": "West"}, {"code": "alps", "name": "Alps"}],
        },
        before=3,
        after=5,
        observe=at("node", "members", "totalCount"),
    )


@scenario("memberUpdate")
async def _member_update(w: World) -> Case:
    return Case(
        read=MEMBER % "name",
        read_variables={"id": w.members["east"]},
        mutation="""mutation($input: MemberUpdateInput!) { memberUpdate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"id": w.members["east"], "name": "Far East"},
        before="East",
        after="Far East",
        observe=at("node", "name"),
    )


@scenario("memberMove")
async def _member_move(w: World) -> Case:
    return Case(
        read=MEMBER % "parent { code }",
        read_variables={"id": w.members["east"]},
        mutation="""mutation($input: MemberMoveInput!) { memberMove(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"id": w.members["east"], "parentId": w.members["north"]},
        after={"code": "north"},
        observe=at("node", "parent"),
    )


@scenario("memberRetire")
async def _member_retire(w: World) -> Case:
    return Case(
        read=MEMBER % "retired",
        read_variables={"id": w.members["east"]},
        mutation="""mutation($input: MemberRetireInput!) { memberRetire(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"id": w.members["east"]},
        before=False,
        after=True,
        observe=at("node", "retired"),
    )


@scenario("ownerCreate")
async def _owner_create(w: World) -> Case:
    return Case(
        read="{ me { name } }",
        subject="bob@example.com",
        mutation="""mutation($input: OwnerCreateInput!) { ownerCreate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"name": "Bob", "subject": "bob@example.com"},
        after={"name": "Bob"},
        observe=at("me"),
    )


@scenario("teamCreate")
async def _team_create(w: World) -> Case:
    return Case(
        read=OWNER % "teams { name }",
        read_variables={"id": w.person},
        mutation="""mutation($input: TeamCreateInput!) { teamCreate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"name": "North team", "leadId": w.person},
        before=[],
        after=[{"name": "North team"}],
        observe=at("node", "teams"),
    )


@scenario("teamAddMember")
async def _team_add_member(w: World) -> Case:
    team = await w.run(
        """mutation($input: TeamCreateInput!) { teamCreate(input: $input) {
            owner { id } userErrors { code message } } }""",
        "teamCreate",
        {"name": "North team"},
    )
    return Case(
        read=OWNER % "teams { name }",
        read_variables={"id": w.person},
        mutation="""mutation($input: TeamAddMemberInput!) { teamAddMember(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"teamId": team["owner"]["id"], "personId": w.person},
        before=[],
        after=[{"name": "North team"}],
        observe=at("node", "teams"),
    )


@scenario("nodeAssignOwner")
async def _assign_owner(w: World) -> Case:
    return Case(
        read=NODE % "owner { name }",
        read_variables={"id": w.north},
        mutation="""mutation($input: NodeAssignOwnerInput!) { nodeAssignOwner(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"nodeId": w.north, "revision": await w.revision(), "ownerId": w.person},
        before=None,
        after={"name": "Alice"},
        observe=at("node", "owner"),
    )


REVIEW = """mutation($input: ReviewCreateInput!) { reviewCreate(input: $input) {
    review { id } userErrors { code message } } }"""


@scenario("reviewCreate")
async def _review_create(w: World) -> Case:
    return Case(
        read=NODE % "reviews(first: 50) { totalCount }",
        read_variables={"id": w.north},
        mutation=REVIEW,
        mutation_input={"nodeId": w.north, "heldOn": "2027-03-01", "notes": "Behind in March"},
        before=0,
        after=1,
        observe=at("node", "reviews", "totalCount"),
    )


@scenario("versionReplan")
async def _replan(w: World) -> Case:
    return Case(
        read=VERSION_COUNT,
        read_variables={"id": w.plan_id},
        mutation="""mutation($input: VersionReplanInput!) { versionReplan(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"from": w.version_id, "asOf": "2027-06-30"},
        before=1,
        after=2,
        observe=at("plan", "versions", "totalCount"),
    )


IMPORT = """mutation($input: {kind}!) {{ {name}(input: $input) {{
    userErrors {{ code message }} }} }}"""


@scenario("actualsImport")
async def _actuals_import(w: World) -> Case:
    return Case(
        read=NODE % 'attainment(asOf: "2027-12-31") { actual }',
        read_variables={"id": w.north},
        mutation=IMPORT.format(kind="ActualsImportInput", name="actualsImport"),
        mutation_input={
            "planId": w.plan_id,
            "batchKey": "march",
            "rows": [
                {
                    "externalId": "s-1",
                    "date": "2027-03-02",
                    "amount": "120.00",
                    "members": [{"dimension": "Region", "code": "north"}],
                }
            ],
        },
        before="0.00",
        after="120.00",
        observe=at("node", "attainment", "actual"),
    )


FACT_BATCHES = """query($id: ID!, $kind: FactKind!) {
    factBatches(planId: $id, kind: $kind, first: 50) { totalCount } }"""


@scenario("opportunitiesImport")
async def _opportunities_import(w: World) -> Case:
    return Case(
        read=FACT_BATCHES,
        read_variables={"id": w.plan_id, "kind": "OPPORTUNITY"},
        mutation=IMPORT.format(kind="OpportunitiesImportInput", name="opportunitiesImport"),
        mutation_input={
            "planId": w.plan_id,
            "batchKey": "won",
            "rows": [
                {
                    "externalId": "o-1",
                    "date": "2027-03-02",
                    "outcome": "WON",
                    "amount": "80.00",
                    "members": [{"dimension": "Region", "code": "north"}],
                }
            ],
        },
        before=0,
        after=1,
        observe=at("factBatches", "totalCount"),
    )


@scenario("marketSizesImport")
async def _market_sizes_import(w: World) -> Case:
    return Case(
        read=FACT_BATCHES,
        read_variables={"id": w.plan_id, "kind": "MARKET_SIZE"},
        mutation=IMPORT.format(kind="MarketSizesImportInput", name="marketSizesImport"),
        mutation_input={
            "planId": w.plan_id,
            "batchKey": "sizes",
            "rows": [
                {
                    "dimension": "Region",
                    "member": "north",
                    "startsOn": "2027-01-01",
                    "endsOn": "2027-12-31",
                    "amount": "9000.00",
                }
            ],
        },
        before=0,
        after=1,
        observe=at("factBatches", "totalCount"),
    )


@scenario("planSettingsUpdate")
async def _settings_update(w: World) -> Case:
    return Case(
        read="""query($id: ID!) { plan(id: $id) { attainmentThresholds { onTrackPace } } }""",
        read_variables={"id": w.plan_id},
        mutation="""mutation($input: PlanSettingsUpdateInput!) { planSettingsUpdate(input: $input) {
            userErrors { code message } } }""",
        mutation_input={"planId": w.plan_id, "onTrackPace": "0.9"},
        before="0.95",
        after="0.9",
        observe=at("plan", "attainmentThresholds", "onTrackPace"),
    )


def schema_mutations() -> list[str]:
    mutation_type = build_schema(Settings(database_url=None))._schema.mutation_type
    assert mutation_type is not None
    return sorted(mutation_type.fields)


def test_every_mutation_of_the_schema_has_a_scenario() -> None:
    missing = sorted(set(schema_mutations()) - set(SCENARIOS))
    assert not missing, (
        f"mutations with no cache scenario in {__name__}: {missing}; add one that reads "
        "what the mutation changes, so the response cache is proven to reflect it"
    )
    assert not set(SCENARIOS) - set(schema_mutations()), "scenarios for mutations that are gone"


async def _read(gql: GraphQLClient, case: Case) -> Any:
    headers = {"Authorization": f"Bearer {token(Role.ADMIN, subject=case.subject)}"}
    response = await gql.post(case.read, case.read_variables, role=None, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return case.observe(body["data"])


@pytest.mark.parametrize("name", schema_mutations())
async def test_a_cached_read_reflects_the_mutation(
    name: str, gql: GraphQLClient, statements: StatementCounter
) -> None:
    if name not in SCENARIOS:
        pytest.fail(
            f"{name} has no scenario (see test_every_mutation_of_the_schema_has_a_scenario)"
        )
    world = await build_world(gql)
    case = await SCENARIOS[name](world)
    before = await _read(gql, case)
    if case.before is not None:
        assert before == case.before
    statements.reset()
    assert await _read(gql, case) == before
    assert statements.count == 1 and statements.generation_reads == 1, (
        "the second read must be a cache hit (the generation read only)",
        statements.statements,
    )
    data = await gql(case.mutation, {"input": case.mutation_input})
    assert data[name]["userErrors"] == [], data
    after = await _read(gql, case)
    assert after != before, f"{name}: the read after the mutation still shows {before!r}"
    if case.after is not None:
        assert after == case.after
