"""The demo company: a deterministic, believable sales organisation from a seed.

Pure data: members of four dimensions, people, and three and a half years of
facts (sales, opportunity outcomes, market sizes) as rows in the columns of
``quotatree import``. ``service.plans.demo`` loads it through the use cases and
builds next year's plan on it.

What makes it believable (and gives the methods something to find):

- **Regions**: one country, three areas, six cities, each city with a market
  potential; the areas grow at different rates (South fastest, West slowest).
- **Channels**: direct, partner, online; online's share grows every year, direct's
  shrinks (a channel shift the history split picks up).
- **Customers**: about 400 in tiers A, B and C (a few big A accounts, many small C
  ones), each in one city; existing customers buy from the first year, new ones
  start in the last year of history or in the plan year.
- **Products**: twelve in three categories, one flagship, two new products
  launched in the plan year (no history: the plan gives them a reserved share and
  a launch ramp), each with a sales cycle in days.
- **Seasonality**: a year-end peak (Q4) and a summer dip, the same each year.
- **Plan year**: actuals up to mid-year, with West behind plan and online ahead,
  so that attainment and alerts have something to say.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

HISTORY_YEARS = (2024, 2025, 2026)
PLAN_YEAR = 2027
AS_OF = date(2027, 6, 30)
"""Actuals of the plan year are imported up to and including this day."""
CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    parent: str | None
    potential: int
    """Market potential in whole euros (the city's; a parent's is the sum)."""
    growth: float = 0.0
    """Yearly growth of the city's sales."""


@dataclass(frozen=True, slots=True)
class Product:
    code: str
    name: str
    category: str
    lifecycle: str
    sales_cycle_days: int
    price: int
    """Typical line amount in euros."""
    weight: float
    """Share of the lines sold (before launch dates)."""
    launch: date | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    code: str
    name: str
    tier: str
    city: str
    lifecycle: str
    size: str
    industry: str
    first_year: int


@dataclass(frozen=True, slots=True)
class Person:
    subject: str
    name: str
    email: str
    holds: tuple[str, ...]
    """Slices (region code, or region/channel codes) the person owns in the plan."""


CITY_GROWTH = {"HAM": 0.07, "BER": 0.10, "MUC": 0.14, "STR": 0.11, "CGN": 0.03, "FRA": 0.05}

REGIONS: tuple[Region, ...] = (
    Region("DE", "Germany", None, 0),
    Region("NORTH", "North", "DE", 0),
    Region("SOUTH", "South", "DE", 0),
    Region("WEST", "West", "DE", 0),
    Region("HAM", "Hamburg", "NORTH", 120_000_000, CITY_GROWTH["HAM"]),
    Region("BER", "Berlin", "NORTH", 150_000_000, CITY_GROWTH["BER"]),
    Region("MUC", "Munich", "SOUTH", 165_000_000, CITY_GROWTH["MUC"]),
    Region("STR", "Stuttgart", "SOUTH", 110_000_000, CITY_GROWTH["STR"]),
    Region("CGN", "Cologne", "WEST", 95_000_000, CITY_GROWTH["CGN"]),
    Region("FRA", "Frankfurt", "WEST", 130_000_000, CITY_GROWTH["FRA"]),
)
CITIES = tuple(r for r in REGIONS if r.potential)
AREAS = tuple(r for r in REGIONS if r.parent == "DE")

CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("DIRECT", "Direct sales", "DIRECT"),
    ("PARTNER", "Partners", "PARTNER"),
    ("ONLINE", "Online shop", "ONLINE"),
)
CHANNEL_SHARE = {  # share of lines by year: direct shrinks, online grows
    2024: (0.62, 0.28, 0.10),
    2025: (0.57, 0.28, 0.15),
    2026: (0.52, 0.28, 0.20),
    2027: (0.46, 0.27, 0.27),
}

