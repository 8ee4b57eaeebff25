"""slice_totals: the hierarchy-aware, batched read of the sales facts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from service.db.engine import Database
from service.db.facts import SliceQuery, slice_totals
from tests.api.helpers import create_dimension, create_member, create_plan
from tests.api.sales import insert_sales
from tests.api.sales import local_id as _id
from tests.conftest import GraphQLClient, StatementCounter


async def test_slice_totals_count_descendants_dates_and_currency(
    gql: GraphQLClient, db: Database, statements: StatementCounter
) -> None:
    plan = await create_plan(gql)
    region = await create_dimension(gql, "Region")
    product = await create_dimension(gql, "Product", kind="PRODUCT")
    north = await create_member(gql, region, "NORTH")
    oslo = await create_member(gql, region, "OSLO", north)
    south = await create_member(gql, region, "SOUTH")
    shoes = await create_member(gql, product, "SHOES")
    r, p = _id(region), _id(product)
    n, o, s, sh = _id(north), _id(oslo), _id(south), _id(shoes)
    await insert_sales(
        db,
        _id(plan["plan"]["id"]),
        [
            (date(2026, 1, 5), 100, [o, sh]),  # a city counts for its region
            (date(2026, 2, 5), 50, [n]),
            (date(2026, 3, 5), 7, [s, sh]),
            (date(2025, 12, 31), 1000, [o, sh]),  # outside 2026
        ],
    )
    await insert_sales(db, _id(plan["plan"]["id"]), [(date(2026, 1, 9), 3, [o])], "USD", "usd")
    year = (date(2026, 1, 1), date(2027, 1, 1))
    queries = [
        SliceQuery([(r, n)], *year),
        SliceQuery([(r, n), (p, sh)], *year),
        SliceQuery([], *year),
        SliceQuery([(r, o)], date(2025, 1, 1), date(2026, 1, 1)),
        SliceQuery([(r, s)], date(2026, 1, 1), date(2026, 3, 1)),
        SliceQuery([(r, 10**12)], *year),  # an unknown member matches nothing
    ]
    statements.reset()
    async with db.session() as session:
        totals = await slice_totals(session, queries, currency="EUR")
    assert statements.count == 1
    assert [t.amount for t in totals] == [150, 100, 157, 1000, 0, 0]
    assert [t.count for t in totals] == [2, 1, 3, 1, 0, 0]
    assert totals[0].quantity == Decimal(2)
    async with db.session() as session:
        (every,) = await slice_totals(session, [SliceQuery([(r, o)], *year)])
    assert every.amount == 103  # no currency filter: both currencies
