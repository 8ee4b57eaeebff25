"""Reviews (复盘): reviewCreate, the Review type and the reads of a node's or version's
reviews."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.types import Info

from service.api import ids
from service.api.context import Context
from service.api.dimensions import Member
from service.api.errors import UserError
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.pagination import Connection, page_args
from service.api.wrap import RowNode, wrap, wraps
from service.db.models import Review as ReviewRow
from service.plans import reviews as usecases

if TYPE_CHECKING:
    from service.api.nodes import TargetNode
    from service.api.versions import PlanVersion


@wraps(ReviewRow)
@strawberry.type(
    description="A review (复盘) of a node and period: what was seen, what was decided, "
    "who held it and when."
)
class Review(RowNode):
    row: strawberry.Private[ReviewRow]
    loader = "review_by_id"

    @strawberry.field(description="The node reviewed.")
    async def node(
        self, info: Info[Context, None]
    ) -> Annotated[TargetNode, strawberry.lazy("service.api.nodes")]:
        row = await info.context.loaders.node_by_id.load((self.row.version_id, self.row.node_key))
        assert row is not None
        return cast("TargetNode", wrap(row))

    @strawberry.field(description="The version of the node reviewed.")
    async def version(
        self, info: Info[Context, None]
    ) -> Annotated[PlanVersion, strawberry.lazy("service.api.versions")]:
        row = await info.context.loaders.version_by_id.load(self.row.version_id)
        assert row is not None
        return cast("PlanVersion", wrap(row))

    @strawberry.field(description="The period reviewed (a member of the plan's calendar).")
    async def period(self, info: Info[Context, None]) -> Member | None:
        if self.row.period_member_id is None:
            return None
        row = await info.context.loaders.member_by_id.load(self.row.period_member_id)
        return Member(row=row) if row else None

    @strawberry.field(description="The day the review was held.")
    def held_on(self) -> date:
        return self.row.held_on

    @strawberry.field(description="What was seen: causes, context.")
    def notes(self) -> str:
        return self.row.notes

    @strawberry.field(description="What was decided (actions, a re-plan ...).")
    def decisions(self) -> str | None:
        return self.row.decisions

    @strawberry.field(description="Token subject of who recorded it.")
    def created_by(self) -> str:
        return self.row.created_by

    @strawberry.field(description="When it was recorded.")
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.type(description="A page of reviews, in the order they were recorded.")
class ReviewConnection(Connection[Review]):
    pass


async def reviews_connection(
    info: Info[Context, None],
    version_id: int,
    node_key: int | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ReviewConnection:
    """The connection of a version's (or one node's) reviews."""
    request = page_args("review", (int,), first, after, last, before)
    loaders = info.context.loaders
    page = await loaders.reviews_page(version_id, node_key, request)
    return ReviewConnection.of(
        page,
        "review",
        lambda row: Review(row=row),
        lambda: loaders.reviews_count(version_id, node_key),
    )


@strawberry.input(description="Record a review (复盘) of a node and period.")
class ReviewCreateInput:
    node_id: strawberry.ID = strawberry.field(description="The node reviewed (any version).")
    held_on: date = strawberry.field(description="The day the review was held.")
    notes: str = strawberry.field(
        description=f"What was seen (up to {usecases.MAX_NOTES_LENGTH} characters)."
    )
    decisions: str | None = strawberry.field(
        default=None, description="What was decided (up to the same length)."
    )
    period_id: strawberry.ID | None = strawberry.field(
        default=None, description="The period reviewed: a member of the plan's calendar."
    )

    def command(self) -> usecases.ReviewCreate:
        version_id, key = ids.decode_node(self.node_id, "nodeId")
        return usecases.ReviewCreate(
            version_id=version_id,
            key=key,
            held_on=self.held_on,
            notes=self.notes,
            decisions=self.decisions,
            period_id=None
            if self.period_id is None
            else ids.decode(self.period_id, "Member", "periodId"),
        )


@strawberry.type(description="Result of reviewCreate.")
class ReviewPayload(Payload[ReviewRow]):
    review: Review | None = strawberry.field(description="The review recorded.")
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, done: ReviewRow) -> ReviewPayload:
        return cls(review=Review(row=done), user_errors=[])


@strawberry.type
class ReviewMutations:
    @strawberry.mutation(description="Record a review (复盘) of a node and period.")
    async def review_create(
        self, info: Info[Context, None], input: Annotated[ReviewCreateInput, INPUT]
    ) -> ReviewPayload:
        return await mutate(info, usecases.create_review, input.command, ReviewPayload)