TIERS: tuple[tuple[str, str], ...] = (
    ("TIER-A", "Key accounts (A)"),
    ("TIER-B", "Growth accounts (B)"),
    ("TIER-C", "Small accounts (C)"),
)
TIER_SIZE = {"A": 40, "B": 120, "C": 240}
TIER_SPEND = {"A": 6.0, "B": 2.0, "C": 0.7}
"""Relative line amount by tier."""
TIER_FREQUENCY = {"A": 5.0, "B": 1.6, "C": 0.55}
"""Relative number of lines per customer by tier."""

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("PLATFORM", "Platform"),
    ("ADDONS", "Add-ons"),
    ("SERVICES", "Services"),
)
PRODUCTS: tuple[Product, ...] = (
    Product("QT-CORE", "QuotaCore (flagship)", "PLATFORM", "FLAGSHIP", 120, 1_800, 0.26),
    Product("QT-LITE", "QuotaCore Lite", "PLATFORM", "ESTABLISHED", 45, 600, 0.12),
    Product("QT-ENT", "QuotaCore Enterprise", "PLATFORM", "ESTABLISHED", 180, 4_200, 0.05),
    Product("QT-AI", "Forecast AI", "PLATFORM", "NEW", 150, 2_400, 0.015, launch=date(2027, 3, 1)),
    Product("AD-TERR", "Territory designer", "ADDONS", "ESTABLISHED", 60, 700, 0.08),
    Product("AD-COMP", "Compensation module", "ADDONS", "ESTABLISHED", 90, 950, 0.07),
    Product("AD-MAP", "Map view", "ADDONS", "ESTABLISHED", 30, 250, 0.07),
    Product("AD-MOB", "Mobile companion", "ADDONS", "NEW", 30, 300, 0.06, launch=date(2027, 5, 1)),
    Product("SV-ONB", "Onboarding", "SERVICES", "SERVICE", 20, 1_100, 0.08),
    Product("SV-TRN", "Training", "SERVICES", "SERVICE", 15, 450, 0.06),
    Product("SV-SUP", "Premium support", "SERVICES", "SERVICE", 30, 800, 0.07),
    Product("SV-CON", "Consulting days", "SERVICES", "SERVICE", 45, 1_500, 0.04),
)

SEASON = (0.78, 0.86, 1.05, 0.92, 0.95, 1.02, 0.74, 0.70, 1.04, 1.06, 1.20, 1.68)
"""Monthly weight (January first): a summer dip and a year-end peak."""

PLAN_YEAR_DRIFT = {"WEST": 0.78, "NORTH": 0.97, "SOUTH": 1.04}
"""How the plan year's first half runs against the trend, by area (West is behind)."""

INDUSTRIES = ("Manufacturing", "Retail", "Software", "Logistics", "Health", "Finance")
SIZES = {"A": "ENTERPRISE", "B": "LARGE", "C": "SMALL"}
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hannes", "Ida", "Jonas")
LAST_NAMES = ("Adler", "Berg", "Claes", "Dietz", "Engel", "Fuchs", "Graf", "Horn", "Imhof", "Jung")
COMPANY_WORDS = (
    "Nord", "Süd", "Rhein", "Alpen", "Elbe", "Main", "Spree", "Isar", "Neckar", "Weser",
)  # fmt: skip
COMPANY_KINDS = ("Logistik", "Werke", "Handel", "Systeme", "Bau", "Technik", "Medien", "Pharma")


@dataclass(frozen=True, slots=True)
class Company:
    """The demo company: its members, its people and its facts."""

    seed: int
    regions: tuple[Region, ...]
    channels: tuple[tuple[str, str, str], ...]
    tiers: tuple[tuple[str, str], ...]
    customers: tuple[Customer, ...]
    categories: tuple[tuple[str, str], ...]
    products: tuple[Product, ...]
    people: tuple[Person, ...]
    lines_per_month: int
    strategies: dict[str, str] = field(default_factory=dict)

    def sales(self, until: date | None = None) -> Iterator[tuple[object, ...]]:
        """Sales lines in ``SALES_HEADER`` order, history years first, then the plan
        year up to ``AS_OF`` (or ``until``)."""
        yield from _sales(self, HISTORY_YEARS, None)
        yield from _sales(self, (PLAN_YEAR,), until or AS_OF)

    def history_sales(self) -> Iterator[tuple[object, ...]]:
        yield from _sales(self, HISTORY_YEARS, None)

    def plan_year_sales(self) -> Iterator[tuple[object, ...]]:
        yield from _sales(self, (PLAN_YEAR,), AS_OF)

    def opportunities(self) -> Iterator[tuple[object, ...]]:
        """Closed opportunities in ``OPPORTUNITY_HEADER`` order: win rates by channel
        and tier (direct wins most, online converts least per opportunity)."""
        rng = random.Random(self.seed * 7 + 1)
        win = {"DIRECT": 0.34, "PARTNER": 0.27, "ONLINE": 0.18}
        tier_bonus = {"A": 0.10, "B": 0.03, "C": -0.04}
        n = 0
        for year in (*HISTORY_YEARS, PLAN_YEAR):
            last = AS_OF if year == PLAN_YEAR else date(year, 12, 31)
            days = (last - date(year, 1, 1)).days + 1
            for _ in range(int(5_000 * days / 365)):
                n += 1
                customer = rng.choice(self.customers)
                if customer.first_year > year:
                    continue
                channel = _pick(rng, [c[0] for c in self.channels], CHANNEL_SHARE[year])
                product = _pick(
                    rng, [p.code for p in self.products if p.launch is None], _weights(self, None)
                )
                outcome = (
                    "WON" if rng.random() < win[channel] + tier_bonus[customer.tier] else "LOST"
                )
                day = date(year, 1, 1) + timedelta(days=rng.randrange(days))
                amount = Decimal(rng.randrange(2_000, 60_000) * 100) * Decimal(
                    TIER_SPEND[customer.tier]
                )
                yield (
                    f"OPP-{year}-{n:06d}",
                    day,
                    outcome,
                    amount.quantize(Decimal("0.01")),
                    CURRENCY,
                    customer.code,
                    customer.city,
                    channel,
                    customer.code,
                    product,
                )

    def market_sizes(self) -> Iterator[tuple[object, ...]]:
        """Market size per city and fiscal year in ``MARKET_HEADER`` order: the
        potential, growing with the city."""
        for year in (*HISTORY_YEARS, PLAN_YEAR):
            for city in CITIES:
                size = city.potential * (1 + city.growth / 2) ** (year - PLAN_YEAR)
                yield (
                    "Regions",
                    city.code,
                    date(year, 1, 1),
                    date(year, 12, 31),
                    Decimal(round(size)),
                    CURRENCY,
                )


