"""Diagnostics on the API: findings (``PlanVersion.diagnostics``, ``TargetNode.diagnostics``),
``PlanVersion.readiness`` and the per-plan thresholds (``DiagnosticsThresholds``).

Every read goes through the request's diagnostics loader, keyed by (version, asOf): a
version is diagnosed once per request, in a fixed number of statements, whatever the
number of fields asking (see ``service.plans.diagnostics``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from service.api import dimensions as _dimensions  # noqa: F401  (registers DimensionKind)
from service.api.context import Context
from service.api.scalars import Amount, describe_enum
from service.api.wrap import wrap
from service.domain import diagnostics as rules
from service.domain.diagnostics import Code, Severity
from service.domain.money import format_amount
from service.domain.tree import DimensionKind, InvalidInputError
from service.plans.diagnostics import (
    DEFAULT_FINDINGS,
    MAX_FINDINGS,
    MAX_UNOWNED_LEAVES,
    VersionDiagnostics,
)

if TYPE_CHECKING:
    from service.api.nodes import TargetNode


describe_enum(
    Severity,
    "How much a finding matters.",
    {
        "INFO": "Worth a look: the plan may be right, but the data suggests otherwise.",
        "WARNING": "A decomposition mistake the method warns against.",
        "CRITICAL": "A mistake that sets owners against each other or leaves money unowned.",
    },
)
describe_enum(
    Code,
    "The rule a finding comes from; the README's 'Diagnostics' lists each with its default "
    "threshold and an example.",
    {
        "TIME_CONCENTRATION": "A period holds more of its parent's target than history's "
        "seasonality (or its length, without history) explains.",
        "TIME_FRONT_LOADED": "The periods ending within the sales cycle hold more than their "
        "share by days: the pipeline cannot close them yet.",
        "TIME_NO_ACTUALS": "A closed period with no sales imported.",
        "TIME_NO_REVIEW": "A closed period with no review recorded within the grace days.",
        "REGION_POTENTIAL_MISMATCH": "A region's target share out of line with its share of "
        "market potential.",
        "REGION_NO_DATA_BASIS": "A region split by EQUAL or MANUAL although history or "
        "potential was available.",
        "REGION_UNIFORM_GROWTH": "The same growth rate for regions whose penetration of their "
        "market differs widely.",
        "CHANNEL_CONCENTRATION": "One channel carries more than the threshold share.",
        "CHANNEL_CONFLICT": "Customers with sales or targets in more than one sibling channel.",
        "CHANNEL_PARTNER_UNSUPPORTED": "A partner channel with no owner or no incentive in its "
        "strategy.",
        "CUSTOMER_NO_TIERING": "A customer split with no tier or lifecycle on its segments.",
        "CUSTOMER_LOW_VALUE_OVERWEIGHT": "The lowest tier gets a larger share of the target than "
        "of the value.",
        "CUSTOMER_NEW_ONLY": "A lifecycle split with (almost) nothing for existing customers.",
        "PRODUCT_FLAGSHIP_OVERLOAD": "One product carries more than the threshold share.",
        "PRODUCT_NEW_IGNORED": "A new product or service with no target or a token one.",
        "PRODUCT_NO_RAMP": "A new product with a flat full-year target (no pilot, no ramp).",
        "PRODUCT_CUSTOMER_MISMATCH": "A product target in a customer segment that never bought "
        "the product.",
    },
)

Severities = Annotated[
    list[Severity] | None,
    strawberry.argument(description="Only findings of these severities (all when null)."),
]
Codes = Annotated[
    list[Code] | None,
    strawberry.argument(description="Only findings of these rules (all when null)."),
]
First = Annotated[
    int | None,
    strawberry.argument(
        description=f"At most this many, in tree order (1 to {MAX_FINDINGS}; "
        f"{DEFAULT_FINDINGS} when null)."
    ),
]


AsOf = Annotated[
    date | None,
    strawberry.argument(
        description="The day the diagnosis is made on (included); today (UTC) when null."
    ),
]


def as_of_or_today(as_of: date | None) -> date:
    """The day an ``asOf`` argument names; today (UTC) when it is null."""
    return as_of if as_of is not None else datetime.now(UTC).date()


async def version_diagnostics(
    info: Info[Context, None], version_id: int, as_of: date | None
) -> VersionDiagnostics:
    return await info.context.loaders.diagnostics_by_version.load(
        (version_id, as_of_or_today(as_of))
    )


@strawberry.type(
    description="A decomposition mistake found in a plan: the rule, the node, the numbers that "
    "tripped it and what to do."
)
class Finding:
    code: Code = strawberry.field(description="The rule.")
    severity: Severity = strawberry.field(description="How much it matters.")
    dimension: DimensionKind = strawberry.field(description="The dimension the rule guards.")
    measured: Decimal | None = strawberry.field(
        description="The measured value (a share, a ratio, a count; 4 decimals); null when "
        "the rule is a yes/no check."
    )
    threshold: Decimal | None = strawberry.field(
        description="The plan's threshold it was compared with; null for a yes/no check."
    )
    message: str = strawberry.field(description="What is wrong, in plain language.")
    suggestion: str = strawberry.field(description="A concrete way to fix it.")
    version_id: strawberry.Private[int]
    node_key: strawberry.Private[int]

    @strawberry.field(description="The node the finding is about.")
    async def node(
        self, info: Info[Context, None]
    ) -> Annotated[TargetNode, strawberry.lazy("service.api.nodes")]:
        row = await info.context.loaders.node_by_id.load((self.version_id, self.node_key))
        assert row is not None  # findings come from this version's nodes
        found: Any = wrap(row)
        return found  # type: ignore[no-any-return]

    @classmethod
    def of(cls, version_id: int, f: rules.Finding) -> Finding:
        return cls(
            code=f.code,
            severity=f.severity,
            dimension=f.dimension,
            measured=f.measured,
            threshold=f.threshold,
            message=f.message,
            suggestion=f.suggestion,
            version_id=version_id,
            node_key=f.node_key,
        )


def page_size(first: int | None) -> int:
    size = DEFAULT_FINDINGS if first is None else first
    if not 1 <= size <= MAX_FINDINGS:
        raise InvalidInputError(
            "OUT_OF_RANGE", f"`first` must be between 1 and {MAX_FINDINGS}", "first"
        )
    return size


def findings(
    found: VersionDiagnostics,
    *,
    keys: set[int] | None,
    severities: Iterable[Severity] | None,
    codes: Iterable[Code] | None,
    first: int | None,
) -> list[Finding]:
    size = page_size(first)
    chosen = found.select(keys=keys, severities=severities, codes=codes)[:size]
    return [Finding.of(found.version_id, f) for f in chosen]


Touched = tuple[int, tuple[int, ...], tuple[int, ...]]
"""What a mutation touched: (version id, nodes whose subtrees count, single nodes)."""

PAYLOAD_DIAGNOSTICS = (
    "Diagnostic findings on what the change touched (the split node and its new subtree; "
    "an edited node's parent and siblings, and every node whose target moved), as of "
    "today: the change is applied either way, this is the warning. Computed only when "
    "asked for (it diagnoses the version)."
)


async def payload_findings(
    info: Info[Context, None],
    touched: Touched | None,
    severities: Iterable[Severity] | None,
    codes: Iterable[Code] | None,
    first: int | None,
) -> list[Finding] | None:
    """The findings of a payload's touched nodes; None when the mutation failed."""
    if touched is None:
        return None
    version_id, roots, single = touched
    found = await version_diagnostics(info, version_id, None)
    keys = set(single)
    for key in roots:
        keys |= found.subtree(key)
    return findings(found, keys=keys, severities=severities, codes=codes, first=first)


