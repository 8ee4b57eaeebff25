"""Attainment on the API: the types of a node's and an owner's numbers as of a date, the
KPI actuals, rankings, alerts and the plan's thresholds (``planSettingsUpdate``).

Every read goes through the request's attainment loader, keyed by (version, asOf):
the whole version is computed once per request whatever the number of nodes read
(see ``service.plans.attainment``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.types import Info

from service.api import ids
from service.api.context import Context
from service.api.diagnostics import (
    DiagnosticsThresholds,
    DiagnosticsThresholdsInput,
    as_of_or_today,
)
from service.api.errors import UserError
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.scalars import Amount, describe_enum
from service.api.wrap import wrap
from service.domain.attainment import Attainment as Numbers
from service.domain.attainment import Status, Thresholds, ratio
from service.domain.money import format_amount
from service.plans import attainment as usecases
from service.plans.attainment import NodeKpiActuals, RankBy, VersionAttainment

if TYPE_CHECKING:
    from service.api.plans import Plan

describe_enum(
    Status,
    "Where a node (or owner) stands against its pace; thresholds per plan "
    "(`Plan.attainmentThresholds`).",
    {
        "NOT_STARTED": "The period has not begun on the date asked for.",
        "ON_TRACK": "Pace at or above onTrackPace (or nothing expected yet).",
        "AT_RISK": "Pace at or above atRiskPace, below onTrackPace.",
        "BEHIND": "Pace below atRiskPace.",
    },
)
describe_enum(
    RankBy,
    "How a ranking orders, furthest behind first.",
    {
        "PACE": "Lowest pace first (actual / target-to-date); without a pace last.",
        "GAP": "Largest gap to the whole target first.",
        "GAP_TO_DATE": "Largest gap to the target-to-date first.",
    },
)

AsOf = Annotated[
    date | None,
    strawberry.argument(
        description="The day the numbers are taken on (included); today (UTC) when null."
    ),
]


async def version_numbers(
    info: Info[Context, None], version_id: int, as_of: date | None
) -> VersionAttainment:
    return await info.context.loaders.attainment_by_version.load(
        (version_id, as_of_or_today(as_of))
    )


def _amount(value: int | None, digits: int) -> Amount | None:
    return None if value is None else Amount(format_amount(value, digits))


@strawberry.type(
    description="A node's or owner's attainment as of a date. Amounts in the plan's currency "
    "or unit; ratios as exact decimals (pace 0.9500 = 95 %). See the README's 'Attainment'."
)
class Attainment:
    as_of: date = strawberry.field(description="The day the numbers were taken on (included).")
    period_start: date | None = strawberry.field(
        description="First day of the node's period (its time member, else the fiscal year); "
        "null for an owner."
    )
    period_end: date | None = strawberry.field(
        description="The day after the period's last day; null for an owner."
    )
    target: Amount = strawberry.field(description="The whole target of the period.")
    actual: Amount = strawberry.field(
        description="Sales in the slice (members or their descendants) and period up to asOf; "
        "an owner's credited share."
    )
    target_to_date: Amount = strawberry.field(
        description="What should have been sold by asOf: from the node's time split when it "
        "has one (partial periods pro rata by days), else pro rata by days."
    )
    attainment_percent: Decimal | None = strawberry.field(
        description="Actual / target in percent, 2 decimals; null for a zero target."
    )
    pace: Decimal | None = strawberry.field(
        description="Actual / targetToDate, 4 decimals; null when nothing is expected yet."
    )
    forecast: Amount | None = strawberry.field(
        description="Linear run rate to the period's end; null before the period starts."
    )
    seasonal_forecast: Amount | None = strawberry.field(
        description="Run rate adjusted by the share sold by the same day in earlier fiscal "
        "years (same slice); null without such history."
    )
    gap: Amount = strawberry.field(description="Target - actual (negative when exceeded).")
    gap_to_date: Amount = strawberry.field(description="TargetToDate - actual.")
    status: Status = strawberry.field(description="Against the plan's thresholds.")

    @classmethod
    def of(cls, a: Numbers, digits: int) -> Attainment:
        def money(value: int) -> Amount:
            return Amount(format_amount(value, digits))

        return cls(
            as_of=a.as_of,
            period_start=a.period.start if a.period else None,
            period_end=a.period.end if a.period else None,
            target=money(a.target),
            actual=money(a.actual),
            target_to_date=money(a.target_to_date),
            attainment_percent=a.attainment_percent,
            pace=ratio(a.pace),
            forecast=_amount(a.forecast, digits),
            seasonal_forecast=_amount(a.seasonal_forecast, digits),
            gap=money(a.gap),
            gap_to_date=money(a.gap_to_date),
            status=a.status,
        )


async def node_attainment(
    info: Info[Context, None], version_id: int, key: int, as_of: date | None
) -> Attainment:
    numbers = await version_numbers(info, version_id, as_of)
    found = numbers.node(key)
    assert found is not None  # the node was read from this version
    return Attainment.of(found, numbers.digits)


async def owner_attainment(
    info: Info[Context, None], version_id: int, owner_id: int, as_of: date | None
) -> Attainment:
    numbers = await version_numbers(info, version_id, as_of)
    return Attainment.of(numbers.owner(owner_id), numbers.digits)


@strawberry.type(
    description="Actual KPIs of a node over its period up to asOf (see NodeKpis for the "
    "targets beside them)."
)
class KpiActuals:
    as_of: date = strawberry.field(description="The day the numbers were taken on.")
    new_customers: int = strawberry.field(
        description="Customers buying in the slice and period whose first purchase ever "
        "falls in the period."
    )
    customers: int = strawberry.field(description="Customers buying in the slice and period.")
    orders: int = strawberry.field(description="Distinct order references.")
    average_order_value: Amount | None = strawberry.field(
        description="Sales / orders; null without orders."
    )
    repeat_purchase_rate: Decimal | None = strawberry.field(
        description="Customers with more than one order / customers, 0 to 1; null without "
        "customers."
    )
    win_rate: Decimal | None = strawberry.field(
        description="Opportunities of the slice closed in the period: won / (won + lost); "
        "null without any."
    )
    market_share: Decimal | None = strawberry.field(
        description="Sales / the market size of the slice's deepest non-time member over the "
        "period (pro rata by days); null without market sizes."
    )

    @classmethod
    def of(cls, k: NodeKpiActuals, as_of: date, digits: int) -> KpiActuals:
        return cls(
            as_of=as_of,
            new_customers=k.new_customers,
            customers=k.customers,
            orders=k.orders,
            average_order_value=_amount(k.average_order_value, digits),
            repeat_purchase_rate=k.repeat_purchase_rate,
            win_rate=k.win_rate,
            market_share=k.market_share,
        )


async def node_kpis(
    info: Info[Context, None], version_id: int, key: int, as_of: date | None
) -> KpiActuals:
    day = as_of_or_today(as_of)
    found = await info.context.loaders.kpis_by_node.load((version_id, key, day))
    numbers = await version_numbers(info, version_id, day)
    return KpiActuals.of(found, day, numbers.digits)


@strawberry.type(description="A plan's attainment thresholds (paces, fractions).")
class AttainmentThresholds:
    on_track_pace: Decimal = strawberry.field(description="Pace at or above: ON_TRACK.")
    at_risk_pace: Decimal = strawberry.field(
        description="Pace at or above (below onTrackPace): AT_RISK; below: BEHIND."
    )
    alert_pace: Decimal = strawberry.field(description="Alerts list nodes with a lower pace.")

    @classmethod
    def of(cls, t: Thresholds) -> AttainmentThresholds:
        return cls(on_track_pace=t.on_track, at_risk_pace=t.at_risk, alert_pace=t.alert)


@strawberry.input(
    description="A plan's attainment thresholds: fields left out stay, null resets to the "
    "default (onTrackPace 0.95, atRiskPace 0.80, alertPace 0.80). Each above 0 and at most "
    "10; atRiskPace at most onTrackPace."
)
class PlanSettingsUpdateInput:
    plan_id: strawberry.ID = strawberry.field(description="The plan.")
    on_track_pace: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Pace at or above which a node is ON_TRACK."
    )
    at_risk_pace: Decimal | None = strawberry.field(
        default=strawberry.UNSET,
        description="Pace at or above which (below onTrackPace) a node is AT_RISK; BEHIND below.",
    )
    alert_pace: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Alerts list the nodes whose pace is below this."
    )
    diagnostics: DiagnosticsThresholdsInput | None = strawberry.field(
        default=None,
        description="Diagnostic thresholds to set (fields left out stay, null resets one).",
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )

    def command(self) -> usecases.PlanSettingsUpdate:
        changes = {
            name: None if value is None else str(value)
            for name, value in (
                ("onTrackPace", self.on_track_pace),
                ("atRiskPace", self.at_risk_pace),
                ("alertPace", self.alert_pace),
            )
            if value is not strawberry.UNSET
        }
        return usecases.PlanSettingsUpdate(
            plan_id=ids.decode(self.plan_id, "Plan", "planId"),
            attainment=changes,
            diagnostics=self.diagnostics.changes() if self.diagnostics else {},
        )


@strawberry.type(description="Result of planSettingsUpdate.")
class PlanSettingsPayload(Payload[usecases.PlanSettings]):
    plan: Annotated[Plan, strawberry.lazy("service.api.plans")] | None = strawberry.field(
        description="The plan."
    )
    attainment_thresholds: AttainmentThresholds | None = strawberry.field(
        description="The thresholds now in force."
    )
    diagnostics_thresholds: DiagnosticsThresholds | None = strawberry.field(
        description="The diagnostic thresholds now in force."
    )
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, done: usecases.PlanSettings) -> PlanSettingsPayload:
        return cls(
            plan=cast("Plan", wrap(done.plan)),
            attainment_thresholds=AttainmentThresholds.of(done.thresholds),
            diagnostics_thresholds=DiagnosticsThresholds.of(done.diagnostics),
            user_errors=[],
        )


@strawberry.type
class AttainmentMutations:
    @strawberry.mutation(
        description="Set a plan's attainment thresholds (status and alerts) and diagnostic "
        "thresholds; audited with the values before and after."
    )
    async def plan_settings_update(
        self, info: Info[Context, None], input: Annotated[PlanSettingsUpdateInput, INPUT]
    ) -> PlanSettingsPayload:
        return await mutate(
            info,
            usecases.update_settings,
            input.command,
            PlanSettingsPayload,
            reason=input.reason,
        )