SALES_HEADER = (
    "externalId",
    "date",
    "amount",
    "currency",
    "quantity",
    "customerRef",
    "Regions",
    "Channels",
    "Customers",
    "Products",
)
OPPORTUNITY_HEADER = (
    "externalId",
    "closedOn",
    "outcome",
    "amount",
    "currency",
    "customerRef",
    "Regions",
    "Channels",
    "Customers",
    "Products",
)
MARKET_HEADER = ("dimension", "member", "startsOn", "endsOn", "amount", "currency")


def generate(seed: int = 2027, lines_per_month: int = 6_950) -> Company:
    """The demo company of ``seed``: the same seed gives the same company, to the cent.

    ``lines_per_month`` sets the size of the history (the default gives about
    200,000 sales lines over the three history years and the plan year's first half).
    """
    rng = random.Random(seed)
    customers: list[Customer] = []
    cities = [c.code for c in CITIES]
    city_weights = [c.potential for c in CITIES]
    number = 0
    for tier, count in TIER_SIZE.items():
        for _ in range(count):
            number += 1
            new = rng.random() < 0.18
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {number:03d}"
            customers.append(
                Customer(
                    code=f"C{number:04d}",
                    name=name,
                    tier=tier,
                    city=_pick(rng, cities, city_weights),
                    lifecycle="NEW" if new else "EXISTING",
                    size=SIZES[tier],
                    industry=rng.choice(INDUSTRIES),
                    first_year=rng.choice((2026, PLAN_YEAR)) if new else HISTORY_YEARS[0],
                )
            )
    people = [
        Person("vp.sales@demo.example", "Vera Petersen", "vp.sales@demo.example", ("DE",)),
    ]
    used: set[str] = set()
    for region in REGIONS:
        if region.parent is None:
            continue
        channels = ("",) if region.potential == 0 else tuple(c[0] for c in CHANNELS)
        for channel in channels:
            while True:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                if (first, last) not in {tuple(u.split(".", 1)) for u in used}:
                    break
            handle = f"{first.lower()}.{last.lower()}"
            used.add(f"{first}.{last}")
            slice_ = (region.code, channel) if channel else (region.code,)
            people.append(
                Person(
                    f"{handle}@demo.example", f"{first} {last}", f"{handle}@demo.example", slice_
                )
            )
    strategies = {
        "NORTH": "Win Berlin's mid-market: partner-led campaigns for B accounts, "
        "two new account executives from Q2.",
        "SOUTH": "Land and expand in Munich's enterprise accounts with QuotaCore Enterprise; "
        "launch Forecast AI to the A tier first.",
        "WEST": "Defend the installed base: renewals first, move C accounts to the online shop.",
    }
    return Company(
        seed=seed,
        regions=REGIONS,
        channels=CHANNELS,
        tiers=TIERS,
        customers=tuple(customers),
        categories=CATEGORIES,
        products=PRODUCTS,
        people=tuple(people),
        lines_per_month=lines_per_month,
        strategies=strategies,
    )


def _pick(rng: random.Random, items: list[str], weights: object) -> str:
    return rng.choices(items, weights=weights)[0]  # type: ignore[arg-type]


