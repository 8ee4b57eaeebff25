"""Every argument of every operation, fuzzed at the HTTP boundary.

For each root field of the schema (so an operation added later is covered with no
edit here) hypothesis sends requests built by ``tests.api.fuzz``: every argument
a variable, with hostile values (NUL, lone surrogates, 300,000 characters, 2**63,
``1e309``, ``NaN``, ``-0``, JSON 100,000 deep, lists of 40,000 items, the wrong
type, null, nothing), through the app on a real PostgreSQL. Every answer must be:

- no 5xx, a JSON body, and no error with ``extensions.code`` INTERNAL;
- each top-level error names the argument or input field at fault;
- each user error of a payload names its field: a path into the mutation's input;
- when anything erred, the database is exactly as before (every row of every table).

The seed (a plan split by region, members, an owner and a team, a second version)
is made once per module; each example runs inside a SAVEPOINT that is rolled back,
so every example starts from the same data and a mutation that succeeds does not
leak into the next. Valid ids and revisions of the seed are mixed into the inputs
so requests reach the use cases.

Examples per operation: ``QUOTATREE_FUZZ_EXAMPLES`` (default 50, about 1,700
requests: some 30 s on an idle machine); ``QUOTATREE_FUZZ_EXAMPLES=500`` is the long
run. ``QUOTATREE_FUZZ_DERANDOMIZE=1`` makes the examples the same on every run.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.api.schema import build_schema
from service.app import create_app
from service.auth import Role
from service.db.engine import ConnectionBoundDatabase
from tests.api.fuzz import (
    Pool,
    Request,
    error_names_a_field,
    input_path_ok,
    is_strict_json,
    names_of,
    operations,
    root_fields,
)
from tests.api.helpers import create_dimension, create_member, create_plan, split
from tests.conftest import GraphQLClient, make_settings, token

settings.register_profile(
    "quotatree-fuzz",
    max_examples=int(os.environ.get("QUOTATREE_FUZZ_EXAMPLES", "50")),
    deadline=None,
    derandomize=os.environ.get("QUOTATREE_FUZZ_DERANDOMIZE", "") == "1",
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    print_blob=True,
)
PROFILE = settings.get_profile("quotatree-fuzz")

SCHEMA = build_schema(make_settings())._schema
OPERATIONS = list(root_fields(SCHEMA))
MAX_BODY_BYTES = make_settings().max_body_bytes
ERROR_LIMIT = "Too many errors processing variables, error limit reached. Execution aborted."
HEADERS = {"Authorization": f"Bearer {token(Role.ADMIN)}", "Content-Type": "application/json"}


@dataclass
class Seeded:
    connection: AsyncConnection
    http: httpx.AsyncClient
    pool: Pool
    tables: list[str]


@pytest.fixture(scope="module")
async def seeded(engine: AsyncEngine) -> AsyncIterator[Seeded]:
    """The seed, in a transaction of its own rolled back at the end of the module."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        database = ConnectionBoundDatabase(engine, conn)
        app = create_app(make_settings(), database=database)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                pool = await seed(GraphQLClient(http))
                tables = list(
                    (
                        await conn.execute(
                            text(
                                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                "AND tablename <> 'alembic_version' ORDER BY tablename"
                            )
                        )
                    ).scalars()
                )
                yield Seeded(connection=conn, http=http, pool=pool, tables=tables)
        finally:
            await outer.rollback()


