"""Plans: the type, planCreate, and the plans queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from service.api import ids
from service.api.attainment import AttainmentThresholds
from service.api.context import Context
from service.api.diagnostics import DiagnosticsThresholds
from service.api.dimensions import Dimension
from service.api.errors import UserError
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.nodes import TargetNode
from service.api.pagination import After, Before, Connection, First, Last, page_args
from service.api.scalars import CurrencyCode, describe_enum
from service.api.versions import PlanVersion, PlanVersionConnection
from service.api.wrap import RowNode, wraps
from service.db.models import Plan as PlanRow
from service.domain.attainment import thresholds_from
from service.domain.calendar import CalendarSpec, PeriodPattern, YearEnd
from service.domain.diagnostics import thresholds_from as diagnostic_thresholds
from service.domain.measures import MAX_QUANTITY_DECIMALS, MAX_UNIT_LENGTH
from service.domain.tree import Measure
from service.plans import plans as usecases

describe_enum(
    Measure,
    "What a plan counts.",
    {
        "AMOUNT": "Money in one currency.",
        "QUANTITY": "Units of something (licences, tonnes, visits ...).",
    },
)
describe_enum(
    PeriodPattern,
    "How a fiscal year divides into periods.",
    {
        "GREGORIAN": "Calendar months.",
        "P445": "Retail quarters of 4, 4 and 5 weeks.",
        "P454": "Retail quarters of 4, 5 and 4 weeks.",
        "P544": "Retail quarters of 5, 4 and 4 weeks.",
    },
)
describe_enum(
    YearEnd,
    "Where a retail year ends.",
    {
        "NEAREST": "On the week's last day nearest to the end of the month before startMonth.",
        "LAST": "On the week's last day last before the end of the month before startMonth.",
    },
)


@wraps(PlanRow)
@strawberry.type(description='One target programme, e.g. "FY2027 revenue".')
class Plan(RowNode):
    row: strawberry.Private[PlanRow]
    loader = "plan_by_id"

    @strawberry.field(description="Display name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="AMOUNT (money in `currency`) or QUANTITY (of `unit`).")
    def measure(self) -> Measure:
        return Measure(self.row.measure)

    @strawberry.field(description="The currency of an AMOUNT plan; null for quantities.")
    def currency(self) -> CurrencyCode | None:
        return None if self.row.currency is None else CurrencyCode[self.row.currency]

    @strawberry.field(description='The unit of a QUANTITY plan, e.g. "licences"; null for money.')
    def unit(self) -> str | None:
        return self.row.unit

    @strawberry.field(
        description="Decimals of every amount of the plan: the currency's (2 for EUR, 0 for "
        "JPY, 3 for KWD) or, for quantities, as chosen."
    )
    def decimals(self) -> int:
        return self.row.minor_digits

    @strawberry.field(
        description="Pace thresholds of attainment status and alerts (defaults where not set; "
        "change them with planSettingsUpdate)."
    )
    def attainment_thresholds(self) -> AttainmentThresholds:
        return AttainmentThresholds.of(thresholds_from(self.row.settings or {}))

    @strawberry.field(
        description="Thresholds of the diagnostic rules (defaults where not set; change them "
        "with planSettingsUpdate). See the README's 'Diagnostics'."
    )
    def diagnostics_thresholds(self) -> DiagnosticsThresholds:
        return DiagnosticsThresholds.of(diagnostic_thresholds(self.row.settings or {}))

    @strawberry.field(description="The fiscal year the plan targets, e.g. 2027.")
    def fiscal_year(self) -> int:
        return self.row.fiscal_year

    @strawberry.field(description="Token subject of the creator.")
    def created_by(self) -> str:
        return self.row.created_by

    @strawberry.field(description="When the plan was created.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(
        description="The plan's own time dimension, generated from its calendar: the fiscal "
        "year and its quarters, months or periods (and weeks)."
    )
    async def time_dimension(self, info: Info[Context, None]) -> Dimension | None:
        if self.row.time_dimension_id is None:
            return None
        row = await info.context.loaders.dimension_by_id.load(self.row.time_dimension_id)
        return Dimension(row=row) if row else None

    @strawberry.field(description="The calendar settings the time dimension came from.")
    def calendar(self) -> JSON | None:
        return cast("JSON | None", self.row.calendar)

    @strawberry.field(description="The plan's versions, by number.")
    async def versions(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> PlanVersionConnection:
        request = page_args("versions", (int,), first, after, last, before)
        loaders = info.context.loaders
        page = await loaders.versions_by_plan_id.load((self.row.id, request))
        return PlanVersionConnection.of(
            page,
            "versions",
            lambda r: PlanVersion(row=r),
            lambda: loaders.version_count_by_plan_id.load(self.row.id),
        )


@strawberry.type(description="A page of plans, oldest first.")
class PlanConnection(Connection[Plan]):
    pass


@strawberry.type
class PlanQueries:
    @strawberry.field(description="Plans, oldest first.")
    async def plans(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> PlanConnection:
        request = page_args("plans", (int,), first, after, last, before)
        loaders = info.context.loaders
        page = await loaders.plans_page(request)
        for row in page.items:
            loaders.plan_by_id.prime(row.id, row)
        return PlanConnection.of(page, "plans", lambda r: Plan(row=r), loaders.plans_count)

    @strawberry.field(description="One plan by id; null when there is none.")
    async def plan(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The plan's id.")],
    ) -> Plan | None:
        row = await info.context.loaders.plan_by_id.load(ids.decode(id, "Plan", "id"))
        return Plan(row=row) if row else None


# --- mutations -----------------------------------------------------------------------


@strawberry.input(
    description="How to generate a plan's calendar: year → quarter → month (or retail period) "
    "→ week, each member with a half-open [startsOn, endsOn) range. FY2027 is the fiscal year "
    "whose last nominal month falls in 2027 (startMonth 4: 2026-04-01 to 2027-04-01). Retail "
    "years are whole weeks ending on the day before `weekStart`, nearest to (or last before) "
    "the end of the month before `startMonth`; a 53rd week goes into period 12. Gregorian "
    "weeks are cut at month boundaries into partial weeks (W05a, W05b) so they nest in months."
)
class CalendarInput:
    start_month: int = strawberry.field(default=1, description="First month, 1 to 12.")
    pattern: PeriodPattern = strawberry.field(
        default=PeriodPattern.GREGORIAN,
        description="GREGORIAN months or P445, P454, P544 retail periods.",
    )
    weeks: bool = strawberry.field(default=False, description="Also make a week level.")
    week_start: int = strawberry.field(
        default=0, description="First day of a week: 0 Monday ... 6 Sunday."
    )
    year_end: YearEnd = strawberry.field(
        default=YearEnd.NEAREST,
        description="Retail only: where the year ends, see YearEnd.",
    )


@strawberry.input(
    description="Set a plan's overall target from the actuals of past fiscal years (every "
    "sale in the plan's currency, or quantity)."
)
class TargetFromHistoryInput:
    fiscal_years: list[int] = strawberry.field(
        description="Past fiscal years to read, before the plan's."
    )
    growth: Decimal | None = strawberry.field(
        default=None,
        description='The latest year\'s actuals times 1 + growth, e.g. "0.08" for +8 % '
        "(0 when neither growth nor trend is given).",
    )
    trend: bool = strawberry.field(
        default=False,
        description="The least-squares linear trend of the years (at least two), extended "
        "to the plan's year.",
    )


@strawberry.input(description="A new plan: its version 1 is a draft whose root holds `target`.")
class PlanCreateInput:
    name: str = strawberry.field(description="Display name, 1 to 200 characters.")
    fiscal_year: int = strawberry.field(description="The fiscal year, 1900 to 2999.")
    target: Decimal | None = strawberry.field(
        default=None,
        description='The whole target, e.g. "120000000.00": money in `currency`, or units. '
        "Give this or fromHistory.",
    )
    from_history: TargetFromHistoryInput | None = strawberry.field(
        default=None,
        description="The target from the stored actuals of past years (instead of target); "
        "the root's explanation says how it was reached.",
    )
    measure: Measure = strawberry.field(
        default=Measure.AMOUNT, description="AMOUNT (money) or QUANTITY (units)."
    )
    currency: CurrencyCode | None = strawberry.field(
        default=None, description="AMOUNT plans: the currency (required), e.g. EUR."
    )
    unit: str | None = strawberry.field(
        default=None,
        description=f'QUANTITY plans: what is counted (required), e.g. "licences"; up to '
        f"{MAX_UNIT_LENGTH} characters.",
    )
    decimals: int | None = strawberry.field(
        default=None,
        description=f"QUANTITY plans: decimals of the amounts, 0 to {MAX_QUANTITY_DECIMALS} "
        "(default 0). AMOUNT plans use their currency's.",
    )
    calendar: CalendarInput | None = strawberry.field(
        default=None,
        description="The fiscal calendar the plan's time dimension is generated from; "
        "Gregorian months from January when left out.",
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )

    def command(self) -> usecases.PlanCreate:
        calendar = None
        if self.calendar is not None:
            calendar = CalendarSpec(
                fiscal_year=self.fiscal_year,
                start_month=self.calendar.start_month,
                pattern=self.calendar.pattern,
                weeks=self.calendar.weeks,
                week_start=self.calendar.week_start,
                year_end=self.calendar.year_end,
            )
        return usecases.PlanCreate(
            name=self.name,
            fiscal_year=self.fiscal_year,
            target=self.target,
            from_history=None
            if self.from_history is None
            else usecases.TargetHistory(
                tuple(self.from_history.fiscal_years),
                self.from_history.growth,
                self.from_history.trend,
            ),
            measure=self.measure,
            currency=self.currency.value if self.currency is not None else None,
            unit=self.unit,
            decimals=self.decimals,
            calendar=calendar,
        )


@strawberry.type(description="Result of planCreate.")
class PlanCreatePayload(Payload[usecases.PlanCreated]):
    plan: Plan | None = strawberry.field(description="The new plan.")
    version: PlanVersion | None = strawberry.field(description="Its version 1, a draft.")
    root: TargetNode | None = strawberry.field(description="The root node.")
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, created: usecases.PlanCreated) -> PlanCreatePayload:
        return cls(
            plan=Plan(row=created.plan),
            version=PlanVersion(row=created.version),
            root=TargetNode(row=created.root),
            user_errors=[],
        )


@strawberry.type
class PlanMutations:
    @strawberry.mutation(description="Create a plan with its version 1 (draft) and root node.")
    async def plan_create(
        self, info: Info[Context, None], input: Annotated[PlanCreateInput, INPUT]
    ) -> PlanCreatePayload:
        return await mutate(
            info, usecases.create_plan, input.command, PlanCreatePayload, reason=input.reason
        )
