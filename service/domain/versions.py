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