def _weights(company: Company, day: date | None) -> list[float]:
    return [p.weight for p in company.products if p.launch is None or (day and day >= p.launch)]


def area_of(city: str) -> str:
    return next(r.parent for r in REGIONS if r.code == city) or ""


def _sales(
    company: Company, years: tuple[int, ...], until: date | None
) -> Iterator[tuple[object, ...]]:
    """Sales lines of ``years``: seasonality, regional growth and the channel shift."""
    for year in years:
        rng = random.Random(company.seed * 1_000 + year)
        active = [c for c in company.customers if c.first_year <= year]
        weights = [
            TIER_FREQUENCY[c.tier]
            * (1 + CITY_GROWTH[c.city]) ** (year - HISTORY_YEARS[0])
            * (PLAN_YEAR_DRIFT[area_of(c.city)] if year == PLAN_YEAR else 1.0)
            for c in active
        ]
        cumulative = _cumulative(weights)
        channels = [c[0] for c in company.channels]
        channel_cumulative = _cumulative(list(CHANNEL_SHARE[year]))
        number = 0
        for month in range(1, 13):
            first = date(year, month, 1)
            if until is not None and first > until:
                return
            last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
            days = (last - first).days + 1
            products = [p for p in company.products if p.launch is None or p.launch <= first]
            product_cumulative = _cumulative([p.weight for p in products])
            growth_total = sum(weights) / len(weights)
            lines = round(company.lines_per_month * SEASON[month - 1] * growth_total / 2.1)
            for _ in range(lines):
                day = first + timedelta(days=rng.randrange(days))
                if until is not None and day > until:
                    continue
                customer = active[_index(cumulative, rng.random())]
                channel = channels[_index(channel_cumulative, rng.random())]
                product = products[_index(product_cumulative, rng.random())]
                quantity = 1 + int(rng.expovariate(0.6))
                noise = math.exp(rng.gauss(0.0, 0.35))
                amount = product.price * TIER_SPEND[customer.tier] * quantity * noise / 2
                if channel == "ONLINE":
                    amount *= 0.55
                number += 1
                yield (
                    f"INV-{year}-{number:07d}",
                    day,
                    Decimal(round(amount * 100)) / 100,
                    CURRENCY,
                    quantity,
                    customer.code,
                    customer.city,
                    channel,
                    customer.code,
                    product.code,
                )


def _cumulative(weights: list[float]) -> list[float]:
    total = sum(weights)
    out: list[float] = []
    running = 0.0
    for w in weights:
        running += w / total
        out.append(running)
    out[-1] = 1.0
    return out


def _index(cumulative: list[float], x: float) -> int:
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


CUBE_AXES = ("area", "city", "channel", "tier", "category", "product", "quarter")
"""The coordinates of a history cell (besides its year), in ``Cube`` key order."""


@dataclass(frozen=True, slots=True)
class Cube:
    """The history's sales summed by year and every coordinate the plan splits by: what a
    planner exports from the CRM to give a split its history inline."""

    cells: dict[tuple[int, str, str, str, str, str, str, str], Decimal]

    def history(
        self, where: dict[str, str], axis: str, codes: list[str]
    ) -> dict[str, tuple[Decimal | None, ...]]:
        """Per code of ``axis``, its sales inside ``where`` per history year (oldest
        first); None for a year without any."""
        at = CUBE_AXES.index(axis) + 1
        tests = [(CUBE_AXES.index(k) + 1, v) for k, v in where.items()]
        sums: dict[tuple[str, int], Decimal] = {}
        for key, amount in self.cells.items():
            if all(key[i] == v for i, v in tests):
                slot = (str(key[at]), key[0])
                sums[slot] = sums.get(slot, Decimal(0)) + amount
        return {c: tuple(sums.get((c, y)) for y in HISTORY_YEARS) for c in codes}


def history_cube(company: Company) -> Cube:
    categories = {p.code: p.category for p in company.products}
    tiers = {c.code: f"TIER-{c.tier}" for c in company.customers}
    cells: dict[tuple[int, str, str, str, str, str, str, str], Decimal] = {}
    for row in company.history_sales():
        day, amount, city, channel, customer, product = (
            row[1], row[2], str(row[6]), str(row[7]), str(row[8]), str(row[9]),
        )  # fmt: skip
        assert isinstance(day, date) and isinstance(amount, Decimal)
        key = (
            day.year,
            area_of(city),
            city,
            channel,
            tiers[customer],
            categories[product],
            product,
            f"FY{PLAN_YEAR}-Q{(day.month - 1) // 3 + 1}",
        )
        cells[key] = cells.get(key, Decimal(0)) + amount
    return Cube(cells)