async def seed(gql: GraphQLClient) -> Pool:
    """FY2027, 1000.00 EUR: the root split by region into East and West, East owned by
    Li (of the team Sales); a second version copied from the first and submitted."""
    plan = await create_plan(gql)
    regions = await create_dimension(gql, "Regions")
    east = await create_member(gql, regions, "EAST")
    west = await create_member(gql, regions, "WEST")
    shanghai = await create_member(gql, regions, "SHANGHAI", parent_id=east)
    customers = await create_dimension(gql, "Customers", kind="CUSTOMER")
    acme = await create_member(gql, customers, "ACME")
    done = await split(gql, plan["root"]["id"], 1, regions, [east, west])
    assert done["userErrors"] == [], done
    east_node, west_node = (c["id"] for c in done["children"])
    li = (
        await gql(
            """mutation { ownerCreate(input: {name: "Li", subject: "li"}) {
                 owner { id } userErrors { code } } }"""
        )
    )["ownerCreate"]["owner"]["id"]
    team = (
        await gql(
            """mutation($lead: ID) { teamCreate(input: {name: "Sales", leadId: $lead}) {
                 owner { id } userErrors { code } } }""",
            {"lead": li},
        )
    )["teamCreate"]["owner"]["id"]
    assigned = (
        await gql(
            """mutation($n: ID!, $o: ID) { nodeAssignOwner(input: {nodeId: $n, revision: 2,
                 ownerId: $o}) { version { revision } userErrors { code } } }""",
            {"n": east_node, "o": li},
        )
    )["nodeAssignOwner"]
    assert assigned["userErrors"] == [], assigned
    draft = (
        await gql(
            """mutation($v: ID!) { versionCreateDraft(input: {from: $v, name: "Aggressive"}) {
                 version { id revision root { id } } userErrors { code } } }""",
            {"v": plan["version"]["id"]},
        )
    )["versionCreateDraft"]
    submitted = (
        await gql(
            """mutation($v: ID!, $r: Int!) { versionSubmit(input: {id: $v, revision: $r}) {
                 version { revision } userErrors { code } } }""",
            {"v": draft["version"]["id"], "r": draft["version"]["revision"]},
        )
    )["versionSubmit"]
    assert submitted["userErrors"] == [], submitted
    read = await gql(
        """query($p: ID!, $v: ID!) {
             plan(id: $p) { timeDimension { id members(first: 6) { nodes { id code } } } }
             planVersion(id: $v) { auditTrail(first: 2) { nodes { id } } } }""",
        {"p": plan["plan"]["id"], "v": plan["version"]["id"]},
    )
    time = read["plan"]["timeDimension"]
    revisions = sorted({1, 2, 3, assigned["version"]["revision"], submitted["version"]["revision"]})
    return Pool(
        ids=[
            plan["plan"]["id"],
            plan["version"]["id"],
            plan["root"]["id"],
            east_node,
            west_node,
            draft["version"]["id"],
            draft["version"]["root"]["id"],
            regions,
            east,
            west,
            shanghai,
            customers,
            acme,
            li,
            team,
            time["id"],
            *(m["id"] for m in time["members"]["nodes"]),
            *(a["id"] for a in read["planVersion"]["auditTrail"]["nodes"]),
        ],
        revisions=revisions,
        codes=["EAST", "WEST", "SHANGHAI", "ACME", *(m["code"] for m in time["members"]["nodes"])],
    )


async def snapshot(conn: AsyncConnection, tables: list[str]) -> dict[str, tuple[int, str]]:
    """(rows, md5 of every row's text in order) of each table: any change shows."""
    query = " UNION ALL ".join(
        f"SELECT '{t}', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
        f'FROM "{t}" x'
        for t in tables
    )
    rows = (await conn.execute(text(query))).all()
    return {name: (count, digest) for name, count, digest in rows}