@strawberry.type(description="How deep the tree decomposes along one of the five dimensions.")
class DimensionDepth:
    kind: DimensionKind = strawberry.field(description="The dimension.")
    depth: int = strawberry.field(
        description="Most levels of this dimension on one path from the root (0: the tree "
        "does not decompose along it)."
    )
    nodes: int = strawberry.field(description="Nodes whose own coordinate is of this kind.")


@strawberry.type(
    description="The method's three closing questions as numbers: is the target decomposed "
    "along every dimension that matters; does every team know its numbers; does the "
    "monitoring loop run."
)
class Readiness:
    as_of: date = strawberry.field(description="The day the numbers are taken on.")
    dimensions: list[DimensionDepth] = strawberry.field(
        description="The five dimensions (time, region, channel, customer, product) in that "
        "order, with how deep the tree goes along each."
    )
    total_target: Amount = strawberry.field(description="The version's whole target.")
    owned_target: Amount = strawberry.field(
        description="Target held by leaves with an owner (their own or an ancestor's)."
    )
    owned_share: Decimal | None = strawberry.field(
        description="The share of the target owned: ownedTarget / totalTarget, 4 decimals; null "
        "for a zero target."
    )
    leaves: int = strawberry.field(description="Leaves of the tree.")
    unowned_leaf_count: int = strawberry.field(description="Leaves nobody owns.")
    actuals_through: date | None = strawberry.field(
        description="The last day with sales imported (from a year before the fiscal year to "
        "asOf); null when none."
    )
    last_review: date | None = strawberry.field(
        description="The last review of the version held on or before asOf."
    )
    review_cadence_days: int = strawberry.field(
        description="The plan's review cadence in days (threshold reviewCadenceDays)."
    )
    reviews_in_cadence: bool = strawberry.field(
        description="A review was held within the cadence before asOf."
    )
    open_alerts: int = strawberry.field(
        description="Nodes behind the plan's alert pace (PlanVersion.alerts)."
    )
    findings_by_severity: list[SeverityCount] = strawberry.field(
        description="How many findings of each severity the version has."
    )
    version_id: strawberry.Private[int]
    unowned: strawberry.Private[tuple[int, ...]]

    @strawberry.field(
        description=f"Leaves nobody owns, in tree order (at most {MAX_UNOWNED_LEAVES})."
    )
    async def unowned_leaves(
        self,
        info: Info[Context, None],
        first: Annotated[
            int | None,
            strawberry.argument(
                description=f"At most this many (1 to {MAX_UNOWNED_LEAVES}; 50 when null)."
            ),
        ] = None,
    ) -> list[Annotated[TargetNode, strawberry.lazy("service.api.nodes")]]:
        size = 50 if first is None else first
        if not 1 <= size <= MAX_UNOWNED_LEAVES:
            raise InvalidInputError(
                "OUT_OF_RANGE", f"`first` must be between 1 and {MAX_UNOWNED_LEAVES}", "first"
            )
        rows = await info.context.loaders.node_by_id.load_many(
            [(self.version_id, k) for k in self.unowned[:size]]
        )
        return [wrap(r) for r in rows if r is not None]


