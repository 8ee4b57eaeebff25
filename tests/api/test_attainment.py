"""Issue 12 items 4-6: attainment, KPIs and alerts on a hand-built tree, known answers.

Plan FY2027 (calendar 2027), target 1200.00: EAST (cities SHANGHAI, WUHAN) 600.00 split
by quarters (150.00 each), WEST 600.00. Li owns EAST, Ana owns WEST. As of 2027-03-31
(90 of 365 days; Q1 closed). Facts (see ``SALES``):

  f1 2027-01-10 SHANGHAI 100.00  C1/O1         -> EAST, Q1, root
  f2 2027-02-20 EAST      20.00  C1/O2         -> EAST, Q1, root (a sale at region level)
  f3 2026-12-31 SHANGHAI  50.00  C2/O0         -> before the period: history only
  f4 2027-04-05 WEST      30.00                -> after asOf: nowhere
  f5 2027-03-15 WEST      40.00  credit Li 25 %, Ana 75 %  -> WEST once; Ana 30.00
  f6 2027-03-20 WUHAN     10.00  C2/O3 credit Li 50 %, Ana 50 %  -> EAST once; Li 5.00
  f7 2027-01-15 EAST       8.00  C3/O4 credit Ana 100 % -> EAST; Li nothing
  f8 2026-02-01 SHANGHAI  25.00  C4/O5         -> history
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import text

from service.api import ids
from service.auth import Role
from service.db.engine import ConnectionBoundDatabase
from tests.api.helpers import create_dimension, create_member, split
from tests.api.test_owners import ASSIGN, person
from tests.conftest import GraphQLClient, StatementCounter
from tests.fact_scaffold import Sale, insert_market_size, insert_opportunities, insert_sales

AS_OF = "2027-03-31"


def money(value: Fraction) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def member_id(gid: str) -> int:
    return ids.decode(gid, "Member", "m")


@pytest.fixture
async def tree(gql: GraphQLClient, db: ConnectionBoundDatabase) -> dict[str, Any]:
    data = await gql(
        """mutation { planCreate(input: {name: "FY27", currency: EUR, fiscalYear: 2027,
             target: "1200.00"}) { plan { id timeDimension { id roots { edges { node {
             id children { edges { node { id code children { edges { node { id code } } } } } }
             } } } } } version { id revision } root { id } userErrors { code } } }"""
    )
    created = data["planCreate"]
    calendar = created["plan"]["timeDimension"]
    year = calendar["roots"]["edges"][0]["node"]
    quarters = [e["node"] for e in year["children"]["edges"]]
    regions = await create_dimension(gql, "Regions")
    east = await create_member(gql, regions, "EAST")
    west = await create_member(gql, regions, "WEST")
    shanghai = await create_member(gql, regions, "SHANGHAI", east)
    wuhan = await create_member(gql, regions, "WUHAN", east)
    top = await split(gql, created["root"]["id"], 1, regions, [east, west])
    east_node, west_node = [c["id"] for c in top["children"]]
    by_q = await split(
        gql, east_node, top["version"]["revision"], calendar["id"], [q["id"] for q in quarters]
    )
    li = await person(gql, "Li Wei", "li")
    ana = await person(gql, "Ana", "ana")
    revision = by_q["version"]["revision"]
    for node, owner in ((east_node, li), (west_node, ana)):
        done = (
            await gql(ASSIGN, {"input": {"nodeId": node, "revision": revision, "ownerId": owner}})
        )["nodeAssignOwner"]
        assert done["userErrors"] == []
        revision = done["version"]["revision"]
    plan_id = ids.decode(created["plan"]["id"], "Plan", "p")
    li_id, ana_id = ids.decode(li, "Owner", "o"), ids.decode(ana, "Owner", "o")
    sh, wu, ea, we = (member_id(m) for m in (shanghai, wuhan, east, west))
    await insert_sales(
        db,
        plan_id,
        [
            Sale(date(2027, 1, 10), 10000, [sh], order_ref="O1", customer_ref="C1"),
            Sale(date(2027, 2, 20), 2000, [ea], order_ref="O2", customer_ref="C1"),
            Sale(date(2026, 12, 31), 5000, [sh], order_ref="O0", customer_ref="C2"),
            Sale(date(2027, 4, 5), 3000, [we]),
            Sale(date(2027, 3, 15), 4000, [we], credits={li_id: "0.25", ana_id: "0.75"}),
            Sale(
                date(2027, 3, 20),
                1000,
                [wu],
                credits={li_id: "0.5", ana_id: "0.5"},
                order_ref="O3",
                customer_ref="C2",
            ),
            Sale(
                date(2027, 1, 15),
                800,
                [ea],
                credits={ana_id: "1"},
                order_ref="O4",
                customer_ref="C3",
            ),
            Sale(date(2026, 2, 1), 2500, [sh], order_ref="O5", customer_ref="C4"),
        ],
    )
    await insert_opportunities(
        db,
        plan_id,
        [
            (date(2027, 2, 1), "WON", 100, [sh]),
            (date(2027, 3, 1), "LOST", 100, [ea]),
            (date(2027, 5, 1), "WON", 100, [wu]),
            (date(2027, 2, 1), "LOST", 100, [we]),
        ],
    )
    await insert_market_size(db, plan_id, ea, date(2027, 1, 1), date(2028, 1, 1), 100000)
    return {
        "plan": created["plan"]["id"],
        "version": created["version"]["id"],
        "revision": revision,
        "root": created["root"]["id"],
        "east": east_node,
        "west": west_node,
        "quarters": [c["id"] for c in by_q["children"]],
        "li": li,
        "ana": ana,
        "regions": regions,
        "members": {"EAST": east, "WEST": west, "SHANGHAI": shanghai, "WUHAN": wuhan},
        "calendar": calendar["id"],
        "quarter_members": quarters,
    }


ATTAINMENT = """fragment A on Attainment { asOf periodStart periodEnd target actual targetToDate
  attainmentPercent pace forecast seasonalForecast gap gapToDate status }
