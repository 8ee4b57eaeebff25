"""Issue 13 through the API: findings on a version and a node (filters, node links),
thresholds per plan through planSettingsUpdate, readiness numbers, findings in split and
edit payloads, and a fixed number of statements whatever the tree."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from service.api import ids
from service.db.engine import ConnectionBoundDatabase, driver_connection
from tests.api.helpers import create_dimension, create_plan
from tests.api.test_owners import ASSIGN, person
from tests.conftest import GraphQLClient
from tests.fact_scaffold import Sale, insert_sales

MEMBER = """mutation($input: MemberCreateInput!) { memberCreate(input: $input) {
    member { id } userErrors { code field message } } }"""

SPLIT = """mutation($input: NodeSplitInput!) { nodeSplit(input: $input) {
    children { id }
    version { revision }
    diagnostics { code severity node { id } measured threshold message suggestion }
    userErrors { code field message } } }"""

VERSION_FINDINGS = """query($id: ID!, $sev: [Severity!], $codes: [Code!], $first: Int) {
  node(id: $id) { ... on PlanVersion {
    diagnostics(asOf: "2027-01-15", severities: $sev, codes: $codes, first: $first) {
      code severity dimension measured threshold message suggestion node { id } } } } }"""

NODE_FINDINGS = """query($id: ID!, $subtree: Boolean!) { node(id: $id) { ... on TargetNode {
    diagnostics(asOf: "2027-01-15", subtree: $subtree) { code node { id } } } } }"""

READINESS = """query($id: ID!, $asOf: Date) { node(id: $id) { ... on PlanVersion {
  readiness(asOf: $asOf) { asOf dimensions { kind depth nodes } totalTarget ownedTarget
    ownedShare leaves unownedLeafCount unownedLeaves { id } actualsThrough lastReview
    reviewCadenceDays reviewsInCadence openAlerts findingsBySeverity { severity count } }
} } }"""

SETTINGS = """mutation($input: PlanSettingsUpdateInput!) { planSettingsUpdate(input: $input) {
    diagnosticsThresholds { channelMaxShare salesCycleDays reviewCadenceDays }
    plan { diagnosticsThresholds { channelMaxShare } }
    userErrors { code field message } } }"""

SET_TARGET = """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
    version { revision } diagnostics { code node { id } measured }
    userErrors { code field message } } }"""


async def member(gql: GraphQLClient, dimension: str, code: str, **attributes: Any) -> str:
    data = await gql(
        MEMBER,
        {"input": {"dimensionId": dimension, "code": code, "name": code, "attributes": attributes}},
    )
    assert data["memberCreate"]["userErrors"] == [], data
    return data["memberCreate"]["member"]["id"]  # type: ignore[no-any-return]


@pytest.fixture
async def plan(gql: GraphQLClient) -> dict[str, Any]:
    """FY2027, 1000.00, split 700/300 into DIRECT and PARTNER (no owner, no strategy)."""
    data = await gql(
        """mutation { planCreate(input: {name: "FY27", currency: EUR, fiscalYear: 2027,
             target: "1000.00"}) { plan { id } version { id revision } root { id }
             userErrors { code } } }"""
    )
    created = data["planCreate"]
    channels = await create_dimension(gql, "Channels", "CHANNEL")
    direct = await member(gql, channels, "DIRECT", channelType="DIRECT")
    partner = await member(gql, channels, "PARTNER", channelType="PARTNER")
    done = (
        await gql(
            SPLIT,
            {
                "input": {
                    "nodeId": created["root"]["id"],
                    "revision": created["version"]["revision"],
                    "dimensionId": channels,
                    "memberIds": [direct, partner],
                    "method": "WEIGHTS",
                    "children": [
                        {"memberId": direct, "weight": "70"},
                        {"memberId": partner, "weight": "30"},
                    ],
                }
            },
        )
    )["nodeSplit"]
    assert done["userErrors"] == [], done
    return {
        "plan": created["plan"]["id"],
        "version": created["version"]["id"],
        "root": created["root"]["id"],
        "direct": done["children"][0]["id"],
        "partner": done["children"][1]["id"],
        "members": (direct, partner),
        "revision": done["version"]["revision"],
        "payload": done["diagnostics"],
    }


async def test_split_payload_carries_the_new_findings(plan: dict[str, Any]) -> None:
    found = {(f["code"], f["node"]["id"]) for f in plan["payload"]}
    assert found == {
        ("CHANNEL_CONCENTRATION", plan["direct"]),
        ("CHANNEL_PARTNER_UNSUPPORTED", plan["partner"]),
    }
    concentration = next(f for f in plan["payload"] if f["code"] == "CHANNEL_CONCENTRATION")
    assert concentration["measured"] == "0.7000" and concentration["threshold"] == "0.6"
    assert concentration["severity"] == "WARNING"
    assert "70.0 %" in concentration["message"] and concentration["suggestion"]


async def test_version_and_node_findings_with_filters(
    gql: GraphQLClient, plan: dict[str, Any]
) -> None:
    every = (await gql(VERSION_FINDINGS, {"id": plan["version"]}))["node"]["diagnostics"]
    assert [f["code"] for f in every] == ["CHANNEL_CONCENTRATION", "CHANNEL_PARTNER_UNSUPPORTED"]
    assert every[0]["dimension"] == "CHANNEL" and every[0]["node"]["id"] == plan["direct"]
    only = await gql(VERSION_FINDINGS, {"id": plan["version"], "codes": ["CHANNEL_CONFLICT"]})
    assert only["node"]["diagnostics"] == []
    warn = await gql(VERSION_FINDINGS, {"id": plan["version"], "sev": ["WARNING"], "first": 1})
    assert [f["code"] for f in warn["node"]["diagnostics"]] == ["CHANNEL_CONCENTRATION"]
    bad = await gql.post(VERSION_FINDINGS, {"id": plan["version"], "first": 0})
    body = bad.json()
    assert body["errors"][0]["extensions"]["code"] == "OUT_OF_RANGE", body
    root = (await gql(NODE_FINDINGS, {"id": plan["root"], "subtree": True}))["node"]
    assert len(root["diagnostics"]) == 2
    own = (await gql(NODE_FINDINGS, {"id": plan["root"], "subtree": False}))["node"]
    assert own["diagnostics"] == []
    partner = (await gql(NODE_FINDINGS, {"id": plan["partner"], "subtree": False}))["node"]
    assert [f["code"] for f in partner["diagnostics"]] == ["CHANNEL_PARTNER_UNSUPPORTED"]


async def test_thresholds_per_plan_change_the_outcome(
    gql: GraphQLClient, db: ConnectionBoundDatabase, plan: dict[str, Any]
) -> None:
    done = (
        await gql(
            SETTINGS,
            {"input": {"planId": plan["plan"], "diagnostics": {"channelMaxShare": "0.75"}}},
        )
    )["planSettingsUpdate"]
    assert done["userErrors"] == []
    assert done["diagnosticsThresholds"]["channelMaxShare"] == "0.75"
    assert done["plan"]["diagnosticsThresholds"]["channelMaxShare"] == "0.75"
    every = (await gql(VERSION_FINDINGS, {"id": plan["version"]}))["node"]["diagnostics"]
    assert [f["code"] for f in every] == ["CHANNEL_PARTNER_UNSUPPORTED"]
    bad = (
        await gql(
            SETTINGS,
            {"input": {"planId": plan["plan"], "diagnostics": {"reviewCadenceDays": -1}}},
        )
    )["planSettingsUpdate"]
    assert bad["userErrors"][0]["code"] == "OUT_OF_RANGE"
    assert bad["userErrors"][0]["field"][-1] == "reviewCadenceDays"
    reset = (
        await gql(
            SETTINGS, {"input": {"planId": plan["plan"], "diagnostics": {"channelMaxShare": None}}}
        )
    )["planSettingsUpdate"]
    assert reset["diagnosticsThresholds"]["channelMaxShare"] == "0.6"
    async with db.session() as session:
        entries = (
            await session.execute(
                text(
                    "SELECT before, after FROM audit_entry "
                    "WHERE action = 'planSettingsUpdate' AND plan_id = :p ORDER BY id"
                ),
                {"p": ids.decode(plan["plan"], "Plan", "p")},
            )
        ).all()
    assert len(entries) == 2  # the refused update wrote nothing
    before, after = entries[0]
    assert before["diagnostics"]["channelMaxShare"] == "0.6" and "attainment" not in before
    assert after["diagnostics"]["channelMaxShare"] == "0.75"


async def test_conflict_from_actuals_and_edit_payload(
    gql: GraphQLClient, db: ConnectionBoundDatabase, plan: dict[str, Any]
) -> None:
    direct, partner = (ids.decode(m, "Member", "m") for m in plan["members"])
    plan_id = ids.decode(plan["plan"], "Plan", "p")
    await insert_sales(
        db,
        plan_id,
        [
            Sale(date(2026, 6, 1), 5000, [direct], customer_ref="ACME"),
            Sale(date(2026, 6, 2), 3000, [partner], customer_ref="ACME"),
            Sale(date(2026, 6, 3), 3000, [partner], customer_ref="SOLO"),
        ],
    )
    codes = await gql(VERSION_FINDINGS, {"id": plan["version"], "codes": ["CHANNEL_CONFLICT"]})
    [conflict] = codes["node"]["diagnostics"]
    assert conflict["measured"] == "1.0000" and conflict["node"]["id"] == plan["root"]
    assert conflict["severity"] == "CRITICAL"
    # an edit that evens the channels out: its payload no longer reports concentration
    done = (
        await gql(
            SET_TARGET,
            {"input": {"nodeId": plan["direct"], "revision": plan["revision"], "target": "500.00"}},
        )
    )["nodeSetTarget"]
    assert done["userErrors"] == []
    assert {f["code"] for f in done["diagnostics"]} == {
        "CHANNEL_CONFLICT",
        "CHANNEL_PARTNER_UNSUPPORTED",
    }
    # and one that piles it back on: the payload warns at once
    again = (
        await gql(
            SET_TARGET,
            {
                "input": {
                    "nodeId": plan["direct"],
                    "revision": done["version"]["revision"],
                    "target": "900.00",
                }
            },
        )
    )["nodeSetTarget"]
    assert "CHANNEL_CONCENTRATION" in {f["code"] for f in again["diagnostics"]}
    # a refused edit has no findings (null), only its user error
    stale = (
        await gql(
            SET_TARGET,
            {"input": {"nodeId": plan["direct"], "revision": 1, "target": "100.00"}},
        )
    )["nodeSetTarget"]
    assert stale["userErrors"] and stale["diagnostics"] is None


async def test_readiness_numbers(gql: GraphQLClient, plan: dict[str, Any]) -> None:
    before = (await gql(READINESS, {"id": plan["version"], "asOf": "2027-01-15"}))["node"][
        "readiness"
    ]
    depth = {d["kind"]: d["depth"] for d in before["dimensions"]}
    assert depth == {"TIME": 0, "REGION": 0, "CHANNEL": 1, "CUSTOMER": 0, "PRODUCT": 0}
    assert before["totalTarget"] == "1000.00" and before["ownedTarget"] == "0.00"
    assert before["ownedShare"] == "0.0000" and before["leaves"] == 2
    assert before["unownedLeafCount"] == 2 and len(before["unownedLeaves"]) == 2
    assert before["actualsThrough"] is None and before["lastReview"] is None
    assert before["reviewsInCadence"] is False and before["reviewCadenceDays"] == 31
    assert before["openAlerts"] == 3  # no sales yet: all three nodes are behind pace
    counts = {c["severity"]: c["count"] for c in before["findingsBySeverity"]}
    assert counts == {"INFO": 0, "WARNING": 2, "CRITICAL": 0}
    li = await person(gql, "Li", "li")
    done = await gql(
        ASSIGN, {"input": {"nodeId": plan["direct"], "revision": plan["revision"], "ownerId": li}}
    )
    assert done["nodeAssignOwner"]["userErrors"] == []
    after = (await gql(READINESS, {"id": plan["version"], "asOf": "2027-01-15"}))["node"][
        "readiness"
    ]
    assert after["ownedTarget"] == "700.00" and after["ownedShare"] == "0.7000"
    assert [n["id"] for n in after["unownedLeaves"]] == [plan["partner"]]


async def test_shared_customers_by_bit_masks_with_or_without_the_known_combinations(
    gql: GraphQLClient,
    db: ConnectionBoundDatabase,
    plan: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Customers in several channel members, counted by their set of members: the same
    whether the member combinations come from the attainment read or are read apart,
    and with masks spread over several words (one bit per word here)."""
    from service.db import diagnostics as diag_sql
    from service.plans.attainment import version_attainment_on

    direct, partner = (ids.decode(m, "Member", "m") for m in plan["members"])
    plan_id = ids.decode(plan["plan"], "Plan", "p")
    await insert_sales(
        db,
        plan_id,
        [
            Sale(date(2027, 2, 1), 100, [direct], customer_ref="A"),
            Sale(date(2027, 2, 2), 100, [partner], customer_ref="A"),
            Sale(date(2027, 3, 1), 100, [direct], customer_ref="B"),
            Sale(date(2027, 3, 2), 100, [partner], customer_ref="B"),
            Sale(date(2027, 3, 3), 100, [partner], customer_ref="C"),
            Sale(date(2027, 3, 4), 100, [direct], customer_ref=None),
            Sale(date(2026, 3, 4), 100, [direct], customer_ref="C"),  # before the range
        ],
    )
    version_id = ids.decode(plan["version"], "PlanVersion", "version")
    low, high = date(2027, 1, 1), date(2028, 1, 1)
    async with db.read_session() as session:
        numbers = await version_attainment_on(session, version_id, date(2027, 12, 31))
        parsed = {t: numbers.combos[i] for t, i in numbers.combo_index.items()}
        known = await diag_sql.shared_customers(session, low, high, parsed)
        read = await diag_sql.shared_customers(session, low, high)
        monkeypatch.setattr(diag_sql, "BITS", 1)
        words = await diag_sql.shared_customers(session, low, high)
    expected = [(sorted([direct, partner]), 2)]
    assert known.combos == read.combos == words.combos == expected
    assert set(known.paths) == {direct, partner}