@strawberry.type(description="A number of findings of one severity.")
class SeverityCount:
    severity: Severity = strawberry.field(description="The severity.")
    count: int = strawberry.field(description="Findings of it.")


async def readiness(info: Info[Context, None], version_id: int, as_of: date | None) -> Readiness:
    found = await version_diagnostics(info, version_id, as_of)
    r = found.readiness()
    digits = found.attainment.digits

    def money(value: int) -> Amount:
        return Amount(format_amount(value, digits))

    share = r.owned_share
    return Readiness(
        as_of=found.as_of,
        dimensions=[
            DimensionDepth(kind=x.kind, depth=x.depth, nodes=x.nodes) for x in r.dimensions
        ],
        total_target=money(r.total_target),
        owned_target=money(r.owned_target),
        owned_share=None if share is None else rules.as_decimal(share),
        leaves=r.leaves,
        unowned_leaf_count=len(r.unowned_leaves),
        actuals_through=r.actuals_through,
        last_review=r.last_review,
        review_cadence_days=r.cadence_days,
        reviews_in_cadence=r.reviews_in_cadence,
        open_alerts=r.open_alerts,
        findings_by_severity=[
            SeverityCount(severity=s, count=sum(1 for f in found.findings if f.severity is s))
            for s in Severity
        ],
        version_id=version_id,
        unowned=r.unowned_leaves,
    )


# --- thresholds ---------------------------------------------------------------------------


_DOC = {
    "review_cadence_days": (
        "Readiness: reviews run when one was held within this many days. Default 31."
    ),
    "time_concentration_ratio": (
        "TIME_CONCENTRATION: a period's share of its parent's target above this multiple "
        "of its share in history (by days without history). Default 1.5."
    ),
    "front_load_ratio": (
        "TIME_FRONT_LOADED: periods ending within the sales cycle holding more than this "
        "multiple of their share by days. Default 1.0."
    ),
    "sales_cycle_days": (
        "The plan-wide sales cycle in days, where no product sets salesCycleDays; 0: "
        "none. Default 0."
    ),
    "potential_tolerance": (
        "REGION_POTENTIAL_MISMATCH: target share / potential share above 1 + this or "
        "below 1 - this. Default 0.5."
    ),
    "uniform_growth_spread": (
        "REGION_UNIFORM_GROWTH: growth rates (target / history) within this spread ... "
        "Default 0.02."
    ),
    "penetration_spread": (
        "... while penetration (history / potential) differs by at least this factor. Default 2."
    ),
    "channel_max_share": ("CHANNEL_CONCENTRATION: one channel's share above this. Default 0.6."),
    "channel_conflict_customers": (
        "CHANNEL_CONFLICT: more customers than this in several sibling channels. Default 0."
    ),
    "low_value_tolerance": (
        "CUSTOMER_LOW_VALUE_OVERWEIGHT: the lowest tier's target share above its value "
        "share times 1 + this. Default 0.2."
    ),
    "existing_min_share": (
        "CUSTOMER_NEW_ONLY: existing customers' share below this. Default 0.05."
    ),
    "product_max_share": (
        "PRODUCT_FLAGSHIP_OVERLOAD: one product's share above this. Default 0.6."
    ),
    "new_product_min_share": (
        "PRODUCT_NEW_IGNORED: a NEW product or SERVICE with a share below this. Default 0.02."
    ),
    "ramp_min_ratio": (
        "PRODUCT_NO_RAMP: last period's daily target over the first's below this. Default 1.25."
    ),
    "mismatch_max_history_share": (
        "PRODUCT_CUSTOMER_MISMATCH: the product's share of the segment's history at or "
        "below this. Default 0."
    ),
    "review_grace_days": (
        "TIME_NO_REVIEW: days after a period's end a review may still be held. Default 15."
    ),
}
"""Each threshold's rule and default (``service.domain.diagnostics.Thresholds``)."""


