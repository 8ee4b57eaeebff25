"""Every diagnostic rule: a plan that trips it and a close one that does not; thresholds
set per plan change the outcome; readiness numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from service.domain import diagnostics as d
from service.domain.diagnostics import Code, Facts, Node, ReviewFact, Thresholds
from service.domain.errors import InvalidInputError
from service.domain.members import (
    ChannelType,
    CustomerLifecycle,
    MemberAttributes,
    ProductLifecycle,
)
from service.domain.tree import DimensionKind as K

Y0, Y1 = date(2026, 1, 1), date(2027, 1, 1)
QUARTERS = [
    (date(2026, 1, 1), date(2026, 4, 1)),
    (date(2026, 4, 1), date(2026, 7, 1)),
    (date(2026, 7, 1), date(2026, 10, 1)),
    (date(2026, 10, 1), date(2027, 1, 1)),
]
EARLY = Facts(as_of=date(2026, 1, 15))


def root(target: int = 1000, **kw: object) -> Node:
    return Node(key=1, parent_key=None, target=target, start=Y0, end=Y1, **kw)  # type: ignore[arg-type]


def kids(
    kind: K,
    targets: list[int],
    *,
    parent: int = 1,
    first_key: int = 10,
    attrs: list[MemberAttributes] | None = None,
    **kw: object,
) -> list[Node]:
    out = []
    for i, t in enumerate(targets):
        start, end = QUARTERS[i] if kind is K.TIME else (Y0, Y1)
        extra = {k: (v[i] if isinstance(v, list) else v) for k, v in kw.items()}
        out.append(
            Node(
                key=first_key + i,
                parent_key=parent,
                target=t,
                start=start,
                end=end,
                kind=kind,
                dimension_id=100,
                member_id=1000 + first_key + i,
                label=f"m{i}",
                attributes=attrs[i] if attrs else MemberAttributes(),
                **extra,  # type: ignore[arg-type]
            )
        )
    return out


def codes(nodes: list[Node], facts: Facts = EARLY) -> list[Code]:
    return [f.code for f in d.diagnose(nodes, facts)]


def with_thresholds(**kw: object) -> Facts:
    return replace(EARLY, thresholds=replace(Thresholds(), **kw))  # type: ignore[arg-type]


# --- time ---------------------------------------------------------------------------------


def test_time_concentration_against_history() -> None:
    base = root(split_kind=K.TIME)
    piled = kids(K.TIME, [550, 150, 150, 150], history=[250, 250, 250, 250])
    assert codes([base, *piled]) == [Code.TIME_CONCENTRATION]
    found = d.diagnose([base, *piled], EARLY)[0]
    assert found.node_key == 10 and found.measured == Decimal("2.2000")
    assert found.threshold == Decimal("1.5") and found.severity is d.Severity.WARNING
    # the same target is fine when history is as seasonal
    seasonal = kids(K.TIME, [550, 150, 150, 150], history=[500, 170, 160, 170])
    assert codes([base, *seasonal]) == []
    # a per-plan threshold lets the pile pass
    assert codes([base, *piled], with_thresholds(time_concentration_ratio=Decimal(3))) == []


def test_time_concentration_without_history_goes_by_days() -> None:
    base = root(split_kind=K.TIME)
    assert codes([base, *kids(K.TIME, [100, 100, 100, 700])]) == [Code.TIME_CONCENTRATION]
    assert codes([base, *kids(K.TIME, [250, 250, 250, 250])]) == []


def test_front_loaded_within_the_product_sales_cycle() -> None:
    product = replace(
        root(split_kind=K.TIME),
        kind=K.PRODUCT,
        attributes=MemberAttributes(sales_cycle_days=120),
    )
    front = kids(K.TIME, [400, 200, 200, 200], history=[250, 250, 250, 250])
    assert Code.TIME_FRONT_LOADED in codes([product, *front])
    even = kids(K.TIME, [240, 250, 250, 260])
    assert Code.TIME_FRONT_LOADED not in codes([product, *even])
    # no sales cycle anywhere: the rule is off; the plan-wide cycle switches it on
    plain = root(split_kind=K.TIME)
    assert Code.TIME_FRONT_LOADED not in codes([plain, *front])
    assert Code.TIME_FRONT_LOADED in codes([plain, *front], with_thresholds(sales_cycle_days=100))


def test_closed_periods_without_actuals_or_review() -> None:
    base = root(split_kind=K.TIME)
    quarters = kids(K.TIME, [250, 250, 250, 250])
    late = Facts(as_of=date(2026, 5, 1), actuals_through=None)
    assert codes([base, *quarters], late) == [Code.TIME_NO_ACTUALS, Code.TIME_NO_REVIEW]
    # actuals and a review of Q1 within the grace days: nothing
    quarters[0] = replace(quarters[0], actual=90)
    ok = Facts(
        as_of=date(2026, 5, 1),
        actuals_through=date(2026, 4, 30),
        reviews=[ReviewFact(node_key=1, period_member_id=None, held_on=date(2026, 4, 5))],
    )
    assert codes([base, *quarters], ok) == []
    # still inside the grace days: no review expected yet
    soon = replace(ok, as_of=date(2026, 4, 10), reviews=[])
    assert codes([base, *quarters], soon) == []


# --- region -------------------------------------------------------------------------------


def test_region_potential_mismatch() -> None:
    base = root(split_kind=K.REGION, split_method="HISTORY")
    pots = [Fraction(100), Fraction(100), Fraction(800)]
    off = kids(K.REGION, [400, 300, 300], potential=pots)
    found = [f for f in d.diagnose([base, *off], EARLY)]
    assert {(f.code, f.node_key) for f in found} == {
        (Code.REGION_POTENTIAL_MISMATCH, 10),
        (Code.REGION_POTENTIAL_MISMATCH, 11),
        (Code.REGION_POTENTIAL_MISMATCH, 12),
    }
    close = kids(K.REGION, [120, 120, 760], potential=pots)
    assert codes([base, *close]) == []
    assert codes([base, *off], with_thresholds(potential_tolerance=Decimal(4))) == []


def test_region_split_without_data_basis() -> None:
    gut = root(split_kind=K.REGION, split_method="EQUAL")
    assert codes([gut, *kids(K.REGION, [500, 500], history=[400, 600])]) == [
        Code.REGION_NO_DATA_BASIS
    ]
    # no history and no potential: EQUAL is all one can do
    assert codes([gut, *kids(K.REGION, [500, 500])]) == []
    data = root(split_kind=K.REGION, split_method="HISTORY")
    assert codes([data, *kids(K.REGION, [400, 600], history=[400, 600])]) == []


def test_region_uniform_growth_despite_different_penetration() -> None:
    base = root(split_kind=K.REGION, split_method="HISTORY")
    pots = [Fraction(1000), Fraction(4000)]
    same = kids(K.REGION, [440, 220], history=[400, 200], potential=pots)
    assert Code.REGION_UNIFORM_GROWTH in codes([base, *same])
    varied = kids(K.REGION, [420, 300], history=[400, 200], potential=pots)
    assert Code.REGION_UNIFORM_GROWTH not in codes([base, *varied])
    # similar regions may share a growth rate
    alike = kids(
        K.REGION, [440, 220], history=[400, 200], potential=[Fraction(2000), Fraction(1000)]
    )
    assert Code.REGION_UNIFORM_GROWTH not in codes([base, *alike])


# --- channel ------------------------------------------------------------------------------


def test_channel_concentration() -> None:
    base = root(split_kind=K.CHANNEL)
    assert codes([base, *kids(K.CHANNEL, [700, 300])]) == [Code.CHANNEL_CONCENTRATION]
    assert codes([base, *kids(K.CHANNEL, [600, 400])]) == []
    assert (
        codes(
            [base, *kids(K.CHANNEL, [700, 300])], with_thresholds(channel_max_share=Decimal("0.75"))
        )
        == []
    )


def test_channel_conflict_by_actuals_and_by_targets() -> None:
    base = root(split_kind=K.CHANNEL)
    direct, partner = kids(K.CHANNEL, [500, 500])
    shared = [(frozenset({direct.member_id or 0, partner.member_id or 0, 7}), 1)]
    facts = replace(EARLY, shared_customers=shared)
    assert codes([base, direct, partner], facts) == [Code.CHANNEL_CONFLICT]
    apart = replace(EARLY, shared_customers=[(frozenset({direct.member_id or 0, 7}), 4)])
    assert codes([base, direct, partner], apart) == []
    assert (
        codes(
            [base, direct, partner],
            replace(facts, thresholds=Thresholds(channel_conflict_customers=1)),
        )
        == []
    )
    # the same single customer with a target under both channels
    acme = dict(kind=K.CUSTOMER, member_id=555, member_leaf=True, label="ACME")
    a1 = Node(key=20, parent_key=10, target=100, start=Y0, end=Y1, **acme)  # type: ignore[arg-type]
    a2 = Node(key=21, parent_key=11, target=100, start=Y0, end=Y1, **acme)  # type: ignore[arg-type]
    assert codes([base, direct, partner, a1, a2]) == [Code.CHANNEL_CONFLICT]
    # a customer segment (not a single customer) under both is not a conflict
    seg = dict(acme, member_leaf=False)
    s1 = Node(key=20, parent_key=10, target=100, start=Y0, end=Y1, **seg)  # type: ignore[arg-type]
    s2 = Node(key=21, parent_key=11, target=100, start=Y0, end=Y1, **seg)  # type: ignore[arg-type]
    assert codes([base, direct, partner, s1, s2]) == []


def test_the_rules_run_before_the_shared_customers_and_conflicts_keep_their_place() -> None:
    """``diagnose_pending`` runs every rule without the customers shared between channels
    (the diagnosis computes while the database still reads them); ``complete`` adds the
    channel conflicts where one pass would have put them: after the split's
    concentration findings on its children, before the findings of those children."""
    base = root(split_kind=K.CHANNEL)
    partner = MemberAttributes(channel_type=ChannelType.PARTNER)
    direct, resellers = kids(K.CHANNEL, [800, 200], attrs=[MemberAttributes(), partner])
    nodes = [base, direct, resellers]
    shared = [(frozenset({direct.member_id or 0, resellers.member_id or 0}), 3)]
    pending = d.diagnose_pending(nodes, replace(EARLY, shared_customers=[]))
    assert [f.code for f in pending.findings] == [
        Code.CHANNEL_CONCENTRATION,
        Code.CHANNEL_PARTNER_UNSUPPORTED,
    ]
    found = pending.complete(shared)
    assert [(f.code, f.node_key) for f in found] == [
        (Code.CHANNEL_CONCENTRATION, direct.key),
        (Code.CHANNEL_CONFLICT, base.key),
        (Code.CHANNEL_PARTNER_UNSUPPORTED, resellers.key),
    ]
    assert found == d.diagnose(nodes, replace(EARLY, shared_customers=shared))
    assert found[1].measured == 3 and "3 with sales in several" in found[1].message
    # the same pending diagnosis, other shared customers: no conflict
    assert [f.code for f in pending.complete([])] == [f.code for f in pending.findings]
    apart = [(frozenset({direct.member_id or 0}), 9)]
    assert pending.complete(apart) == pending.findings


def test_partner_channel_without_owner_or_incentive() -> None:
    base = root(split_kind=K.CHANNEL)
    partner = MemberAttributes(channel_type=ChannelType.PARTNER)
    bare = kids(K.CHANNEL, [500, 500], attrs=[MemberAttributes(), partner])
    assert codes([base, *bare]) == [Code.CHANNEL_PARTNER_UNSUPPORTED]
    backed = kids(
        K.CHANNEL,
        [500, 500],
        attrs=[MemberAttributes(), partner],
        owner_id=[None, 9],
        strategy=[None, "Distributor rebate of 3 % above plan"],
    )
    assert codes([base, *backed]) == []
    owned_only = kids(
        K.CHANNEL, [500, 500], attrs=[MemberAttributes(), partner], owner_id=[None, 9]
    )
    found = d.diagnose([base, *owned_only], EARLY)
    assert [f.code for f in found] == [Code.CHANNEL_PARTNER_UNSUPPORTED]
    assert "incentive" in found[0].message and "owner" not in found[0].message


# --- customer -----------------------------------------------------------------------------


def test_customer_split_without_tiering() -> None:
    base = root(split_kind=K.CUSTOMER)
    assert codes([base, *kids(K.CUSTOMER, [500, 500])]) == [Code.CUSTOMER_NO_TIERING]
    tiered = [MemberAttributes(tier="A"), MemberAttributes(tier="B")]
    assert codes([base, *kids(K.CUSTOMER, [600, 400], attrs=tiered, history=[600, 400])]) == []


def test_low_value_tier_overweight() -> None:
    base = root(split_kind=K.CUSTOMER)
    tiers = [MemberAttributes(tier=t) for t in ("A", "B", "C")]
    heavy = kids(K.CUSTOMER, [300, 300, 400], attrs=tiers, history=[600, 300, 100])
    found = d.diagnose([base, *heavy], EARLY)
    assert [f.code for f in found] == [Code.CUSTOMER_LOW_VALUE_OVERWEIGHT]
    assert found[0].measured == Decimal(4)
    fair = kids(K.CUSTOMER, [580, 310, 110], attrs=tiers, history=[600, 300, 100])
    assert codes([base, *fair]) == []
    # a dimension's own tier order decides which tier is lowest
    reversed_order = replace(EARLY, tiers={100: ["C", "B", "A"]})
    assert codes([base, *fair], reversed_order) == []
    assert codes([base, *heavy], reversed_order) == []


def test_new_business_only() -> None:
    base = root(split_kind=K.CUSTOMER)
    life = [
        MemberAttributes(tier="A", customer_lifecycle=CustomerLifecycle.NEW),
        MemberAttributes(tier="A", customer_lifecycle=CustomerLifecycle.EXISTING),
    ]
    assert codes([base, *kids(K.CUSTOMER, [1000, 0], attrs=life)]) == [Code.CUSTOMER_NEW_ONLY]
    assert codes([base, *kids(K.CUSTOMER, [700, 300], attrs=life)]) == []
    assert codes(
        [base, *kids(K.CUSTOMER, [700, 300], attrs=life)],
        with_thresholds(existing_min_share=Decimal("0.5")),
    ) == [Code.CUSTOMER_NEW_ONLY]


# --- product ------------------------------------------------------------------------------


def test_flagship_overload() -> None:
    base = root(split_kind=K.PRODUCT)
    assert codes([base, *kids(K.PRODUCT, [800, 200])]) == [Code.PRODUCT_FLAGSHIP_OVERLOAD]
    assert codes([base, *kids(K.PRODUCT, [550, 450])]) == []


def test_new_product_with_token_target() -> None:
    base = root(split_kind=K.PRODUCT)
    new = [
        MemberAttributes(),
        MemberAttributes(),
        MemberAttributes(product_lifecycle=ProductLifecycle.SERVICE),
    ]
    assert codes([base, *kids(K.PRODUCT, [300, 290, 10], attrs=new)]) == [Code.PRODUCT_NEW_IGNORED]
    assert codes([base, *kids(K.PRODUCT, [300, 250, 50], attrs=new)]) == []


def test_new_product_without_ramp() -> None:
    new = MemberAttributes(product_lifecycle=ProductLifecycle.NEW)
    product = replace(root(), kind=K.PRODUCT, attributes=new, key=1)
    assert codes([product]) == [Code.PRODUCT_NO_RAMP]
    split = replace(product, split_kind=K.TIME)
    assert codes([split, *kids(K.TIME, [250, 250, 250, 250])]) == [Code.PRODUCT_NO_RAMP]
    ramped = kids(K.TIME, [100, 200, 300, 400])
    assert Code.PRODUCT_NO_RAMP not in codes([split, *ramped])
    # an established product may be flat
    old = replace(
        product, attributes=MemberAttributes(product_lifecycle=ProductLifecycle.ESTABLISHED)
    )
    assert codes([old]) == []
    # a launch date inside the year makes it new
    launched = replace(old, attributes=MemberAttributes(launch_date=date(2026, 3, 1)))
    assert codes([launched]) == [Code.PRODUCT_NO_RAMP]


def test_product_customer_mismatch() -> None:
    base = root(split_kind=K.CUSTOMER)
    segment = Node(
        key=10,
        parent_key=1,
        target=1000,
        start=Y0,
        end=Y1,
        kind=K.CUSTOMER,
        member_id=50,
        label="SMB",
        history=900,
        split_kind=K.PRODUCT,
        attributes=MemberAttributes(tier="A"),
    )
    other = replace(segment, key=11, member_id=51, label="ENT", target=0)
    products = kids(K.PRODUCT, [500, 500], parent=10, first_key=20, history=[900, 0])
    assert codes([base, segment, other, *products]) == [Code.PRODUCT_CUSTOMER_MISMATCH]
    bought = kids(K.PRODUCT, [500, 500], parent=10, first_key=20, history=[800, 100])
    assert codes([base, segment, other, *bought]) == []
    assert codes(
        [base, segment, other, *bought], with_thresholds(mismatch_max_history_share=Decimal("0.2"))
    ) == [Code.PRODUCT_CUSTOMER_MISMATCH]


# --- thresholds ---------------------------------------------------------------------------


def test_thresholds_round_trip_and_checks() -> None:
    t = d.update_thresholds(Thresholds(), {"channelMaxShare": "0.7", "salesCycleDays": 90})
    assert t.channel_max_share == Decimal("0.7") and t.sales_cycle_days == 90
    stored = {"diagnostics": t.to_json()}
    assert d.thresholds_from(stored) == t
    assert d.update_thresholds(t, {"channelMaxShare": None}).channel_max_share == Decimal("0.6")
    with pytest.raises(InvalidInputError) as bad:
        d.update_thresholds(t, {"nope": "1"})
    assert bad.value.field == "diagnostics.nope"  # where the input holds it
    with pytest.raises(InvalidInputError):
        d.update_thresholds(t, {"channelMaxShare": "-1"})
    with pytest.raises(InvalidInputError):
        d.update_thresholds(t, {"salesCycleDays": "x"})
    with pytest.raises(InvalidInputError):
        d.update_thresholds(t, {"reviewCadenceDays": 99999})


def test_every_code_has_a_severity_and_a_dimension() -> None:
    assert set(d.SEVERITY) == set(Code)
    assert {d.DIMENSION_OF[c] for c in Code} == set(d.DIMENSIONS)


# --- readiness ----------------------------------------------------------------------------


def test_readiness_numbers() -> None:
    base = root(split_kind=K.REGION, owner_id=None)
    regions = kids(K.REGION, [600, 400], owner_id=[7, None])
    quarters = kids(K.TIME, [100, 100, 100, 100], parent=11, first_key=20)
    facts = Facts(
        as_of=date(2026, 5, 1),
        actuals_through=date(2026, 4, 30),
        reviews=[ReviewFact(1, None, date(2026, 4, 10)), ReviewFact(1, None, date(2026, 6, 1))],
    )
    r = d.readiness([base, *regions, *quarters], facts, open_alerts=3)
    depth = {x.kind: x.depth for x in r.dimensions}
    assert depth == {K.TIME: 1, K.REGION: 1, K.CHANNEL: 0, K.CUSTOMER: 0, K.PRODUCT: 0}
    assert r.total_target == 1000 and r.owned_target == 600 and r.owned_share == Fraction(3, 5)
    assert r.leaves == 5 and r.unowned_leaves == (20, 21, 22, 23)
    assert r.last_review == date(2026, 4, 10) and r.reviews_in_cadence
    assert r.open_alerts == 3 and r.actuals_through == date(2026, 4, 30)
    stale = replace(facts, thresholds=Thresholds(review_cadence_days=14))
    assert not d.readiness([base, *regions, *quarters], stale, open_alerts=0).reviews_in_cadence


def test_the_readme_documents_every_rule_and_threshold() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Diagnostics", 1)[1].split("\n## ", 1)[0]
    for code in Code:
        assert f"| `{code.value}` |" in section, code
    for name in d.FIELDS:
        assert f"`{name}`" in section, name