query($id: ID!, $asOf: Date) { node(id: $id) { ... on TargetNode {
  attainment(asOf: $asOf) { ...A } } } }"""


async def attainment(gql: GraphQLClient, node: str, as_of: str = AS_OF) -> dict[str, Any]:
    data = await gql(ATTAINMENT, {"id": node, "asOf": as_of}, role=Role.VIEWER)
    return data["node"]["attainment"]  # type: ignore[no-any-return]


async def test_known_answers_on_a_hand_built_tree(gql: GraphQLClient, tree: dict[str, Any]) -> None:
    root = await attainment(gql, tree["root"])
    # f1 f2 f5 f6 f7: the city sale counts for its region and the root; f3 (2026) and f4
    # (after asOf) do not; credited sales count once.
    assert root["actual"] == "178.00"
    assert root["target"] == "1200.00"
    assert root["periodStart"] == "2027-01-01" and root["periodEnd"] == "2028-01-01"
    assert root["targetToDate"] == money(Fraction(120000 * 90, 365) / 100)
    assert root["gap"] == "1022.00"
    assert root["attainmentPercent"] == "14.83"

    east = await attainment(gql, tree["east"])
    assert east["actual"] == "138.00"
    # From the time split: Q1 closed (150.00 whole), Q2..Q4 not started.
    assert east["targetToDate"] == "150.00"
    assert east["pace"] == "0.9200"
    assert east["status"] == "AT_RISK"
    assert east["gapToDate"] == "12.00"
    assert east["forecast"] == money(Fraction(13800 * 365, 90) / 100)  # 559.67
    # History: 2026 had 75.00 in EAST, 25.00 of it by 31 March: a third.
    assert east["seasonalForecast"] == "414.00"

    q1, q2 = [await attainment(gql, q) for q in tree["quarters"][:2]]
    assert q1["actual"] == "138.00" and q1["targetToDate"] == "150.00"
    assert q1["periodStart"] == "2027-01-01" and q1["periodEnd"] == "2027-04-01"
    assert q1["forecast"] == "138.00"  # the period is over
    assert q2["status"] == "NOT_STARTED" and q2["actual"] == "0.00"
    assert q2["targetToDate"] == "0.00" and q2["pace"] is None and q2["forecast"] is None

    west = await attainment(gql, tree["west"])
    assert west["actual"] == "40.00"  # f4 is after asOf
    assert west["targetToDate"] == money(Fraction(60000 * 90, 365) / 100)
    assert west["status"] == "BEHIND"
    assert west["seasonalForecast"] is None  # no history

    # A fact after asOf counts once asOf passes it.
    later = await attainment(gql, tree["west"], "2027-04-05")
    assert later["actual"] == "70.00"
    # Pro rata by days mid-quarter: on 15 February Q1 is 46 of 90 days in.
    mid = await attainment(gql, tree["east"], "2027-02-15")
    assert mid["targetToDate"] == money(Fraction(15000 * 46, 90) / 100)
    assert mid["actual"] == "108.00"


OWNER = """query($id: ID!, $v: ID!, $asOf: Date) { node(id: $id) { ... on Owner {
  quota(version: $v) { total attainment(asOf: $asOf) { target actual targetToDate pace status
  periodStart } } } } }"""


async def test_split_credit_is_shared_among_owners_and_counted_once_in_the_tree(
    gql: GraphQLClient, tree: dict[str, Any]
) -> None:
    async def owner(gid: str) -> dict[str, Any]:
        data = await gql(OWNER, {"id": gid, "v": tree["version"], "asOf": AS_OF})
        return data["node"]["quota"]["attainment"]  # type: ignore[no-any-return]

    li, ana = await owner(tree["li"]), await owner(tree["ana"])
    # Li holds EAST: f1 + f2 whole (no credits), half of f6, nothing of f7 (Ana's alone).
    assert li["target"] == "600.00" and li["actual"] == "125.00"
    assert li["targetToDate"] == "150.00" and li["periodStart"] is None
    assert li["pace"] == "0.8333" and li["status"] == "AT_RISK"
    # Ana holds WEST: 75 % of f5. Her credits in EAST (f6, f7) are outside her nodes.
    assert ana["actual"] == "30.00"
    # The tree counts every credited sale once, whatever the shares.
    assert (await attainment(gql, tree["west"]))["actual"] == "40.00"
    assert (await attainment(gql, tree["east"]))["actual"] == "138.00"


KPIS = """query($id: ID!, $asOf: Date) { node(id: $id) { ... on TargetNode {
  kpis { newCustomers actual(asOf: $asOf) { asOf newCustomers customers orders
    averageOrderValue repeatPurchaseRate winRate marketShare } } } } }"""


async def test_kpi_actuals_beside_the_targets(gql: GraphQLClient, tree: dict[str, Any]) -> None:
    data = await gql(KPIS, {"id": tree["east"], "asOf": AS_OF}, role=Role.VIEWER)
    kpis = data["node"]["kpis"]
    assert kpis["newCustomers"] is None  # the target, unchanged (none set)
    actual = kpis["actual"]
    assert actual["orders"] == 4  # O1 O2 O3 O4
    assert actual["averageOrderValue"] == "34.50"  # 138.00 / 4
    assert actual["customers"] == 3  # C1 C2 C3
    assert actual["repeatPurchaseRate"] == "0.3333"  # C1 ordered twice
    assert actual["newCustomers"] == 2  # C1, C3; C2 first bought in 2026
    assert actual["winRate"] == "0.5000"  # SHANGHAI won, EAST lost; WUHAN's is after asOf
    # 138.00 / (1000.00 * 90 / 365)
    assert actual["marketShare"] == "0.5597"
    west = await gql(KPIS, {"id": tree["west"], "asOf": AS_OF}, role=Role.VIEWER)
    w = west["node"]["kpis"]["actual"]
    assert w["orders"] == 0 and w["averageOrderValue"] is None
    assert w["winRate"] == "0.0000" and w["marketShare"] is None
    assert w["repeatPurchaseRate"] is None


ALERTS = """query($v: ID!, $asOf: Date, $below: Decimal) { planVersion(id: $v) {
  alerts(asOf: $asOf, belowPace: $below) { threshold node { id } attainment { pace actual
  targetToDate status } } } }"""


async def test_alerts_list_nodes_behind_pace_with_their_numbers(
    gql: GraphQLClient, tree: dict[str, Any]
) -> None:
    data = await gql(ALERTS, {"v": tree["version"], "asOf": AS_OF}, role=Role.VIEWER)
    alerts = data["planVersion"]["alerts"]
    assert [a["node"]["id"] for a in alerts] == [tree["west"], tree["root"]]
    assert alerts[0]["threshold"] == "0.80"
    assert alerts[0]["attainment"]["actual"] == "40.00"
    assert alerts[0]["attainment"]["status"] == "BEHIND"
    wider = await gql(
        ALERTS, {"v": tree["version"], "asOf": AS_OF, "below": "0.93"}, role=Role.VIEWER
    )
    assert [a["node"]["id"] for a in wider["planVersion"]["alerts"]] == [
        tree["west"],
        tree["root"],
        tree["east"],
        tree["quarters"][0],
    ]


RANKING = """query($v: ID!, $asOf: Date, $by: RankBy!, $first: Int, $after: String) {
  planVersion(id: $v) { attainmentRanking(asOf: $asOf, by: $by, first: $first, after: $after) {
  totalCount edges { cursor node { id } } pageInfo { hasNextPage } }
  ownerRanking(asOf: $asOf, by: $by) { owner { name } attainment { pace gap } } } }"""


async def test_ranked_list_furthest_behind_first(gql: GraphQLClient, tree: dict[str, Any]) -> None:
    data = await gql(RANKING, {"v": tree["version"], "asOf": AS_OF, "by": "PACE"}, role=Role.VIEWER)
    ranking = data["planVersion"]["attainmentRanking"]
    order = [e["node"]["id"] for e in ranking["edges"]]
    # pace: WEST 0.27, root 0.60, EAST 0.92 = Q1 0.92 (tree order), then Q2..Q4 (no pace).
    assert order == [tree["west"], tree["root"], tree["east"], *tree["quarters"]]
    assert ranking["totalCount"] == 7
    page = await gql(
        RANKING,
        {
            "v": tree["version"],
            "asOf": AS_OF,
            "by": "PACE",
            "first": 2,
            "after": ranking["edges"][1]["cursor"],
        },
        role=Role.VIEWER,
    )
    assert [e["node"]["id"] for e in page["planVersion"]["attainmentRanking"]["edges"]] == [
        tree["east"],
        tree["quarters"][0],
    ]
    owners = data["planVersion"]["ownerRanking"]
    assert [o["owner"]["name"] for o in owners] == ["Ana", "Li Wei"]
    by_gap = await gql(
        RANKING, {"v": tree["version"], "asOf": AS_OF, "by": "GAP"}, role=Role.VIEWER
    )
    gaps = [e["node"]["id"] for e in by_gap["planVersion"]["attainmentRanking"]["edges"]]
    assert gaps[:3] == [tree["root"], tree["west"], tree["east"]]  # 1022, 560, 462


SETTINGS = """mutation($input: PlanSettingsUpdateInput!) { planSettingsUpdate(input: $input) {
  attainmentThresholds { onTrackPace atRiskPace alertPace } plan { attainmentThresholds {
  onTrackPace } } userErrors { code field message } } }"""


async def test_status_thresholds_per_plan_at_their_boundaries(
    gql: GraphQLClient, tree: dict[str, Any], db: ConnectionBoundDatabase
) -> None:
    # EAST's pace is exactly 0.92.
    async def status() -> str:
        return (await attainment(gql, tree["east"]))["status"]  # type: ignore[no-any-return]

    async def update(**values: Any) -> dict[str, Any]:
        data = await gql(SETTINGS, {"input": {"planId": tree["plan"], **values}})
        return data["planSettingsUpdate"]  # type: ignore[no-any-return]

    done = await update(onTrackPace="0.92", reason="tighter")
    assert done["userErrors"] == []
    assert done["attainmentThresholds"] == {
        "onTrackPace": "0.92",
        "atRiskPace": "0.80",
        "alertPace": "0.80",
    }
    assert await status() == "ON_TRACK"  # the boundary belongs to the better status
    await update(onTrackPace="0.9201")
    assert await status() == "AT_RISK"
    await update(onTrackPace="1", atRiskPace="0.92")
    assert await status() == "AT_RISK"
    await update(atRiskPace="0.9201")
    assert await status() == "BEHIND"
    reset = await update(onTrackPace=None, atRiskPace=None)
    assert reset["attainmentThresholds"]["onTrackPace"] == "0.95"
    bad = await update(atRiskPace="0.99")
    assert bad["userErrors"][0]["code"] == "OUT_OF_RANGE"
    assert bad["userErrors"][0]["field"] == ["input", "atRiskPace"]
    assert (await update(alertPace="0"))["userErrors"][0]["code"] == "OUT_OF_RANGE"
    async with db.session() as session:
        entries = (
            await session.execute(
                text(
                    "SELECT actor, before, after, reason FROM audit_entry "
                    "WHERE action = 'planSettingsUpdate' AND plan_id = :p ORDER BY id"
                ),
                {"p": ids.decode(tree["plan"], "Plan", "p")},
            )
        ).all()
    assert len(entries) == 5  # the refused updates wrote nothing
    actor, before, after, reason = entries[0]
    assert actor == "tester"
    assert before == {
        "attainment": {"onTrackPace": "0.95", "atRiskPace": "0.80", "alertPace": "0.80"}
    }
    assert after["attainment"]["onTrackPace"] == "0.92" and reason == "tighter"


PAGE = """query($v: ID!, $first: Int, $asOf: Date) { planVersion(id: $v) { nodes(first: $first) {
  edges { node { id attainment(asOf: $asOf) { actual pace status } } } } } }"""


async def test_a_page_of_nodes_with_attainment_takes_a_fixed_number_of_statements(
    gql: GraphQLClient, tree: dict[str, Any], statements: StatementCounter
) -> None:
    counts = []
    for first in (1, 7):
        statements.reset()
        data = await gql(PAGE, {"v": tree["version"], "first": first, "asOf": AS_OF})
        assert len(data["planVersion"]["nodes"]["edges"]) == first
        counts.append(statements.count)
    assert counts[0] == counts[1], statements.statements
    # The generation, the version, the page of nodes, the plan, the attainment header,
    # the nodes' slices and member paths, then one sales statement per fiscal year of
    # history (4 in this tree): the driver-level ones are counted too (tests/conftest).
    assert counts[1] <= 7 + 4, statements.statements


SLICE = """query($v: ID!, $slice: [SliceInput!]) { planVersion(id: $v) {
  nodes(slice: $slice, first: 50) { edges { node { slice { member { code } } } } } } }"""


async def test_nodes_by_slice_understand_hierarchies(gql: GraphQLClient) -> None:
    created = (
        await gql(
            """mutation { planCreate(input: {name: "P", currency: EUR, fiscalYear: 2027,
             target: "100.00"}) { plan { timeDimension { id roots { edges { node {
             children { edges { node { id code children { edges { node { id code } } } } } }
             } } } } } version { id } root { id } userErrors { code } } }"""
        )
    )["planCreate"]
    calendar = created["plan"]["timeDimension"]
    q1 = calendar["roots"]["edges"][0]["node"]["children"]["edges"][0]["node"]
    months = [e["node"]["id"] for e in q1["children"]["edges"]]
    regions = await create_dimension(gql, "Regions")
    east = await create_member(gql, regions, "EAST")
    cities = [await create_member(gql, regions, c, east) for c in ("SHANGHAI", "WUHAN")]
    top = await split(gql, created["root"]["id"], 1, regions, cities)  # straight by cities
    revision = top["version"]["revision"]
    done = await split(gql, top["children"][0]["id"], revision, calendar["id"], months)
    assert done["userErrors"] == []

    async def codes(slice: list[dict[str, str]]) -> list[list[str]]:
        data = await gql(SLICE, {"v": created["version"]["id"], "slice": slice})
        return [
            [c["member"]["code"] for c in e["node"]["slice"]]
            for e in data["planVersion"]["nodes"]["edges"]
        ]

    # A country (EAST) finds the nodes of its cities.
    found = await codes([{"dimensionId": regions, "memberId": east}])
    assert found == [
        ["SHANGHAI"],
        ["SHANGHAI", "FY2027-M01"],
        ["SHANGHAI", "FY2027-M02"],
        ["SHANGHAI", "FY2027-M03"],
        ["WUHAN"],
    ]
    # A quarter finds the nodes of its months; with a city, only that city's.
    by_quarter = await codes([{"dimensionId": calendar["id"], "memberId": q1["id"]}])
    assert len(by_quarter) == 3
    both = await codes(
        [
            {"dimensionId": calendar["id"], "memberId": q1["id"]},
            {"dimensionId": regions, "memberId": cities[1]},
        ]
    )
    assert both == []
    exact = await gql(
        """query($v: ID!, $slice: [SliceInput!]) { planVersion(id: $v) {
          nodes(slice: $slice, exact: true) { edges { node { id } } } } }""",
        {"v": created["version"]["id"], "slice": [{"dimensionId": regions, "memberId": east}]},
    )
    assert exact["planVersion"]["nodes"]["edges"] == []  # exact stays exact


async def test_a_few_nodes_read_on_their_slices_have_the_whole_versions_numbers(
    gql: GraphQLClient, tree: dict[str, Any], db: ConnectionBoundDatabase
) -> None:
    """``nodes_attainment_on`` (the sales of the asked nodes' slices only) gives what the
    whole version gives, node by node: every node alone, and random sets of nodes, at
    dates before, inside and after the year, on a tree with a time split, a member
    hierarchy (cities under EAST) and splits below the time split."""
    import random

    from service.plans.attainment import nodes_attainment_on, version_attainment_on

    members = tree["members"]
    q1 = tree["quarters"][0]
    cities = await split(
        gql, q1, tree["revision"], tree["regions"], [members["SHANGHAI"], members["WUHAN"]]
    )
    assert len(cities["children"]) == 2
    version_id = ids.decode(tree["version"], "PlanVersion", "version")
    rnd = random.Random(12)
    for as_of in (date(2026, 6, 1), date(2027, 1, 20), date(2027, 3, 31), date(2028, 2, 1)):
        async with db.read_session() as session:
            whole = await version_attainment_on(session, version_id, as_of)
        keys = [n.key for n in whole.nodes]
        picks = [[k] for k in keys] + [rnd.sample(keys, rnd.randint(2, 4)) for _ in range(6)]
        for pick in picks:
            async with db.read_session() as session:
                part = await nodes_attainment_on(session, version_id, as_of, pick)
            for k in pick:
                assert part.node(k) == whole.node(k), (as_of, pick, k)
        with pytest.raises(RuntimeError):
            part.all_nodes()  # version-wide numbers need the whole version


async def test_node_attainment_through_the_api_reads_its_slice_and_agrees_with_the_ranking(
    gql: GraphQLClient, tree: dict[str, Any]
) -> None:
    alone = await attainment(gql, tree["east"])
    data = await gql(
        """query($v: ID!, $asOf: Date) { planVersion(id: $v) {
             attainmentRanking(asOf: $asOf, first: 50) { edges { node { id
             attainment(asOf: $asOf) { actual targetToDate pace status seasonalForecast } } } }
           } }""",
        {"v": tree["version"], "asOf": AS_OF},
        role=Role.VIEWER,
    )
    ranked = {
        e["node"]["id"]: e["node"]["attainment"]
        for e in data["planVersion"]["attainmentRanking"]["edges"]
    }
    for name in ("actual", "targetToDate", "pace", "status", "seasonalForecast"):
        assert ranked[tree["east"]][name] == alone[name]