@strawberry.type(
    description="A plan's diagnostic thresholds (README 'Diagnostics' gives each rule's use)."
)
class DiagnosticsThresholds:
    time_concentration_ratio: Decimal = strawberry.field(
        description=_DOC["time_concentration_ratio"]
    )
    front_load_ratio: Decimal = strawberry.field(description=_DOC["front_load_ratio"])
    sales_cycle_days: int = strawberry.field(description=_DOC["sales_cycle_days"])
    potential_tolerance: Decimal = strawberry.field(description=_DOC["potential_tolerance"])
    uniform_growth_spread: Decimal = strawberry.field(description=_DOC["uniform_growth_spread"])
    penetration_spread: Decimal = strawberry.field(description=_DOC["penetration_spread"])
    channel_max_share: Decimal = strawberry.field(description=_DOC["channel_max_share"])
    channel_conflict_customers: int = strawberry.field(
        description=_DOC["channel_conflict_customers"]
    )
    low_value_tolerance: Decimal = strawberry.field(description=_DOC["low_value_tolerance"])
    existing_min_share: Decimal = strawberry.field(description=_DOC["existing_min_share"])
    product_max_share: Decimal = strawberry.field(description=_DOC["product_max_share"])
    new_product_min_share: Decimal = strawberry.field(description=_DOC["new_product_min_share"])
    ramp_min_ratio: Decimal = strawberry.field(description=_DOC["ramp_min_ratio"])
    mismatch_max_history_share: Decimal = strawberry.field(
        description=_DOC["mismatch_max_history_share"]
    )
    review_grace_days: int = strawberry.field(description=_DOC["review_grace_days"])
    review_cadence_days: int = strawberry.field(description=_DOC["review_cadence_days"])

    @classmethod
    def of(cls, t: rules.Thresholds) -> DiagnosticsThresholds:
        return cls(**{attr: getattr(t, attr) for attr in rules.FIELDS.values()})


@strawberry.input(
    description="Diagnostic thresholds to set: fields left out stay, null resets to the "
    "default (see the README's 'Diagnostics'). Ratios and shares 0 to 1000; days 0 to 3650."
)
class DiagnosticsThresholdsInput:
    time_concentration_ratio: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["time_concentration_ratio"]
    )
    front_load_ratio: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["front_load_ratio"]
    )
    sales_cycle_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["sales_cycle_days"]
    )
    potential_tolerance: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["potential_tolerance"]
    )
    uniform_growth_spread: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["uniform_growth_spread"]
    )
    penetration_spread: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["penetration_spread"]
    )
    channel_max_share: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["channel_max_share"]
    )
    channel_conflict_customers: int | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["channel_conflict_customers"]
    )
    low_value_tolerance: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["low_value_tolerance"]
    )
    existing_min_share: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["existing_min_share"]
    )
    product_max_share: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["product_max_share"]
    )
    new_product_min_share: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["new_product_min_share"]
    )
    ramp_min_ratio: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["ramp_min_ratio"]
    )
    mismatch_max_history_share: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["mismatch_max_history_share"]
    )
    review_grace_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["review_grace_days"]
    )
    review_cadence_days: int | None = strawberry.field(
        default=strawberry.UNSET, description=_DOC["review_cadence_days"]
    )

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, attr in rules.FIELDS.items():
            value = getattr(self, attr)
            if value is strawberry.UNSET:
                continue
            out[name] = None if value is None else (value if isinstance(value, int) else str(value))
        return out
