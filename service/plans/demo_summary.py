"""What ``quotatree demo`` prints at the end: the plan's top levels with targets and
attainment to date, the worst alerts and the diagnostics found (by severity)."""

from __future__ import annotations

from service.db import repositories as repo
from service.db.engine import Database
from service.domain import demo as data
from service.domain.attainment import Attainment
from service.domain.diagnostics import Severity
from service.domain.money import format_amount
from service.plans.attainment import version_attainment
from service.plans.demo import DemoLoaded
from service.plans.diagnostics import diagnose_version

TOP_DEPTH = 2
"""Root, areas, cities."""
WORST_ALERTS = 5
FINDINGS_SHOWN = 8


def _money(minor: int, digits: int) -> str:
    whole = format_amount(minor, digits).split(".")[0]
    return f"{int(whole):>13,}"


def _percent(a: Attainment) -> str:
    value = a.attainment_percent
    return f"{value:6.1f} %" if value is not None else "     - "


def _pace(a: Attainment) -> str:
    if a.pace is None:
        return ""
    return f"pace {float(a.pace) * 100:5.1f} %  {a.status.value}"


async def summary(db: Database, loaded: DemoLoaded) -> list[str]:
    as_of = data.AS_OF
    numbers = await version_attainment(db, loaded.version_id, as_of)
    digits = numbers.digits
    by_key = {n.key: n for n in numbers.nodes}
    depth: dict[int, int] = {}
    for n in numbers.nodes:  # parents come first
        depth[n.key] = 0 if n.parent_key is None else depth[n.parent_key] + 1
    member_ids = [n.member_id for n in numbers.nodes if n.member_id is not None]
    async with db.read_session() as session:
        members = {m.id: m for m in await repo.members_by_ids(session, member_ids) if m}
        (plan,) = await repo.plans_by_ids(session, [loaded.plan_id])
    assert plan is not None

    def label(key: int) -> str:
        parts: list[str] = []
        n = by_key.get(key)
        while n is not None and n.parent_key is not None:
            if n.member_id is not None:
                parts.append(members[n.member_id].name)
            n = by_key.get(n.parent_key)
        return " > ".join(reversed(parts)) or plan.name

    lines = [
        "",
        f"{plan.name} (version 1, published), attainment as of {as_of.isoformat()}:",
        "",
        f"  {'':28} {'target EUR':>13} {'actual EUR':>13} {'attained':>9}",
    ]
    for n in numbers.nodes:
        if depth[n.key] > TOP_DEPTH or n.time:
            continue
        a = numbers.node(n.key)
        assert a is not None
        name = plan.name if n.parent_key is None else members[n.member_id or 0].name
        indent = "  " * depth[n.key]
        lines.append(
            f"  {(indent + name)[:28]:28} {_money(n.target, digits)} {_money(a.actual, digits)} "
            f"{_percent(a)}  {_pace(a)}"
        )
    alerts = numbers.alerts(None)[:WORST_ALERTS]
    lines += ["", f"Worst alerts (pace below the plan's alert threshold), {len(alerts)} shown:"]
    for key in alerts:
        a = numbers.node(key)
        assert a is not None
        lines.append(f"  {label(key)[:60]:60} {_pace(a)}")
    if not alerts:
        lines.append("  none")
    diagnosis = await diagnose_version(db, loaded.version_id, as_of, numbers)
    findings = sorted(diagnosis.findings, key=lambda f: (-SEVERITY_ORDER[f.severity], f.code.value))
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    found = ", ".join(f"{n} {severity.lower()}" for severity, n in counts.items()) or "none"
    lines += ["", f"Diagnostics found: {found}; the first {min(FINDINGS_SHOWN, len(findings))}:"]
    for f in findings[:FINDINGS_SHOWN]:
        lines.append(f"  {f.severity.value:7} {f.code.value:28} {label(f.node_key)[:40]}")
        lines.append(f"          {f.message[:110]}")
    return lines


SEVERITY_ORDER = {severity: rank for rank, severity in enumerate(Severity)}
"""INFO < WARNING < CRITICAL: the summary lists the most severe first."""
