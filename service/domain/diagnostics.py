"""Plan diagnostics: the decomposition mistakes of the five dimensions, found in a
version's tree with the numbers that tripped them, and the readiness of a version.

Pure: the caller (``service.plans.diagnostics``) gathers a version's nodes with their
slices, targets, split specs, owners and strategies, the member attributes, the sales
history and actuals per node, the reviews, market sizes and the customers bought in
more than one channel, in a fixed number of statements; ``diagnose`` walks the tree
once. Every finding carries a code, a severity, the node, the measured value, the
threshold, a plain-language message and a concrete suggestion.

Thresholds (``Thresholds``) have defaults and are set per plan in
``plan.settings["diagnostics"]`` (``planSettingsUpdate``). The README's
"Diagnostics" section lists every rule with its default and an example plan that
trips it.

Shares are exact fractions; measured values and thresholds are reported as decimals
rounded to 4 places.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from service.domain.errors import InvalidInputError
from service.domain.members import (
    DEFAULT_TIERS,
    ChannelType,
    CustomerLifecycle,
    MemberAttributes,
    ProductLifecycle,
)
from service.domain.tree import DimensionKind

SETTINGS_KEY = "diagnostics"
"""Where a plan's diagnostic thresholds live in ``plan.settings``."""

DIMENSIONS = (
    DimensionKind.TIME,
    DimensionKind.REGION,
    DimensionKind.CHANNEL,
    DimensionKind.CUSTOMER,
    DimensionKind.PRODUCT,
)
"""The five dimensions of the method, in its order."""


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class Code(StrEnum):
    """One per rule; the README's "Diagnostics" lists them."""

    TIME_CONCENTRATION = "TIME_CONCENTRATION"
    TIME_FRONT_LOADED = "TIME_FRONT_LOADED"
    TIME_NO_ACTUALS = "TIME_NO_ACTUALS"
    TIME_NO_REVIEW = "TIME_NO_REVIEW"
    REGION_POTENTIAL_MISMATCH = "REGION_POTENTIAL_MISMATCH"
    REGION_NO_DATA_BASIS = "REGION_NO_DATA_BASIS"
    REGION_UNIFORM_GROWTH = "REGION_UNIFORM_GROWTH"
    CHANNEL_CONCENTRATION = "CHANNEL_CONCENTRATION"
    CHANNEL_CONFLICT = "CHANNEL_CONFLICT"
    CHANNEL_PARTNER_UNSUPPORTED = "CHANNEL_PARTNER_UNSUPPORTED"
    CUSTOMER_NO_TIERING = "CUSTOMER_NO_TIERING"
    CUSTOMER_LOW_VALUE_OVERWEIGHT = "CUSTOMER_LOW_VALUE_OVERWEIGHT"
    CUSTOMER_NEW_ONLY = "CUSTOMER_NEW_ONLY"
    PRODUCT_FLAGSHIP_OVERLOAD = "PRODUCT_FLAGSHIP_OVERLOAD"
    PRODUCT_NEW_IGNORED = "PRODUCT_NEW_IGNORED"
    PRODUCT_NO_RAMP = "PRODUCT_NO_RAMP"
    PRODUCT_CUSTOMER_MISMATCH = "PRODUCT_CUSTOMER_MISMATCH"


SEVERITY: dict[Code, Severity] = {
    Code.TIME_CONCENTRATION: Severity.WARNING,
    Code.TIME_FRONT_LOADED: Severity.WARNING,
    Code.TIME_NO_ACTUALS: Severity.WARNING,
    Code.TIME_NO_REVIEW: Severity.WARNING,
    Code.REGION_POTENTIAL_MISMATCH: Severity.WARNING,
    Code.REGION_NO_DATA_BASIS: Severity.INFO,
    Code.REGION_UNIFORM_GROWTH: Severity.INFO,
    Code.CHANNEL_CONCENTRATION: Severity.WARNING,
    Code.CHANNEL_CONFLICT: Severity.CRITICAL,
    Code.CHANNEL_PARTNER_UNSUPPORTED: Severity.WARNING,
    Code.CUSTOMER_NO_TIERING: Severity.INFO,
    Code.CUSTOMER_LOW_VALUE_OVERWEIGHT: Severity.WARNING,
    Code.CUSTOMER_NEW_ONLY: Severity.WARNING,
    Code.PRODUCT_FLAGSHIP_OVERLOAD: Severity.WARNING,
    Code.PRODUCT_NEW_IGNORED: Severity.WARNING,
    Code.PRODUCT_NO_RAMP: Severity.INFO,
    Code.PRODUCT_CUSTOMER_MISMATCH: Severity.WARNING,
}