def check_answer(request: Request, body: bytes, response: httpx.Response) -> str:
    """Assert what every answer must be; return its outcome, "ok" when the operation
    itself did not err (a mutation that ran may still have a wrong argument further
    down its payload's selection: that error is reported, the change stays)."""
    where = f"{request.summary()}\n→ {response.status_code} {response.text[:3_000]}"
    assert response.status_code < 500, where
    if response.status_code == 413:
        # The whole request is over the body limit: refused before anything is read.
        assert len(body) > MAX_BODY_BYTES, where
        return "refused: body over the limit"
    answer = response.json()
    assert isinstance(answer, dict), where
    codes = {(e.get("extensions") or {}).get("code") for e in answer.get("errors") or []}
    if response.status_code == 400 and codes == {"INVALID_JSON"}:
        # Not JSON every reader takes: refused as a whole, before any field is read.
        assert not request.strict_json, where
        return "refused: not strict JSON"
    errors = answer.get("errors") or []
    for error in errors:
        assert (error.get("extensions") or {}).get("code") != "INTERNAL", where
    if codes == {"QUERY_TOO_COSTLY"}:
        # The whole document is over the cost limit (the selection's nested lists, or a
        # page size): refused before anything runs, the error gives the limit and the
        # figures rather than one field.
        [error] = errors
        cost = error["extensions"]["cost"]
        assert cost["requested"] > cost["maximum"], where
        assert "data" not in answer or answer["data"] is None, where
        return "refused: over the cost limit"
    names = names_of(request, SCHEMA)
    for index, error in enumerate(errors):
        if error.get("message") == ERROR_LIMIT and index > 0:
            continue  # graphql-core's notice after its 50 errors, each naming its field
        assert error_names_a_field(error, names), f"an error names no field: {error}\n{where}"
    assert response.status_code == 200, where
    data = answer.get("data")
    if data is None:
        assert errors, where
        return "refused: invalid document or variables"
    at_root = [e for e in errors if len(e.get("path") or []) <= 1]
    outcome = "error at the root field" if at_root else "ok"
    if request.root == "mutation":
        assert SCHEMA.mutation_type is not None
        target = SCHEMA.mutation_type.fields[request.field]
        payload = data.get(request.field)
        if payload is None:
            assert at_root, where
        for user_error in (payload or {}).get("userErrors") or []:
            outcome = "user error"
            path = user_error["field"]
            assert path is not None, f"a user error names no field: {user_error}\n{where}"
            assert input_path_ok(target, path), f"not a path of the input: {user_error}\n{where}"
    if outcome == "ok" and errors:
        outcome = "error below the root field"
    return outcome


async def run_one(seeded: Seeded, request: Request) -> None:
    conn = seeded.connection
    savepoint = await conn.begin_nested()
    try:
        before = await snapshot(conn, seeded.tables)
        body = request.body()
        request.strict_json = is_strict_json(body)
        response = await seeded.http.post("/graphql", content=body, headers=HEADERS)
        assert not conn.invalidated, (
            f"the request broke the database connection\n{request.summary()}\n→ "
            f"{response.status_code} {response.text[:2000]}"
        )
        outcome = check_answer(request, body, response)
        event(f"{request.root}: {outcome}")
        if request.root == "query" or outcome not in ("ok", "error below the root field"):
            after = await snapshot(conn, seeded.tables)
            changed = sorted(t for t in seeded.tables if before[t] != after[t])
            assert not changed, (
                f"an erring request changed {changed}\n{request.summary()}\n→ {response.text[:2000]}"
            )
    finally:
        await savepoint.rollback()


@pytest.mark.parametrize(("root", "name"), OPERATIONS, ids=[f"{r}.{n}" for r, n in OPERATIONS])
@PROFILE
@given(data=st.data())
async def test_every_argument_of_every_operation(
    seeded: Seeded, root: str, name: str, data: st.DataObject
) -> None:
    request = data.draw(operations(SCHEMA, root, name, seeded.pool), label="request")
    await run_one(seeded, request)


def test_the_schema_has_operations_to_fuzz() -> None:
    """The parametrization above comes from the schema: it must find both roots."""
    roots = {root for root, _ in OPERATIONS}
    assert roots == {"query", "mutation"}
    assert ("mutation", "nodeSplit") in OPERATIONS
    assert ("query", "node") in OPERATIONS
    assert json.loads(Request("query", "node", "{ __typename }").body())["query"]
