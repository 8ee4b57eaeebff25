"""The lifecycle of a plan version.

    DRAFT ──submit──▶ SUBMITTED ──approve──▶ APPROVED ──publish──▶ PUBLISHED ──archive──▶ ARCHIVED
      ▲                   │
      └─────reject────────┘ (with a reason)

Only drafts change. Planners create, edit and submit drafts; admins reject,
approve, publish and archive. A plan has at most one published version:
publishing archives the one published before. A draft that is abandoned can
be archived directly. Changing a published plan means copying it into a new
draft (copy-on-write); the old versions stay readable forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from service.domain.tree import InvalidInputError, VersionState
from service.domain.values import clean_reason


class Transition(StrEnum):
    SUBMIT = "SUBMIT"
    REJECT = "REJECT"
    APPROVE = "APPROVE"
    PUBLISH = "PUBLISH"
    ARCHIVE = "ARCHIVE"


@dataclass(frozen=True, slots=True)
class Rule:
    sources: frozenset[VersionState]
    target: VersionState
    admin_only: bool
    needs_reason: bool = False


RULES: dict[Transition, Rule] = {
    Transition.SUBMIT: Rule(frozenset({VersionState.DRAFT}), VersionState.SUBMITTED, False),
    Transition.REJECT: Rule(
        frozenset({VersionState.SUBMITTED}), VersionState.DRAFT, True, needs_reason=True
    ),
    Transition.APPROVE: Rule(frozenset({VersionState.SUBMITTED}), VersionState.APPROVED, True),
    Transition.PUBLISH: Rule(frozenset({VersionState.APPROVED}), VersionState.PUBLISHED, True),
    Transition.ARCHIVE: Rule(
        frozenset({VersionState.DRAFT, VersionState.PUBLISHED}), VersionState.ARCHIVED, True
    ),
}


def plan_transition(
    transition: Transition, state: VersionState, *, is_admin: bool, reason: str | None
) -> tuple[VersionState, str | None]:
    """The state after ``transition`` from ``state``, and the cleaned reason.

    Refused with a user error: a transition from a state it does not leave
    (``INVALID_TRANSITION``, naming the allowed states), a planner attempting
    an admin transition (``FORBIDDEN``), a rejection without a reason, a
    reason that ``values.clean_reason`` refuses (too long, NUL, control characters).
    """
    rule = RULES[transition]
    if rule.admin_only and not is_admin:
        raise InvalidInputError(
            "FORBIDDEN", f"{transition.value.lower()} needs the admin role", "id"
        )
    if state not in rule.sources:
        allowed = " or ".join(sorted(s.value for s in rule.sources))
        raise InvalidInputError(
            "INVALID_TRANSITION",
            f"cannot {transition.value.lower()} a {state.value} version; only a {allowed} one",
            "id",
            state=state.value,
        )
    cleaned = clean_reason(reason)
    if rule.needs_reason and not cleaned:
        raise InvalidInputError(
            "REQUIRED", f"{transition.value.lower()} needs a reason for the planner", "reason"
        )
    return rule.target, cleaned


# --- comparing two versions node by node ------------------------------------------


class ChangeKind(StrEnum):
    """How a node differs between a base version and another one."""

    ADDED = "ADDED"
    """Only in the other version."""
    REMOVED = "REMOVED"
    """Only in the base version."""
    CHANGED = "CHANGED"
    """In both, with some aspect changed."""


class ChangeAspect(StrEnum):
    """What changed on a node present in both versions."""

    TARGET = "TARGET"
    """Its target amount."""
    SPLIT = "SPLIT"
    """How it is split: the dimension of its children (split, unsplit or re-split)."""
    LOCK = "LOCK"
    """Locked or unlocked."""
    BOUNDS = "BOUNDS"
    """Its floor or cap."""
    OWNER = "OWNER"
    """Its owner."""
    STRATEGY = "STRATEGY"
    """Its execution strategy text."""
    KPIS = "KPIS"
    """Its KPI targets."""
    POSITION = "POSITION"
    """Its parent or its slice coordinates."""


@dataclass(frozen=True, slots=True)
class NodeState:
    """What the diff compares of a node in one version."""

    target: int
    locked: bool = False
    floor: int | None = None
    cap: int | None = None
    parent_key: int | None = None
    coordinates: tuple[tuple[int, int], ...] = ()
    split_dimension_id: int | None = None
    split_spec: object = None
    """The stored method and inputs of its split (compared for equality only)."""
    owner_id: int | None = None
    strategy: str | None = None
    kpis: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class NodeDiff:
    kind: ChangeKind
    aspects: tuple[ChangeAspect, ...]
    """Empty for ADDED and REMOVED (everything is new or gone)."""
    old_target: int | None
    new_target: int | None
    delta: int | None
    """new - old when the node is in both versions."""


def diff_node(base: NodeState | None, other: NodeState | None) -> NodeDiff:
    """Classify one node's change between two versions (one of them may lack it)."""
    if base is None and other is None:
        raise ValueError("a diff needs the node in at least one version")
    if base is None:
        assert other is not None
        return NodeDiff(ChangeKind.ADDED, (), None, other.target, None)
    if other is None:
        return NodeDiff(ChangeKind.REMOVED, (), base.target, None, None)
    aspects: list[ChangeAspect] = []
    checks = (
        (ChangeAspect.TARGET, base.target != other.target),
        (
            ChangeAspect.SPLIT,
            (base.split_dimension_id, base.split_spec)
            != (other.split_dimension_id, other.split_spec),
        ),
        (ChangeAspect.LOCK, base.locked != other.locked),
        (ChangeAspect.BOUNDS, (base.floor, base.cap) != (other.floor, other.cap)),
        (ChangeAspect.OWNER, base.owner_id != other.owner_id),
        (ChangeAspect.STRATEGY, base.strategy != other.strategy),
        (ChangeAspect.KPIS, dict(base.kpis) != dict(other.kpis)),
        (
            ChangeAspect.POSITION,
            (base.parent_key, base.coordinates) != (other.parent_key, other.coordinates),
        ),
    )
    aspects = [aspect for aspect, changed in checks if changed]
    return NodeDiff(
        ChangeKind.CHANGED, tuple(aspects), base.target, other.target, other.target - base.target
    )
