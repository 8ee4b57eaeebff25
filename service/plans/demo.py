"""``quotatree demo``: load the demo company and build next year's plan on it.

Everything goes through the service's own use cases, as the GraphQL mutations
do (dimensions, members, owners, plans, fact imports, splits, node updates,
version transitions, reviews, re-plans): the demo exercises the same rules,
audit trail and revisions a client would.

The plan is built the way the method prescribes:

1. the overall target from three years of actuals and a growth rate;
2. areas by a BLEND of history (60 %) and market potential (40 %), cities alike;
3. in South, one two-way split cities x products fitted to both margins (history
   of each city and each product; the two new products get a reserved share);
   each of its cells split into quarters SEASONAL, the new products with their
   launch and sales-cycle lag;
4. elsewhere channels by history (the channel shift shows), direct sales by
   customer tier, then product categories;
5. owners on every leaf (a city's channel or a South city holds its subtree),
   strategies and KPI targets on the areas;
6. version 1 submitted, approved and published; actuals up to mid-year imported;
   a review of the area behind plan, and a re-plan from it as a new draft.

A database holding the demo already is refused (the dimension names are taken);
run it on a fresh data folder (``--data-dir``) or database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from service.auth import Principal
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import Member, PlanVersion
from service.domain import demo as data
from service.domain.allocation import AllocationMethod, NoHistoryRule, ProfileSource
from service.domain.facts import FactKind
from service.domain.hierarchy import MemberRow
from service.domain.splits import BlendPart, ChildValues, SplitOptions, SplitSpec
from service.domain.tree import DimensionKind, InvalidInputError
from service.plans import dimensions, nodes, owners, plans, replan, reviews, splits, versions
from service.plans.imports import USE_CASES, FactsImport, ImportResult, content_hash
from service.plans.uow import Change

Step = Callable[[str], None]
"""Told what the demo does next (command-line progress)."""

DIMENSIONS = ("Regions", "Channels", "Customers", "Products")
PLAN_NAME = f"Demo Co FY{data.PLAN_YEAR} revenue"
GROWTH = Decimal("0.08")
YEARS = data.HISTORY_YEARS


@dataclass(frozen=True, slots=True)
class DemoLoaded:
    plan_id: int
    version_id: int
    """Version 1, published."""
    replan_version_id: int
    root_key: int
    review_id: int
    facts: int
    nodes: int


class _Builder:
    def __init__(self, db: Database, change: Change, company: data.Company, step: Step) -> None:
        self.db = db
        self.change = change
        self.company = company
        self.step = step
        self.ids: dict[str, dict[str, int]] = {}
        self.revision = 0
        self.version_id = 0
        self.facts = 0
        self.nodes = 1
        self.areas: dict[str, int] = {}
        self.quarters: list[Member] = []
        self.cube = data.history_cube(company)

    # --- use cases ---------------------------------------------------------------------

    async def _dimension(
        self, name: str, kind: DimensionKind, rows: list[MemberRow], tiers: Sequence[str] | None
    ) -> None:
        dimension = await dimensions.create_dimension(
            self.db, self.change, dimensions.DimensionCreate(name, kind, tiers)
        )
        loaded = await dimensions.load_members(
            self.db, self.change, dimensions.MembersLoad(dimension.id, rows)
        )
        self.ids[name] = {m.code: m.id for m in loaded.members}
        self.ids[name][""] = dimension.id

    async def _import(self, kind: FactKind, plan_id: int, key: str, header: Sequence[str],
                      rows: Iterable[tuple[object, ...]]) -> ImportResult:  # fmt: skip
        seed = self.company.seed
        result = await USE_CASES[kind](
            self.db,
            self.change,
            FactsImport(
                kind=kind,
                plan_id=plan_id,
                batch_key=f"demo-{seed}-{key}",
                request_hash=content_hash(kind, plan_id, [f"demo:{seed}:{key}".encode()]),
                rows=enumerate(rows, start=1),
                header=header,
                source=f"quotatree demo --seed {seed}",
            ),
        )
        self.facts += result.stored
        return result

    def _track(self, version: PlanVersion) -> None:
        self.revision = version.revision

    async def split(
        self, key: int, dimension: str, codes: Sequence[str], spec: SplitSpec
    ) -> list[tuple[str, int, int]]:
        """Split node ``key``; (code, child key, target) of each child."""
        ids = self.ids[dimension]
        done = await splits.split_node(
            self.db,
            self.change,
            splits.Split(
                version_id=self.version_id,
                key=key,
                revision=self.revision,
                dimension_id=ids[""],
                member_ids=[ids[c] for c in codes],
                spec=spec,
            ),
        )
        self._track(done.version)
        self.nodes += len(done.children)
        return [(c, n.key, n.target) for c, n in zip(codes, done.children, strict=True)]

    async def own(self, key: int, subject: str) -> None:
        done = await owners.assign_owner(
            self.db,
            self.change,
            owners.OwnerAssign(self.version_id, key, self.revision, self.ids["owners"][subject]),
        )
        self._track(done.version)

    # --- the steps ---------------------------------------------------------------------

    async def check_fresh(self) -> None:
        async with self.db.session() as session:
            for name in DIMENSIONS:
                if await repo.dimension_by_name(session, name) is not None:
                    raise InvalidInputError(
                        "DUPLICATE",
                        f"this database has a dimension named {name!r} already (the demo, or "
                        "data of your own): the demo needs an empty database; run it on a "
                        "fresh data folder (quotatree demo --data-dir DIR) or database",
                        "database",
                    )

    async def members(self) -> None:
        c = self.company
        self.step("members: regions, channels, 400 customers, products")
        potential: dict[str, int] = defaultdict(int)
        for r in c.regions:
            if r.potential:
                potential[r.code] += r.potential
                parent = r.parent
                while parent:
                    potential[parent] += r.potential
                    parent = next(p.parent for p in c.regions if p.code == parent)
        await self._dimension(
            "Regions",
            DimensionKind.REGION,
            [
                MemberRow(i, r.code, r.name, r.parent, i, {"marketPotential": potential[r.code]})
                for i, r in enumerate(c.regions, start=1)
            ],
            None,
        )
        await self._dimension(
            "Channels",
            DimensionKind.CHANNEL,
            [
                MemberRow(i, code, name, None, i, {"channelType": kind})
                for i, (code, name, kind) in enumerate(c.channels, start=1)
            ],
            None,
        )
        tier_rows = [
            MemberRow(i, code, name, None, i, {"tier": code[-1]})
            for i, (code, name) in enumerate(c.tiers, start=1)
        ]
        customer_rows = [
            MemberRow(
                len(tier_rows) + i,
                cu.code,
                cu.name,
                f"TIER-{cu.tier}",
                i,
                {
                    "tier": cu.tier,
                    "size": cu.size,
                    "industry": cu.industry,
                    "customerLifecycle": cu.lifecycle,
                },
            )
            for i, cu in enumerate(c.customers, start=1)
        ]
        await self._dimension(
            "Customers", DimensionKind.CUSTOMER, tier_rows + customer_rows, ("A", "B", "C")
        )
        category_rows = [
            MemberRow(i, code, name, None, i, {"category": name})
            for i, (code, name) in enumerate(c.categories, start=1)
        ]
        names = dict(c.categories)
        product_rows = [
            MemberRow(
                len(category_rows) + i,
                p.code,
                p.name,
                p.category,
                i,
                {
                    "category": names[p.category],
                    "productLifecycle": p.lifecycle,
                    "salesCycleDays": p.sales_cycle_days,
                    **({"launchDate": p.launch.isoformat()} if p.launch else {}),
                },
            )
            for i, p in enumerate(c.products, start=1)
        ]
        await self._dimension("Products", DimensionKind.PRODUCT, category_rows + product_rows, None)
        self.step(f"owners: {len(c.people)} people")
        self.ids["owners"] = {}
        for person in c.people:
            owner = await owners.create_person(
                self.db,
                self.change,
                owners.PersonCreate(person.name, person.subject, person.email),
            )
            self.ids["owners"][person.subject] = owner.id

    async def history(self) -> int:
        """Last year's plan (the facts are checked against its calendar) and three years
        of sales, opportunity outcomes and market sizes."""
        last = data.HISTORY_YEARS[-1]
        created = await plans.create_plan(
            self.db,
            self.change,
            plans.PlanCreate(
                name=f"Demo Co FY{last} revenue",
                fiscal_year=last,
                target=Decimal("265000000.00"),
                currency=data.CURRENCY,
            ),
        )
        plan_id = created.plan.id
        self.step("history: ~175,000 sales lines of FY2024-FY2026 (import, COPY)")
        await self._import(
            FactKind.SALES, plan_id, "sales-history", data.SALES_HEADER,
            self.company.history_sales(),
        )  # fmt: skip
        self.step("history: opportunity outcomes and market sizes")
        await self._import(
            FactKind.OPPORTUNITY, plan_id, "opportunities", data.OPPORTUNITY_HEADER,
            self.company.opportunities(),
        )  # fmt: skip
        await self._import(
            FactKind.MARKET_SIZE, plan_id, "market-sizes", data.MARKET_HEADER,
            self.company.market_sizes(),
        )  # fmt: skip
        return plan_id

    async def plan(self) -> tuple[int, int]:
        self.step(f"plan: FY{data.PLAN_YEAR} target from FY2026 actuals + {GROWTH:.0%}")
        created = await plans.create_plan(
            self.db,
            self.change,
            plans.PlanCreate(
                name=PLAN_NAME,
                fiscal_year=data.PLAN_YEAR,
                target=None,
                currency=data.CURRENCY,
                from_history=plans.TargetHistory(fiscal_years=YEARS, growth=GROWTH),
            ),
        )
        self.version_id = created.version.id
        self._track(created.version)
        plan = created.plan
        async with self.db.session() as session:
            assert plan.time_dimension_id is not None
            calendar = await repo.members_of_dimension(session, plan.time_dimension_id)
        self.ids["time"] = {m.code: m.id for m in calendar}
        self.ids["time"][""] = plan.time_dimension_id
        self.quarters = [m for m in calendar if m.code.endswith(("Q1", "Q2", "Q3", "Q4"))]
        return plan.id, created.root.key

    def spec(
        self,
        method: AllocationMethod,
        where: dict[str, str],
        axis: str,
        dimension: str,
        codes: Sequence[str],
        **options: Any,
    ) -> SplitSpec:
        """A split's spec with each child's history inline (per history year, oldest
        first), summed from the generated sales inside the node's slice ``where``."""
        ids = self.ids[dimension]
        found = self.cube.history(where, axis, list(codes))
        return SplitSpec(
            method,
            children=[ChildValues(ids[c], history=found[c]) for c in codes],
            options=SplitOptions(**options),
        )

    async def tree(self, root: int) -> None:
        c = self.company
        mix = (
            BlendPart(AllocationMethod.HISTORY, Decimal("0.6")),
            BlendPart(AllocationMethod.POTENTIAL, Decimal("0.4")),
        )
        self.step("split: areas by BLEND of history (60 %) and market potential (40 %)")
        codes = [a.code for a in data.AREAS]
        spec = self.spec(AllocationMethod.BLEND, {}, "area", "Regions", codes, blend=mix)
        areas = await self.split(root, "Regions", codes, spec)
        self.areas = {code: key for code, key, _ in areas}
        await self.own(root, c.people[0].subject)
        holders = {p.holds: p.subject for p in c.people}
        kpis = {
            "NORTH": {"winRate": "0.30", "newCustomers": 12},
            "SOUTH": {"winRate": "0.32", "newCustomers": 18},
            "WEST": {"winRate": "0.28", "newCustomers": 6},
        }
        channels = [ch[0] for ch in c.channels]
        tiers = [t[0] for t in c.tiers]
        categories = [k for k, _ in c.categories]
        history = AllocationMethod.HISTORY
        for code, key, _ in areas:
            done = await nodes.update(
                self.db,
                self.change,
                nodes.NodeUpdate(
                    self.version_id,
                    key,
                    self.revision,
                    strategy=c.strategies[code],
                    kpis=kpis[code],
                ),
            )
            self._track(done.version)
            await self.own(key, holders[(code,)])
            cities = [r.code for r in c.regions if r.parent == code]
            if code == "SOUTH":
                await self.matrix(key, cities)
                continue
            self.step(f"split: {code} cities by BLEND, channels by history, tiers, categories")
            where = {"area": code}
            spec = self.spec(AllocationMethod.BLEND, where, "city", "Regions", cities, blend=mix)
            for city, city_key, _ in await self.split(key, "Regions", cities, spec):
                where = {"city": city}
                spec = self.spec(history, where, "channel", "Channels", channels)
                for channel, channel_key, _ in await self.split(
                    city_key, "Channels", channels, spec
                ):
                    await self.own(channel_key, holders[(city, channel)])
                    where = {"city": city, "channel": channel}
                    leaves = [(channel_key, where)]
                    if channel == "DIRECT":
                        spec = self.spec(history, where, "tier", "Customers", tiers)
                        split = await self.split(channel_key, "Customers", tiers, spec)
                        leaves = [(k, {**where, "tier": t}) for t, k, _ in split]
                    for leaf, inside in leaves:
                        spec = self.spec(history, inside, "category", "Products", categories)
                        await self.split(leaf, "Products", categories, spec)

    async def matrix(self, key: int, cities: list[str]) -> None:
        """South: cities x products fitted to both margins, then quarters per cell."""
        c = self.company
        self.step("split: South cities x products, fitted to both margins (nodeSplitMatrix)")
        products = list(c.products)
        seed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        years: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        for row in c.history_sales():
            city, product = str(row[6]), str(row[9])
            if city in cities:
                amount = row[2]
                assert isinstance(amount, Decimal)
                seed[(city, product)] += amount
                day = row[1]
                assert isinstance(day, date)
                years[(city, day.year)] += amount
                years[(product, day.year)] += amount
        city_seed = {city: sum(seed[(city, p.code)] for p in products) for city in cities}
        new = {p.code for p in products if p.launch is not None}
        table = [
            [
                # a new product sells like the city does: its share of the city's sales
                seed[(city, p.code)] if p.code not in new else city_seed[city] / len(products)
                for p in products
            ]
            for city in cities
        ]

        def history(code: str) -> tuple[Decimal | None, ...] | None:
            values = tuple(years.get((code, y)) for y in YEARS)
            return None if all(v is None for v in values) else values

        regions, product_ids = self.ids["Regions"], self.ids["Products"]
        done = await splits.split_node_matrix(
            self.db,
            self.change,
            splits.MatrixSplitCommand(
                version_id=self.version_id,
                key=key,
                revision=self.revision,
                rows=splits.MatrixAxis(
                    regions[""],
                    [regions[x] for x in cities],
                    SplitSpec(
                        AllocationMethod.HISTORY,
                        children=[ChildValues(regions[x], history=history(x)) for x in cities],
                    ),
                ),
                columns=splits.MatrixAxis(
                    product_ids[""],
                    [product_ids[p.code] for p in products],
                    SplitSpec(
                        AllocationMethod.HISTORY,
                        children=[
                            ChildValues(product_ids[p.code], history=history(p.code))
                            for p in products
                        ],
                        options=SplitOptions(
                            no_history=NoHistoryRule.RESERVED_SHARE,
                            reserved_share=Decimal("0.06"),
                        ),
                    ),
                ),
                seed=[[Decimal(v).quantize(Decimal("0.01")) for v in row] for row in table],
            ),
        )
        self._track(done.version)
        self.nodes += len(done.rows) + len(done.cells)
        holders = {p.holds: p.subject for p in c.people}
        by_region: dict[int, str] = {}
        for city, city_node in zip(cities, done.rows, strict=True):
            await self.own(city_node.key, holders[(city, "DIRECT")])
            by_region[city_node.key] = city
        self.step("split: South's cells into quarters, SEASONAL with the sales-cycle lag")
        by_member = {v: k for k, v in product_ids.items()}
        quarters = [q.code for q in self.quarters]
        time = self.ids["time"]
        for cell in done.cells:
            item = next(p for p in products if p.code == by_member[cell.member_id or 0])
            if item.launch is None:
                city = by_region[cell.parent_key or 0]
                spec = self.spec(
                    AllocationMethod.SEASONAL,
                    {"city": city, "product": item.code},
                    "quarter",
                    "time",
                    quarters,
                )
            else:
                # No history: a flat profile, nothing before the launch quarter plus
                # the sales cycle, then a one-quarter ramp.
                ready = (item.launch.month - 1) // 3 + round(item.sales_cycle_days / 91)
                spec = SplitSpec(
                    AllocationMethod.SEASONAL,
                    children=[ChildValues(time[q], weight=Decimal(1)) for q in quarters],
                    options=SplitOptions(profile=ProfileSource.GIVEN, lag=min(ready, 3), ramp=1),
                )
            await self.split(cell.key, "time", quarters, spec)

    async def publish(self) -> None:
        self.step("version 1: submit, approve, publish")
        for transition in (versions.submit, versions.approve, versions.publish):
            done = await transition(
                self.db,
                self.change,
                versions.VersionTransition(self.version_id, self.revision, "demo plan"),
            )
            self._track(done.version)

    async def actuals(self, plan_id: int) -> None:
        self.step(f"actuals: FY{data.PLAN_YEAR} up to {data.AS_OF.isoformat()}")
        await self._import(
            FactKind.SALES, plan_id, "sales-plan-year", data.SALES_HEADER,
            self.company.plan_year_sales(),
        )  # fmt: skip

    async def review_and_replan(self, west_key: int) -> tuple[int, int]:
        self.step("review of West and a re-plan from the actuals as of mid-year")
        review = await reviews.create_review(
            self.db,
            self.change,
            reviews.ReviewCreate(
                version_id=self.version_id,
                key=west_key,
                held_on=date(data.PLAN_YEAR, 7, 3),
                notes="West is at about 80 % of its pace after H1: two enterprise renewals "
                "slipped to Q3 and Cologne's partner pipeline is thin.",
                decisions="Re-plan H2 from the actuals; West's area head reviews Cologne's "
                "partner targets in two weeks.",
                period_id=self.ids["time"][f"FY{data.PLAN_YEAR}-Q2"],
            ),
        )
        done = await replan.replan_version(
            self.db,
            self.change,
            replan.Replan(
                source_id=self.version_id,
                as_of=data.AS_OF,
                review_id=review.id,
                name="H2 re-plan",
            ),
        )
        return review.id, done.version.id


async def load_demo(
    db: Database, principal: Principal, seed: int, step: Step, lines_per_month: int | None = None
) -> DemoLoaded:
    """Load the demo company of ``seed`` and build its plan; see the module docstring."""
    company = (
        data.generate(seed)
        if lines_per_month is None
        else data.generate(seed, lines_per_month=lines_per_month)
    )
    builder = _Builder(db, Change(principal, reason="quotatree demo"), company, step)
    await builder.check_fresh()
    await builder.members()
    await builder.history()
    plan_id, root = await builder.plan()
    await builder.tree(root)
    await builder.publish()
    await builder.actuals(plan_id)
    review_id, replanned = await builder.review_and_replan(builder.areas["WEST"])
    return DemoLoaded(
        plan_id=plan_id,
        version_id=builder.version_id,
        replan_version_id=replanned,
        root_key=root,
        review_id=review_id,
        facts=builder.facts,
        nodes=builder.nodes,
    )
