"""Importing facts over GraphQL: ``actualsImport``, ``opportunitiesImport``,
``marketSizesImport`` (names are a contract), and the ``factBatches`` read.

Each takes ``{planId, batchKey, rows}`` with at most ``MAX_BATCH_ROWS`` rows and
answers with the batch, whether it was a replay, and on failure every bad row
in ``rowErrors`` (row index, column, code, message) as well as in
``userErrors`` (whose ``field`` is the path of the bad value:
``["input", "rows", "3", "amount"]``). Dates and amounts are taken as strings
so that a bad one is reported with its row like any other bad value, instead of
failing the whole request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from service.api import ids
from service.api.context import Context
from service.api.errors import UserError, UserErrorCode, user_error, user_errors
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.pagination import After, Before, Connection, First, Last, page_args
from service.api.scalars import describe_enum
from service.api.wrap import RowNode, wraps
from service.db.models import FactBatch as FactBatchRow
from service.domain.errors import DomainError
from service.domain.facts import (
    MAX_BATCH_ROWS,
    MAX_REPORTED_ERRORS,
    FactKind,
    RowsRejected,
)
from service.domain.tree import InvalidInputError
from service.plans import imports as usecases

describe_enum(
    FactKind,
    "What an import batch holds.",
    {
        "SALES": "Sales (actualsImport, quotatree import actuals).",
        "OPPORTUNITY": "Opportunity outcomes (opportunitiesImport).",
        "MARKET_SIZE": "Market sizes per member and period (marketSizesImport).",
    },
)


@wraps(FactBatchRow)
@strawberry.type(description="One imported batch of facts, under the key it was imported with.")
class FactBatch(RowNode):
    row: strawberry.Private[FactBatchRow]
    loader = "fact_batch_by_id"

    @strawberry.field(description="What the batch holds.")
    def kind(self) -> FactKind:
        return FactKind(self.row.kind)

    @strawberry.field(
        description="The batch key: the client's, or (command line) a digest of the file."
    )
    def key(self) -> str:
        return self.row.key

    @strawberry.field(description="Rows in the batch (stored by it or stored before).")
    def row_count(self) -> int:
        return self.row.row_count

    @strawberry.field(
        description="Rows this batch stored; the others were stored before, identical, by "
        "another batch."
    )
    async def stored_count(self, info: Info[Context, None]) -> int:
        return await info.context.loaders.batch_stored(self.row)

    @strawberry.field(description="Where the rows came from (a file name), when known.")
    def source(self) -> str | None:
        return self.row.source

    @strawberry.field(description="Token subject of who imported it.")
    def created_by(self) -> str:
        return self.row.created_by

    @strawberry.field(description="When it was imported.")
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.type(description="A page of import batches, oldest first.")
class FactBatchConnection(Connection[FactBatch]):
    pass


@strawberry.type(
    description="A bad value of an import: which row, which column, why. Nothing was written."
)
class ImportRowError:
    row: int = strawberry.field(
        description="Index of the row in `input.rows` (0 for the first); 0 also for a "
        "problem of the whole header of a file."
    )
    column: str = strawberry.field(
        description="The column at fault: an input field (externalId, date, amount, currency, "
        "quantity, orderRef, customerRef, credits, outcome, dimension, member, period, "
        "startsOn, endsOn) or, for a member code, the dimension's name."
    )
    code: UserErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="What is wrong with the value and how to fix it.")


# --- inputs ----------------------------------------------------------------------------


@strawberry.input(description="The member a fact names on one dimension.")
class MemberCodeInput:
    dimension: str = strawberry.field(description="An organisation dimension's name (Region).")
    code: str = strawberry.field(description="A member code of that dimension.")


@strawberry.input(description="One owner's share of a sale's credit.")
class CreditInput:
    owner_id: strawberry.ID = strawberry.field(description="The owner (person or team).")
    share: str = strawberry.field(
        description='A decimal above 0 and at most 1 ("0.6"); a sale\'s shares add up to 1.'
    )


@strawberry.input(description="One sale.")
class SalesRowInput:
    external_id: str = strawberry.field(
        description="The sale's id in the source system; a sale is stored once per id."
    )
    date: str = strawberry.field(description="The day of the sale, YYYY-MM-DD.")
    amount: str = strawberry.field(
        description='In the plan\'s currency with at most its decimals ("1250.50"); '
        "negative for a return."
    )
    currency: str | None = strawberry.field(
        default=None, description="Null or the plan's currency; any other is refused."
    )
    quantity: str | None = strawberry.field(default=None, description="Up to 4 decimals.")
    order_ref: str | None = strawberry.field(default=None, description="The order's reference.")
    customer_ref: str | None = strawberry.field(
        default=None, description="The customer's reference (for new-customer KPIs)."
    )
    members: list[MemberCodeInput] = strawberry.field(
        default_factory=list,
        description="At most one member per organisation dimension (not the calendar: the "
        "date places the sale).",
    )
    credits: list[CreditInput] | None = strawberry.field(
        default=None, description="Split credit among owners; shares add up to 1."
    )


@strawberry.input(description="One opportunity's outcome.")
class OpportunityRowInput:
    external_id: str = strawberry.field(description="The opportunity's id in the CRM.")
    date: str = strawberry.field(description="The day it was closed, YYYY-MM-DD.")
    outcome: str = strawberry.field(description="WON or LOST.")
    amount: str = strawberry.field(description="Its amount, in the plan's currency.")
    currency: str | None = strawberry.field(default=None, description="Null or the plan's.")
    customer_ref: str | None = strawberry.field(default=None, description="The customer.")
    members: list[MemberCodeInput] = strawberry.field(
        default_factory=list, description="At most one member per organisation dimension."
    )


@strawberry.input(description="The size of a member's market over a period.")
class MarketSizeRowInput:
    dimension: str = strawberry.field(description="The dimension's name.")
    member: str = strawberry.field(description="The member's code.")
    period: str | None = strawberry.field(
        default=None,
        description="A period code of the plan's calendar (FY2027, FY2027-Q1, FY2027-M03), "
        "or give startsOn and endsOn.",
    )
    starts_on: str | None = strawberry.field(default=None, description="First day, YYYY-MM-DD.")
    ends_on: str | None = strawberry.field(
        default=None, description="Last day (inclusive), YYYY-MM-DD."
    )
    amount: str = strawberry.field(description="The market's size, in the plan's currency.")
    currency: str | None = strawberry.field(default=None, description="Null or the plan's.")


_BATCH = (
    f"All or nothing: every row is checked first and every bad one is reported; at most "
    f"{MAX_BATCH_ROWS} rows (send larger files with `quotatree import`, or in several "
    "batches). Importing the same batch key and rows again changes nothing and answers the "
    "same; the same key with other rows is refused. A row whose external id is stored "
    "already with the same values is skipped, with other values refused."
)


def _check_size(rows: Sequence[Any]) -> None:
    if len(rows) > MAX_BATCH_ROWS:
        raise InvalidInputError(
            "TOO_MANY",
            f"a batch takes at most {MAX_BATCH_ROWS} rows, got {len(rows)}; split it into "
            f"batches of {MAX_BATCH_ROWS} (each with its own key) or import the file with "
            "`quotatree import`",
            "rows",
        )
    if not rows:
        raise InvalidInputError("EMPTY_SET", "the batch has no rows", "rows")


def _members(members: Sequence[MemberCodeInput]) -> list[tuple[str, str]]:
    return [(m.dimension, m.code) for m in members]


def _command(
    kind: FactKind, plan_id: strawberry.ID, batch_key: str, rows: list[dict[str, Any]]
) -> usecases.FactsImport:
    _check_size(rows)
    plan = ids.decode(plan_id, "Plan", "planId")
    return usecases.FactsImport(
        kind=kind,
        plan_id=plan,
        batch_key=batch_key,
        request_hash=usecases.rows_hash(kind, plan, rows),
        rows=list(enumerate(rows)),
        source="graphql",
    )


@strawberry.input(description=f"Import sales. {_BATCH}")
class ActualsImportInput:
    plan_id: strawberry.ID = strawberry.field(
        description="The plan whose currency and calendar the rows are checked against."
    )
    batch_key: str = strawberry.field(
        description="Your key for this batch (e.g. the export's id); at most 100 characters."
    )
    rows: list[SalesRowInput] = strawberry.field(description=f"At most {MAX_BATCH_ROWS} sales.")

    def command(self) -> usecases.FactsImport:
        _check_size(self.rows)
        rows = []
        for i, r in enumerate(self.rows):
            row: dict[str, Any] = {
                "externalId": r.external_id,
                "date": r.date,
                "amount": r.amount,
                "currency": r.currency,
                "quantity": r.quantity,
                "orderRef": r.order_ref,
                "customerRef": r.customer_ref,
                "members": _members(r.members),
            }
            if r.credits is not None:
                row["credits"] = [
                    (ids.decode(c.owner_id, "Owner", f"rows.{i}.credits.{j}.ownerId"), c.share)
                    for j, c in enumerate(r.credits)
                ]
            rows.append(row)
        return _command(FactKind.SALES, self.plan_id, self.batch_key, rows)


@strawberry.input(description=f"Import opportunity outcomes. {_BATCH}")
class OpportunitiesImportInput:
    plan_id: strawberry.ID = strawberry.field(description="The plan the rows are checked against.")
    batch_key: str = strawberry.field(description="Your key for this batch.")
    rows: list[OpportunityRowInput] = strawberry.field(
        description=f"At most {MAX_BATCH_ROWS} opportunities."
    )

    def command(self) -> usecases.FactsImport:
        _check_size(self.rows)
        rows = [
            {
                "externalId": r.external_id,
                "date": r.date,
                "outcome": r.outcome,
                "amount": r.amount,
                "currency": r.currency,
                "customerRef": r.customer_ref,
                "members": _members(r.members),
            }
            for r in self.rows
        ]
        return _command(FactKind.OPPORTUNITY, self.plan_id, self.batch_key, rows)


@strawberry.input(description=f"Import market sizes. {_BATCH}")
class MarketSizesImportInput:
    plan_id: strawberry.ID = strawberry.field(description="The plan the rows are checked against.")
    batch_key: str = strawberry.field(description="Your key for this batch.")
    rows: list[MarketSizeRowInput] = strawberry.field(
        description=f"At most {MAX_BATCH_ROWS} market sizes."
    )

    def command(self) -> usecases.FactsImport:
        _check_size(self.rows)
        rows = [
            {
                "dimension": r.dimension,
                "member": r.member,
                "period": r.period,
                "startsOn": r.starts_on,
                "endsOn": r.ends_on,
                "amount": r.amount,
                "currency": r.currency,
            }
            for r in self.rows
        ]
        return _command(FactKind.MARKET_SIZE, self.plan_id, self.batch_key, rows)


# --- payload ---------------------------------------------------------------------------


@strawberry.type(description="Result of an import (actualsImport and its siblings).")
class ImportPayload(Payload[usecases.ImportResult]):
    batch: FactBatch | None = strawberry.field(description="The batch; null on failure.")
    replayed: bool | None = strawberry.field(
        description="True when this batch key was imported before with the same rows: "
        "nothing changed."
    )
    stored: int | None = strawberry.field(description="Rows this batch stored.")
    skipped: int | None = strawberry.field(
        description="Rows stored before, identical, by another batch (not stored again)."
    )
    user_errors: list[UserError] = errors_field()
    row_errors: list[ImportRowError] = strawberry.field(
        default_factory=list,
        description=f"Every bad value, in row order (at most {MAX_REPORTED_ERRORS}; "
        "`rowErrorCount` counts them all). Empty on success.",
    )
    row_error_count: int = strawberry.field(
        default=0, description="How many bad values the batch has in all."
    )

    @classmethod
    def of(cls, result: usecases.ImportResult) -> ImportPayload:
        return cls(
            batch=FactBatch(row=result.batch),
            replayed=result.replayed,
            stored=result.stored,
            skipped=result.skipped,
            user_errors=[],
        )


_FIELDS = {"date", "amount", "currency", "quantity", "orderRef", "customerRef", "credits"}
_FIELDS |= {"externalId", "outcome", "dimension", "member", "period", "startsOn", "endsOn"}


def _field(row: int, column: str) -> str:
    if column in _FIELDS:
        return f"rows.{row}.{column}"
    if column.startswith("members."):
        return f"rows.{row}.members"
    return f"rows.{row}.members"  # a member code, named by its dimension


async def _import(info: Info[Context, None], input: Any) -> ImportPayload:
    rejected: list[RowsRejected] = []

    def errors(exc: DomainError) -> list[UserError]:
        if not isinstance(exc, RowsRejected):
            return user_errors(exc)
        rejected.append(exc)
        return [
            user_error(e.code, _field(e.row, e.column), f"row {e.row}, {e.column}: {e.message}")
            for e in exc.errors
        ]

    command = input.command
    kind = _kind(input)
    payload = await mutate(info, usecases.USE_CASES[kind], command, ImportPayload, errors=errors)
    if rejected:
        exc = rejected[0]
        payload.row_errors = [
            ImportRowError(
                row=e.row, column=e.column, code=UserErrorCode[e.code], message=e.message
            )
            for e in exc.errors
        ]
        payload.row_error_count = exc.total
    else:
        payload.row_errors = []
        payload.row_error_count = 0
    return payload


def _kind(input: Any) -> FactKind:
    if isinstance(input, ActualsImportInput):
        return FactKind.SALES
    if isinstance(input, OpportunitiesImportInput):
        return FactKind.OPPORTUNITY
    return FactKind.MARKET_SIZE


@strawberry.type
class ImportMutations:
    @strawberry.mutation(description=f"Import sales (actuals) for a plan. {_BATCH}")
    async def actuals_import(
        self, info: Info[Context, None], input: Annotated[ActualsImportInput, INPUT]
    ) -> ImportPayload:
        return await _import(info, input)

    @strawberry.mutation(description=f"Import opportunity outcomes (win rates). {_BATCH}")
    async def opportunities_import(
        self, info: Info[Context, None], input: Annotated[OpportunitiesImportInput, INPUT]
    ) -> ImportPayload:
        return await _import(info, input)

    @strawberry.mutation(description=f"Import market sizes (market shares). {_BATCH}")
    async def market_sizes_import(
        self, info: Info[Context, None], input: Annotated[MarketSizesImportInput, INPUT]
    ) -> ImportPayload:
        return await _import(info, input)


@strawberry.type
class ImportQueries:
    @strawberry.field(description="The import batches of a plan, oldest first.")
    async def fact_batches(
        self,
        info: Info[Context, None],
        plan_id: Annotated[strawberry.ID, strawberry.argument(description="The plan.")],
        kind: Annotated[
            FactKind | None, strawberry.argument(description="Only batches of this kind.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> FactBatchConnection:
        plan = ids.decode(plan_id, "Plan", "planId")
        request = page_args("factBatches", (int,), first, after, last, before)
        loaders = info.context.loaders
        page = await loaders.batches_page(plan, kind, request)
        return FactBatchConnection.of(
            page,
            "factBatches",
            lambda row: FactBatch(row=row),
            lambda: loaders.batches_count(plan, kind),
        )