async def test_the_shared_customers_statement_runs_while_the_caller_computes(
    db: ConnectionBoundDatabase, plan: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statement is sent on entering the block and its rows wait for ``result``;
    a block left by an error gives the connection back free (the statement cancelled
    if it still runs); no split by channel sends nothing."""
    from service.db import diagnostics as diag_sql

    direct, partner = (ids.decode(m, "Member", "m") for m in plan["members"])
    plan_id = ids.decode(plan["plan"], "Plan", "p")
    await insert_sales(
        db,
        plan_id,
        [
            Sale(date(2027, 2, 1), 100, [direct], customer_ref="A"),
            Sale(date(2027, 2, 2), 100, [partner], customer_ref="A"),
        ],
    )
    low, high = date(2027, 1, 1), date(2028, 1, 1)
    async with db.read_session() as session:
        async with diag_sql.started_shared_customers(session, low, high) as running:
            assert running.running is not None  # sent, not awaited by anyone yet
            found = await running.result()
        assert found.combos == [(sorted([direct, partner]), 1)]

        conn = await driver_connection(session)
        # in a savepoint: a statement cancelled in this test's one transaction aborts it
        with pytest.raises(RuntimeError, match="the caller failed"):
            async with (
                conn.transaction(),
                diag_sql.started_shared_customers(session, low, high) as running,
            ):
                raise RuntimeError("the caller failed")
        assert running.running is not None and running.running.done()
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1

        # still running when the block is left: cancelled, not waited out
        slow = diag_sql.SHARED_SQL.replace("FROM per GROUP BY", "FROM per, pg_sleep(30) GROUP BY")
        assert slow != diag_sql.SHARED_SQL
        monkeypatch.setattr(diag_sql, "SHARED_SQL", slow)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="the caller failed"):
            async with (
                conn.transaction(),
                diag_sql.started_shared_customers(session, low, high) as running,
            ):
                await asyncio.sleep(0.2)  # the server is in pg_sleep by now
                raise RuntimeError("the caller failed")
        assert running.running is not None and running.running.cancelled()
        assert time.monotonic() - started < 20
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1

        statements: list[str] = []

        def log(record: Any) -> None:
            statements.append(record.query)

        conn.add_query_logger(log)
        try:
            async with diag_sql.started_shared_customers(session, low, high, skip=True) as running:
                assert running.running is None
                assert (await running.result()).combos == []
            await asyncio.sleep(0)
        finally:
            conn.remove_query_logger(log)
        assert statements == []


async def test_a_bad_diagnostic_threshold_names_its_path_under_diagnostics(
    gql: GraphQLClient,
) -> None:
    """Found by the fuzzer: the field must be a path of the input."""
    plan = await create_plan(gql)
    data = await gql(
        """mutation($input: PlanSettingsUpdateInput!) { planSettingsUpdate(input: $input) {
             userErrors { code field } } }""",
        {"input": {"planId": plan["plan"]["id"], "diagnostics": {"reviewGraceDays": -1}}},
    )
    assert data["planSettingsUpdate"]["userErrors"] == [
        {"code": "OUT_OF_RANGE", "field": ["input", "diagnostics", "reviewGraceDays"]}
    ]