DIMENSION_OF: dict[Code, DimensionKind] = {c: DimensionKind(c.value.split("_", 1)[0]) for c in Code}

DEFAULT_INCENTIVE_WORDS = (
    "incentive",
    "rebate",
    "commission",
    "bonus",
    "margin",
    "spiff",
    "mdf",
    "discount",
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A plan's diagnostic thresholds (JSON names in camelCase, see ``FIELDS``)."""

    time_concentration_ratio: Decimal = Decimal("1.5")
    """A period trips TIME_CONCENTRATION when its share of the parent's target exceeds
    this multiple of its share in history (by days without history)."""
    front_load_ratio: Decimal = Decimal("1.0")
    """TIME_FRONT_LOADED: the periods ending within the sales cycle hold more than this
    multiple of their share by days."""
    sales_cycle_days: int = 0
    """The plan's sales cycle in days, used where no product sets ``salesCycleDays``;
    0: no plan-wide sales cycle."""
    potential_tolerance: Decimal = Decimal("0.5")
    """REGION_POTENTIAL_MISMATCH: a region's target share over its potential share is
    above ``1 + t`` or below ``1 - t``."""
    uniform_growth_spread: Decimal = Decimal("0.02")
    """REGION_UNIFORM_GROWTH: growth rates (target / history) within this spread ..."""
    penetration_spread: Decimal = Decimal("2")
    """... while the regions' penetration (history / potential) differs by at least this
    factor (highest / lowest)."""
    channel_max_share: Decimal = Decimal("0.6")
    """CHANNEL_CONCENTRATION: one channel's share of its parent's target above this."""
    channel_conflict_customers: int = 0
    """CHANNEL_CONFLICT: more customers than this in two or more sibling channels."""
    low_value_tolerance: Decimal = Decimal("0.2")
    """CUSTOMER_LOW_VALUE_OVERWEIGHT: the lowest tier's target share above its value share
    times ``1 + t``."""
    existing_min_share: Decimal = Decimal("0.05")
    """CUSTOMER_NEW_ONLY: existing customers' share of a lifecycle split below this."""
    product_max_share: Decimal = Decimal("0.6")
    """PRODUCT_FLAGSHIP_OVERLOAD: one product's share of its parent's target above this."""
    new_product_min_share: Decimal = Decimal("0.02")
    """PRODUCT_NEW_IGNORED: a NEW product or SERVICE with a share below this."""
    ramp_min_ratio: Decimal = Decimal("1.25")
    """PRODUCT_NO_RAMP: a new product's last period's daily target over its first's below
    this (no time split: 1)."""
    mismatch_max_history_share: Decimal = Decimal("0")
    """PRODUCT_CUSTOMER_MISMATCH: the product's share of the customer segment's history
    at or below this while it gets a target."""
    review_grace_days: int = 15
    """TIME_NO_REVIEW: days after a closed period's end a review may still be held."""
    review_cadence_days: int = 31
    """Readiness: the monitoring loop runs when a review was held within this many days."""

    def to_json(self) -> dict[str, str | int]:
        out: dict[str, str | int] = {}
        for name, attr in FIELDS.items():
            value = getattr(self, attr)
            out[name] = value if isinstance(value, int) else str(value)
        return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


FIELDS: dict[str, str] = {_camel(f.name): f.name for f in fields(Thresholds)}
"""camelCase JSON name -> attribute."""

DEFAULTS = Thresholds()

MAX_DAYS = 3650
MAX_RATIO = Decimal(1000)
MAX_COUNT = 1_000_000


def _check(name: str, raw: Any) -> Decimal | int:
    attr = FIELDS[name]
    if isinstance(getattr(DEFAULTS, attr), int):
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise InvalidInputError("INVALID_VALUE", f"{name} must be a whole number", name)
        try:
            whole = int(raw)
        except ValueError:
            raise InvalidInputError(
                "INVALID_VALUE", f"{name} must be a whole number", name
            ) from None
        top = MAX_COUNT if attr == "channel_conflict_customers" else MAX_DAYS
        if not 0 <= whole <= top:
            raise InvalidInputError("OUT_OF_RANGE", f"{name} must be 0 to {top}", name)
        return whole
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise InvalidInputError("INVALID_VALUE", f"{name} must be a decimal string", name)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise InvalidInputError("INVALID_VALUE", f"{name} must be a decimal string", name) from None
    if not value.is_finite() or not 0 <= value <= MAX_RATIO:
        raise InvalidInputError("OUT_OF_RANGE", f"{name} must be 0 to {MAX_RATIO}", name)
    return value


def thresholds_from(settings: Mapping[str, Any]) -> Thresholds:
    """The thresholds stored in a plan's settings (defaults for what is not set)."""
    stored = settings.get(SETTINGS_KEY) or {}
    values: dict[str, Any] = {}
    for name, attr in FIELDS.items():
        raw = stored.get(name)
        if raw is not None:
            values[attr] = int(raw) if isinstance(getattr(DEFAULTS, attr), int) else Decimal(raw)
    return Thresholds(**values)


def update_thresholds(current: Thresholds, changes: Mapping[str, Any]) -> Thresholds:
    """``current`` with ``changes`` (camelCase names; None resets to the default). An
    error names its field under ``diagnostics``, where the input holds it."""
    values = {attr: getattr(current, attr) for attr in FIELDS.values()}
    for name, raw in changes.items():
        if name not in FIELDS:
            raise InvalidInputError(
                "INVALID_VALUE", f"unknown threshold {name!r}", f"diagnostics.{name}"
            )
        attr = FIELDS[name]
        if raw is None:
            values[attr] = getattr(DEFAULTS, attr)
            continue
        try:
            values[attr] = _check(name, raw)
        except InvalidInputError as exc:
            raise InvalidInputError(exc.code, exc.message, f"diagnostics.{name}") from None
    return Thresholds(**values)


# --- inputs -------------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """One node as the rules see it (parents before children in ``diagnose``'s input).

    Not frozen, though nothing changes a node once built: a diagnosis builds one per
    node of the version (10,000 and more per read), and a frozen dataclass's
    ``__init__`` (a guarded ``object.__setattr__`` per field) costs about seven times
    a plain one's."""

    key: int
    parent_key: int | None
    target: int
    start: date
    """Its period: its time member's range, else its nearest time ancestor's, else the
    fiscal year."""
    end: date
    kind: DimensionKind | None = None
    """The kind of its own coordinate's dimension (None on the root)."""
    dimension_id: int | None = None
    member_id: int | None = None
    label: str = ""
    """The member's code (or "root")."""
    attributes: MemberAttributes = field(default_factory=MemberAttributes)
    member_leaf: bool = False
    """Its member has no child members (a single customer, product, ...)."""
    split_kind: DimensionKind | None = None
    split_method: str | None = None
    """The allocation method of its split (None when not split or unknown)."""
    owner_id: int | None = None
    strategy: str | None = None
    history: int = 0
    """Sales of its slice over its period in the earlier years read (0: no history)."""
    actual: int = 0
    """Sales of its slice over its period up to asOf."""
    potential: Fraction | None = None
    """Market potential of its member (attribute or market size), when known."""


@dataclass(frozen=True, slots=True)
class ReviewFact:
    node_key: int
    period_member_id: int | None
    held_on: date


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules read besides the nodes."""

    as_of: date
    thresholds: Thresholds = DEFAULTS
    reviews: Sequence[ReviewFact] = ()
    shared_customers: Sequence[tuple[frozenset[int], int]] = ()
    """Customers who bought in more than one channel member, grouped by those channel
    members: (the members and all their ancestors, how many customers)."""
    tiers: Mapping[int, Sequence[str]] = field(default_factory=dict)
    """Tier order (highest value first) per dimension id; ``DEFAULT_TIERS`` otherwise."""
    actuals_through: date | None = None
    """The last day with sales imported."""


@dataclass(frozen=True, slots=True)
class Finding:
    code: Code
    severity: Severity
    node_key: int
    measured: Decimal | None
    threshold: Decimal | None
    message: str
    suggestion: str

    @property
    def dimension(self) -> DimensionKind:
        return DIMENSION_OF[self.code]


# --- helpers ------------------------------------------------------------------------------


def as_decimal(value: Fraction | int | Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    f = Fraction(value)
    return (Decimal(f.numerator) / Decimal(f.denominator)).quantize(Decimal("0.0001"))


def _pct(value: Fraction | Decimal) -> str:
    return f"{float(value) * 100:.1f} %"


class _Tree:
    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = nodes
        self.by_key = {n.key: n for n in nodes}
        self.children: dict[int, list[Node]] = defaultdict(list)
        self.by_kind: dict[int, dict[DimensionKind | None, list[Node]]] = {}
        """Per node key, its children by the kind of their coordinate (tree order)."""
        self.conflicts: list[_Conflict] = []
        """The channel conflict checks, found while the rules run (:func:`_conflict`)."""
        for n in nodes:
            if n.parent_key is not None:
                self.children[n.parent_key].append(n)
                self.by_kind.setdefault(n.parent_key, {}).setdefault(n.kind, []).append(n)

    def ancestors(self, n: Node) -> Iterable[Node]:
        p = n.parent_key
        while p is not None:
            a = self.by_key[p]
            yield a
            p = a.parent_key

    def subtree(self, n: Node) -> Iterable[Node]:
        stack = [n]
        while stack:
            x = stack.pop()
            yield x
            stack.extend(self.children.get(x.key, ()))


def _finding(
    code: Code,
    node: Node,
    measured: Fraction | int | Decimal | None,
    threshold: Fraction | int | Decimal | None,
    message: str,
    suggestion: str,
) -> Finding:
    return Finding(
        code,
        SEVERITY[code],
        node.key,
        as_decimal(measured),
        as_decimal(threshold),
        message,
        suggestion,
    )


_NO_KIDS: dict[DimensionKind | None, list[Node]] = {}


def _split_children(tree: _Tree, n: Node, kind: DimensionKind) -> list[Node]:
    return tree.by_kind.get(n.key, _NO_KIDS).get(kind, [])


def _shares(kids: Sequence[Node]) -> list[Fraction] | None:
    total = sum(c.target for c in kids)
    if total <= 0:
        return None
    return [Fraction(c.target, total) for c in kids]


# --- time ---------------------------------------------------------------------------------


def _time(tree: _Tree, n: Node, facts: Facts, out: list[Finding]) -> None:
    t = facts.thresholds
    kids = _split_children(tree, n, DimensionKind.TIME)
    if len(kids) >= 2:
        shares = _shares(kids)
        hist_total = sum(c.history for c in kids)
        days_total = sum((c.end - c.start).days for c in kids)
        if shares is not None:
            limit = Fraction(t.time_concentration_ratio)
            for c, share in zip(kids, shares, strict=True):
                expected = (
                    Fraction(c.history, hist_total)
                    if hist_total > 0
                    else Fraction((c.end - c.start).days, days_total)
                )
                if expected <= 0:
                    if share > 0 and hist_total > 0:
                        out.append(
                            _finding(
                                Code.TIME_CONCENTRATION,
                                c,
                                None,
                                t.time_concentration_ratio,
                                f"{c.label} holds {_pct(share)} of {n.label}'s target but "
                                "sold nothing in the same period of earlier years.",
                                "Move target to the periods history shows sales in, or "
                                "note why this period will sell (a launch, a campaign).",
                            )
                        )
                    continue
                ratio = share / expected
                if ratio > limit:
                    basis = "history" if hist_total > 0 else "its length"
                    out.append(
                        _finding(
                            Code.TIME_CONCENTRATION,
                            c,
                            ratio,
                            t.time_concentration_ratio,
                            f"{c.label} holds {_pct(share)} of {n.label}'s target, "
                            f"{float(ratio):.2f} times the {_pct(expected)} {basis} explains.",
                            "Spread the target by the seasonal profile (split SEASONAL or "
                            "HISTORY) so no period carries more than history supports.",
                        )
                    )
        _front_loaded(tree, n, kids, shares, facts, out)
    if n.kind is DimensionKind.TIME and n.end <= facts.as_of and n.target > 0:
        _closed_period(tree, n, facts, out)


def _sales_cycle(tree: _Tree, n: Node, facts: Facts) -> int:
    for x in (n, *tree.ancestors(n)):
        if x.kind is DimensionKind.PRODUCT and x.attributes.sales_cycle_days:
            return x.attributes.sales_cycle_days
    return facts.thresholds.sales_cycle_days


def _front_loaded(
    tree: _Tree,
    n: Node,
    kids: Sequence[Node],
    shares: list[Fraction] | None,
    facts: Facts,
    out: list[Finding],
) -> None:
    cycle = _sales_cycle(tree, n, facts)
    if not cycle or shares is None:
        return
    horizon = n.start + timedelta(days=cycle)
    early = [i for i, c in enumerate(kids) if c.end <= horizon]
    if not early or len(early) == len(kids):
        return
    share = sum((shares[i] for i in early), Fraction(0))
    days_total = sum((c.end - c.start).days for c in kids)
    by_days = Fraction(sum((kids[i].end - kids[i].start).days for i in early), days_total)
    ratio = share / by_days
    if ratio > Fraction(facts.thresholds.front_load_ratio):
        out.append(
            _finding(
                Code.TIME_FRONT_LOADED,
                n,
                ratio,
                facts.thresholds.front_load_ratio,
                f"{n.label} puts {_pct(share)} of its target in the periods ending within "
                f"its {cycle}-day sales cycle ({_pct(by_days)} of the days): deals started "
                "now cannot close in time.",
                "Shift target to later periods (split SEASONAL with a lag of the sales "
                "cycle) or check the pipeline already open covers these periods.",
            )
        )


def _closed_period(tree: _Tree, n: Node, facts: Facts, out: list[Finding]) -> None:
    parent = tree.by_key.get(n.parent_key) if n.parent_key is not None else None
    top_level = parent is None or not any(
        a.kind is DimensionKind.TIME for a in (parent, *tree.ancestors(parent))
    )
    if n.actual == 0 and (facts.actuals_through is None or facts.actuals_through < n.end):
        out.append(
            _finding(
                Code.TIME_NO_ACTUALS,
                n,
                0,
                None,
                f"{n.label} closed on {n.end - timedelta(days=1)} and no sales are imported "
                f"for it (sales imported through {facts.actuals_through or 'never'}).",
                "Import the period's sales (importSales or `quotatree import-sales`) so "
                "attainment can be tracked.",
            )
        )
    if not top_level:
        return
    deadline = n.end + timedelta(days=facts.thresholds.review_grace_days)
    chain = {n.key, *(a.key for a in tree.ancestors(n))}
    reviewed = any(
        (r.period_member_id == n.member_id and n.member_id is not None)
        or (r.node_key in chain and n.start <= r.held_on < deadline)
        for r in facts.reviews
    )
    if not reviewed and facts.as_of >= deadline:
        out.append(
            _finding(
                Code.TIME_NO_REVIEW,
                n,
                0,
                facts.thresholds.review_grace_days,
                f"{n.label} closed on {n.end - timedelta(days=1)} with no review recorded "
                f"within {facts.thresholds.review_grace_days} days.",
                "Record a review of the period (reviewCreate) with its decisions, so the "
                "rhythm of the year gets corrected.",
            )
        )


# --- region -------------------------------------------------------------------------------


def _region(tree: _Tree, n: Node, facts: Facts, out: list[Finding]) -> None:
    kids = _split_children(tree, n, DimensionKind.REGION)
    if len(kids) < 2:
        return
    t = facts.thresholds
    shares = _shares(kids)
    potentials = [c.potential for c in kids]
    known = [p for p in potentials if p is not None]
    pot_total = sum(known, Fraction(0))
    has_potential = len(known) == len(kids) and pot_total > 0
    if shares is not None and has_potential:
        tol = Fraction(t.potential_tolerance)
        for c, share in zip(kids, shares, strict=True):
            assert c.potential is not None
            pshare = c.potential / pot_total
            if pshare == 0:
                continue
            ratio = share / pshare
            if ratio > 1 + tol or ratio < 1 - tol:
                over = ratio > 1
                out.append(
                    _finding(
                        Code.REGION_POTENTIAL_MISMATCH,
                        c,
                        ratio,
                        t.potential_tolerance,
                        f"{c.label} gets {_pct(share)} of {n.label}'s target against "
                        f"{_pct(pshare)} of its market potential: "
                        + ("over-targeted for its market." if over else "under-resourced."),
                        "Re-split by POTENTIAL (or BLEND with HISTORY) so targets follow "
                        "market capacity; "
                        + (
                            "lower this region's target."
                            if over
                            else "give this high-potential region more target and people."
                        ),
                    )
                )
    history = sum(c.history for c in kids)
    if n.split_method in ("EQUAL", "MANUAL") and (history > 0 or has_potential):
        basis = "sales history" if history > 0 else "market potential"
        out.append(
            _finding(
                Code.REGION_NO_DATA_BASIS,
                n,
                None,
                None,
                f"{n.label} is split across regions by {n.split_method} although "
                f"{basis} is available for them.",
                "Re-split by HISTORY, POTENTIAL or a BLEND of both so each region's "
                "target rests on its data.",
            )
        )
    if shares is None or not has_potential or any(c.history <= 0 for c in kids):
        return
    growth = [Fraction(c.target, c.history) for c in kids]
    penetration = [Fraction(c.history) / c.potential for c in kids if c.potential]
    if len(penetration) < len(kids) or min(penetration) <= 0:
        return
    spread = max(growth) - min(growth)
    differ = max(penetration) / min(penetration)
    if spread <= Fraction(t.uniform_growth_spread) and differ >= Fraction(t.penetration_spread):
        out.append(
            _finding(
                Code.REGION_UNIFORM_GROWTH,
                n,
                spread,
                t.uniform_growth_spread,
                f"{n.label}'s regions all grow by about {_pct(growth[0] - 1)} although "
                f"their penetration of the market differs {float(differ):.1f}-fold.",
                "Set growth per region: more where penetration is low and potential high "
                "(split BLEND with POTENTIAL, or per-child growth).",
            )
        )


# --- channel ------------------------------------------------------------------------------


def _channel(tree: _Tree, n: Node, facts: Facts, out: list[Finding]) -> None:
    t = facts.thresholds
    kids = _split_children(tree, n, DimensionKind.CHANNEL)
    if len(kids) >= 2:
        shares = _shares(kids)
        if shares is not None:
            for c, share in zip(kids, shares, strict=True):
                if share > Fraction(t.channel_max_share):
                    out.append(
                        _finding(
                            Code.CHANNEL_CONCENTRATION,
                            c,
                            share,
                            t.channel_max_share,
                            f"{c.label} carries {_pct(share)} of {n.label}'s target: the "
                            "plan depends on a single channel.",
                            "Give the other channels a real share (and the means to reach "
                            "it) so one channel's shortfall does not sink the target.",
                        )
                    )
        _conflict(tree, n, kids, facts, out)
    if (
        n.kind is DimensionKind.CHANNEL
        and n.attributes.channel_type is ChannelType.PARTNER
        and n.target > 0
    ):
        owned = any(x.owner_id is not None for x in (*tree.ancestors(n), *tree.subtree(n)))
        text = (n.strategy or "").lower()
        incentive = any(w in text for w in DEFAULT_INCENTIVE_WORDS)
        if not owned or not incentive:
            missing = " and ".join(
                w for w, ok in (("an owner", owned), ("an incentive", incentive)) if not ok
            )
            out.append(
                _finding(
                    Code.CHANNEL_PARTNER_UNSUPPORTED,
                    n,
                    None,
                    None,
                    f"Partner channel {n.label} has a target but no {missing} noted.",
                    "Assign a channel manager (nodeAssignOwner) and write the partners' "
                    "incentive (margin, rebate, bonus) into the node's strategy.",
                )
            )


@dataclass(frozen=True, slots=True)
class _Conflict:
    """A channel split's conflict check, waiting for the customers shared between
    channels: where its finding goes among the others, and what the tree alone says."""

    at: int
    node: Node
    members: tuple[int, ...]
    targeted: int


def _conflict(tree: _Tree, n: Node, kids: Sequence[Node], facts: Facts, out: list[Finding]) -> None:
    # targets: the same single customer with a target under two sibling channels
    holders: dict[int, set[int]] = defaultdict(set)
    for i, c in enumerate(kids):
        for x in tree.subtree(c):
            if x.kind is DimensionKind.CUSTOMER and x.member_leaf and x.target > 0:
                assert x.member_id is not None
                holders[x.member_id].add(i)
    targeted = sum(1 for held in holders.values() if len(held) >= 2)
    members = tuple(c.member_id for c in kids if c.member_id is not None)
    tree.conflicts.append(_Conflict(len(out), n, members, targeted))


def _conflict_finding(
    conflict: _Conflict,
    shared_customers: Sequence[tuple[frozenset[int], int]],
    thresholds: Thresholds,
) -> Finding | None:
    n, members, targeted = conflict.node, conflict.members, conflict.targeted
    shared = 0
    for seen, customers in shared_customers:
        if sum(1 for m in members if m in seen) >= 2:
            shared += customers
    count = max(shared, targeted)
    if count <= thresholds.channel_conflict_customers:
        return None
    return _finding(
        Code.CHANNEL_CONFLICT,
        n,
        count,
        thresholds.channel_conflict_customers,
        f"{count} customer(s) of {n.label} are served by more than one channel "
        f"({shared} with sales in several, {targeted} with targets in several).",
        "Give each customer one channel of record (accounts rules), or credit "
        "shared sales explicitly, so channels do not chase the same customers.",
    )


# --- customer -----------------------------------------------------------------------------


def _customer(tree: _Tree, n: Node, facts: Facts, out: list[Finding]) -> None:
    kids = _split_children(tree, n, DimensionKind.CUSTOMER)
    if len(kids) < 2:
        return
    t = facts.thresholds
    shares = _shares(kids)
    tiers = [c.attributes.tier for c in kids]
    lifecycles = [c.attributes.customer_lifecycle for c in kids]
    if all(x is None for x in tiers) and all(x is None for x in lifecycles):
        out.append(
            _finding(
                Code.CUSTOMER_NO_TIERING,
                n,
                None,
                None,
                f"{n.label} is split by customer with no tier on any of its "
                f"{len(kids)} customer segments: high-value customers cannot be served first.",
                "Set a value tier (attribute `tier`) on the customer members and split by "
                "tier, so effort follows customer value.",
            )
        )
    if shares is None:
        return
    if any(x is not None for x in tiers):
        order = list(facts.tiers.get(kids[0].dimension_id or 0, DEFAULT_TIERS))
        present = sorted({x for x in tiers if x is not None}, key=order.index)
        value_total = sum(c.history for c in kids)
        if len(present) >= 2 and value_total > 0:
            low = present[-1]
            share = sum(
                (s for c, s in zip(kids, shares, strict=True) if c.attributes.tier == low),
                Fraction(0),
            )
            value = Fraction(sum(c.history for c in kids if c.attributes.tier == low), value_total)
            limit = value * (1 + Fraction(t.low_value_tolerance))
            if share > limit:
                out.append(
                    _finding(
                        Code.CUSTOMER_LOW_VALUE_OVERWEIGHT,
                        n,
                        share / value if value else None,
                        1 + t.low_value_tolerance,
                        f"Tier {low} customers get {_pct(share)} of {n.label}'s target "
                        f"but bring {_pct(value)} of its value.",
                        "Move target from the lowest tier to the high-value tiers (split "
                        "HISTORY) and serve low-value customers through cheaper channels.",
                    )
                )
    if any(x is not None for x in lifecycles):
        existing = sum(
            (
                s
                for c, s in zip(kids, shares, strict=True)
                if c.attributes.customer_lifecycle is CustomerLifecycle.EXISTING
            ),
            Fraction(0),
        )
        if existing < Fraction(t.existing_min_share):
            out.append(
                _finding(
                    Code.CUSTOMER_NEW_ONLY,
                    n,
                    existing,
                    t.existing_min_share,
                    f"{n.label} puts {_pct(existing)} of its target on existing customers: "
                    "renewals, repeat purchases and upsell count for nothing.",
                    "Add targets for existing customers (renewal, repeat, upsell) beside "
                    "new business.",
                )
            )


# --- product ------------------------------------------------------------------------------


def _product(tree: _Tree, n: Node, facts: Facts, out: list[Finding]) -> None:
    t = facts.thresholds
    kids = _split_children(tree, n, DimensionKind.PRODUCT)
    if len(kids) >= 2:
        shares = _shares(kids)
        for i, c in enumerate(kids):
            share = shares[i] if shares is not None else Fraction(0)
            if share > Fraction(t.product_max_share):
                out.append(
                    _finding(
                        Code.PRODUCT_FLAGSHIP_OVERLOAD,
                        c,
                        share,
                        t.product_max_share,
                        f"{c.label} carries {_pct(share)} of {n.label}'s target: the "
                        "portfolio leans on one line.",
                        "Shift part of the target to other lines and new products so one "
                        "line's slowdown does not sink the plan.",
                    )
                )
            life = c.attributes.product_lifecycle
            if life in (ProductLifecycle.NEW, ProductLifecycle.SERVICE) and share < Fraction(
                t.new_product_min_share
            ):
                out.append(
                    _finding(
                        Code.PRODUCT_NEW_IGNORED,
                        c,
                        share,
                        t.new_product_min_share,
                        f"{life.value.lower()} {c.label} gets {_pct(share)} of "
                        f"{n.label}'s target: a token target nobody will work for.",
                        "Give new products and services a real (ramped) target and an "
                        "owner, so they get sold at all.",
                    )
                )
    if n.kind is DimensionKind.PRODUCT:
        _ramp(tree, n, facts, out)
        _mismatch(tree, n, facts, out)


def _is_new(n: Node) -> bool:
    a = n.attributes
    if a.product_lifecycle is ProductLifecycle.NEW:
        return True
    return a.launch_date is not None and n.start <= a.launch_date < n.end


def _ramp(tree: _Tree, n: Node, facts: Facts, out: list[Finding]) -> None:
    if not _is_new(n) or n.target <= 0 or (n.end - n.start).days < 300:
        return
    kids = _split_children(tree, n, DimensionKind.TIME)
    if len(kids) >= 2:
        first, last = kids[0], kids[-1]
        rate_first = Fraction(first.target, (first.end - first.start).days)
        rate_last = Fraction(last.target, (last.end - last.start).days)
        if rate_first == 0:
            return
        ratio = rate_last / rate_first
        shape = "flat"
    else:
        ratio = Fraction(1)
        shape = "not split by time"
    if ratio < Fraction(facts.thresholds.ramp_min_ratio):
        out.append(
            _finding(
                Code.PRODUCT_NO_RAMP,
                n,
                ratio,
                facts.thresholds.ramp_min_ratio,
                f"New product {n.label} has a full-year target that is {shape}: as much "
                "from the first month as from the last.",
                "Start with a pilot and ramp the target up (split SEASONAL with `ramp`), "
                "with a review after the pilot.",
            )
        )


def _mismatch(tree: _Tree, n: Node, facts: Facts, out: list[Finding]) -> None:
    if n.target <= 0 or n.parent_key is None:
        return
    segment = tree.by_key[n.parent_key]
    in_customer = any(a.kind is DimensionKind.CUSTOMER for a in tree.ancestors(n))
    if not in_customer or segment.history <= 0:
        return
    share = Fraction(n.history, segment.history)
    if share <= Fraction(facts.thresholds.mismatch_max_history_share):
        out.append(
            _finding(
                Code.PRODUCT_CUSTOMER_MISMATCH,
                n,
                share,
                facts.thresholds.mismatch_max_history_share,
                f"{n.label} gets a target in {segment.label}, a segment whose purchases "
                f"included {_pct(share)} of this product in earlier years.",
                "Check the segment needs the product (pilot it with a few accounts) or "
                "move the target to segments that buy it.",
            )
        )


# --- entry points -------------------------------------------------------------------------

RULES = (_time, _region, _channel, _customer, _product)


def diagnose(nodes: Sequence[Node], facts: Facts) -> list[Finding]:
    """Every finding on the tree, in tree order of the nodes they were found at."""
    return diagnose_pending(nodes, facts).complete(facts.shared_customers)


@dataclass(frozen=True, slots=True)
class PendingDiagnosis:
    """Every finding but the channel conflicts, which wait for the customers shared
    between channels (the largest read of the sales): the rules run while the database
    still reads them, and :meth:`complete` adds the conflicts in their places."""

    findings: list[Finding]
    conflicts: list[_Conflict]
    thresholds: Thresholds

    def complete(self, shared_customers: Sequence[tuple[frozenset[int], int]]) -> list[Finding]:
        """The findings, in the order :func:`diagnose` gives them, given the customers
        who bought in more than one channel member (as ``Facts.shared_customers``)."""
        out: list[Finding] = []
        done = 0
        for c in self.conflicts:
            out.extend(self.findings[done : c.at])
            done = c.at
            found = _conflict_finding(c, shared_customers, self.thresholds)
            if found is not None:
                out.append(found)
        out.extend(self.findings[done:])
        return out


def diagnose_pending(nodes: Sequence[Node], facts: Facts) -> PendingDiagnosis:
    """Every rule on the tree; ``facts.shared_customers`` is not read (see
    :class:`PendingDiagnosis`)."""
    tree = _Tree(nodes)
    out: list[Finding] = []
    for n in nodes:
        for rule in RULES:
            rule(tree, n, facts, out)
    return PendingDiagnosis(findings=out, conflicts=tree.conflicts, thresholds=facts.thresholds)


# --- readiness ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DimensionDepth:
    kind: DimensionKind
    depth: int
    """Most levels of this dimension on one path from the root (0: not decomposed)."""
    nodes: int


@dataclass(frozen=True, slots=True)
class Readiness:
    dimensions: tuple[DimensionDepth, ...]
    total_target: int
    owned_target: int
    """Target held by leaves with an owner (their own or an ancestor's)."""
    leaves: int
    unowned_leaves: tuple[int, ...]
    """Keys of the leaves no one owns, in tree order."""
    actuals_through: date | None
    last_review: date | None
    reviews_in_cadence: bool
    cadence_days: int
    open_alerts: int

    @property
    def owned_share(self) -> Fraction | None:
        return Fraction(self.owned_target, self.total_target) if self.total_target else None


def readiness(
    nodes: Sequence[Node],
    facts: Facts,
    open_alerts: int,
) -> Readiness:
    """The article's three closing questions as numbers."""
    tree = _Tree(nodes)
    levels: dict[int, dict[DimensionKind, int]] = {}
    depth = dict.fromkeys(DIMENSIONS, 0)
    counts = dict.fromkeys(DIMENSIONS, 0)
    owner: dict[int, int | None] = {}
    leaves = 0
    owned = 0
    unowned: list[int] = []
    root_target = 0
    for n in nodes:
        here = dict(levels[n.parent_key]) if n.parent_key is not None else {}
        if n.kind in depth:
            assert n.kind is not None
            here[n.kind] = here.get(n.kind, 0) + 1
            depth[n.kind] = max(depth[n.kind], here[n.kind])
            counts[n.kind] += 1
        levels[n.key] = here
        owner[n.key] = (
            n.owner_id
            if n.owner_id is not None
            else (owner[n.parent_key] if n.parent_key is not None else None)
        )
        if n.parent_key is None:
            root_target += n.target
        if not tree.children.get(n.key):
            leaves += 1
            if owner[n.key] is not None:
                owned += n.target
            else:
                unowned.append(n.key)
    last = max((r.held_on for r in facts.reviews if r.held_on <= facts.as_of), default=None)
    cadence = facts.thresholds.review_cadence_days
    return Readiness(
        dimensions=tuple(DimensionDepth(k, depth[k], counts[k]) for k in DIMENSIONS),
        total_target=root_target,
        owned_target=owned,
        leaves=leaves,
        unowned_leaves=tuple(unowned),
        actuals_through=facts.actuals_through,
        last_review=last,
        reviews_in_cadence=last is not None and (facts.as_of - last).days <= cadence,
        cadence_days=cadence,
        open_alerts=open_alerts,
    )
