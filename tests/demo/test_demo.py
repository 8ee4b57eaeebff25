"""The demo company: deterministic, loaded through the use cases, a complete plan."""

from __future__ import annotations

from decimal import Decimal
from itertools import islice

import pytest

from service.api import ids
from service.domain import demo as data
from service.domain.tree import InvalidInputError
from service.plans.demo import load_demo
from service.plans.demo_summary import summary
from service.plans.diagnostics import diagnose_version
from tests.demo.conftest import ADMIN, Demo


def test_the_same_seed_gives_the_same_company_to_the_cent() -> None:
    one, two, other = data.generate(7), data.generate(7), data.generate(8)
    assert one.customers == two.customers
    assert list(islice(one.sales(), 2_000)) == list(islice(two.sales(), 2_000))
    assert list(islice(one.opportunities(), 500)) == list(islice(two.opportunities(), 500))
    assert list(islice(one.sales(), 2_000)) != list(islice(other.sales(), 2_000))


def test_the_default_company_has_the_size_and_shape_the_issue_asks_for() -> None:
    company = data.generate()
    assert len(company.customers) == 400
    assert {c.tier for c in company.customers} == {"A", "B", "C"}
    assert {c.lifecycle for c in company.customers} == {"NEW", "EXISTING"}
    assert len(company.products) == 12
    assert [p.lifecycle for p in company.products].count("FLAGSHIP") == 1
    assert len([p for p in company.products if p.launch is not None]) == 2
    assert len(data.CITIES) + len(data.AREAS) + 1 == len(company.regions)
    rows = list(company.sales())
    assert 190_000 <= len(rows) <= 230_000
    assert max(r[1] for r in rows) <= data.AS_OF  # type: ignore[operator]
    # the channel shift: online's share of the lines grows every year
    share = {}
    for year in (*data.HISTORY_YEARS, data.PLAN_YEAR):
        lines = [r for r in rows if r[1].year == year]  # type: ignore[attr-defined]
        share[year] = sum(1 for r in lines if r[7] == "ONLINE") / len(lines)
    assert share[2024] < share[2025] < share[2026] < share[2027]
    # new products sell only from their launch
    for p in company.products:
        if p.launch is not None:
            assert all(r[1] >= p.launch for r in rows if r[9] == p.code)  # type: ignore[operator]


async def test_the_plan_is_built_published_tracked_reviewed_and_replanned(demo: Demo) -> None:
    loaded = demo.loaded
    version = ids.encode("PlanVersion", loaded.version_id)
    data_ = await demo.gql(
        """query($id: ID!) { planVersion(id: $id) {
            state plan { name fiscalYear }
            root { target explanation children { target slice { member { code } } } }
            owners { unownedLeaves { id } }
            reviews { totalCount }
            alerts(asOf: "2027-06-30", first: 3) { node { id } attainment { status } }
        } }""",
        {"id": version},
    )
    v = data_["planVersion"]
    assert v["state"] == "PUBLISHED"
    assert v["plan"] == {"name": "Demo Co FY2027 revenue", "fiscalYear": 2027}
    assert v["root"]["explanation"]["method"] == "HISTORY_GROWTH"
    children = v["root"]["children"]
    assert [c["slice"][-1]["member"]["code"] for c in children] == ["NORTH", "SOUTH", "WEST"]
    assert sum(Decimal(c["target"]) for c in children) == Decimal(v["root"]["target"])
    assert v["owners"]["unownedLeaves"] == []
    assert v["reviews"]["totalCount"] == 1
    assert v["alerts"] and v["alerts"][0]["attainment"]["status"] == "BEHIND"
    replanned = await demo.gql(
        """query($id: ID!) { planVersion(id: $id) { state replanAsOf replanReview { notes } } }""",
        {"id": ids.encode("PlanVersion", loaded.replan_version_id)},
    )
    assert replanned["planVersion"]["state"] == "DRAFT"
    assert replanned["planVersion"]["replanAsOf"] == "2027-06-30"
    assert "West" in replanned["planVersion"]["replanReview"]["notes"]


async def test_the_summary_shows_the_top_levels_and_the_worst_alerts(demo: Demo) -> None:
    lines = await summary(demo.db, demo.loaded)
    text = "\n".join(lines)
    for name in ("Demo Co FY2027 revenue", "North", "South", "West", "Munich", "Cologne"):
        assert name in text
    assert "Worst alerts" in text
    west = next(line for line in lines if line.strip().startswith("West"))
    assert "BEHIND" in west
    # The diagnostics the demo's plan trips, most severe first, with their count.
    diagnosis = await diagnose_version(demo.db, demo.loaded.version_id, data.AS_OF)
    assert diagnosis.findings, "the demo plan is meant to trip some rules"
    header = next(line for line in lines if line.startswith("Diagnostics found:"))
    counts = header.removeprefix("Diagnostics found:").split(";")[0].split(",")
    assert sum(int(part.split()[0]) for part in counts) == len(diagnosis.findings)
    shown = {f.code.value for f in diagnosis.findings}
    listed = [line.split()[1] for line in lines[lines.index(header) + 1 :: 2] if line.strip()]
    assert listed and set(listed) <= shown


async def test_loading_the_demo_again_is_refused_and_changes_nothing(demo: Demo) -> None:
    steps: list[str] = []
    with pytest.raises(InvalidInputError) as refused:
        await load_demo(demo.db, ADMIN, 2027, steps.append, lines_per_month=10)
    assert refused.value.code == "DUPLICATE"
    assert "fresh data folder" in refused.value.message
    assert steps == []
    counted = await demo.gql("{ plans { totalCount } }")
    assert counted["plans"]["totalCount"] == 2
