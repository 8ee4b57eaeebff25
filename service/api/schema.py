"""The GraphQL schema, assembled from the per-area modules, with every limit on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from service.api import plain
from service.api.attainment import AttainmentMutations
from service.api.audit import AuditEntry
from service.api.cache import ReadGenerationFirst
from service.api.cost import CostPolicy
from service.api.dimensions import Dimension, DimensionMutations, DimensionQueries, Member
from service.api.errors import RequestIdMaskErrors, log_errors
from service.api.guards import NulInLiterals, NulInVariables, OneOperation
from service.api.imports import FactBatch, ImportMutations, ImportQueries
from service.api.limits import alias_rule, depth_rule
from service.api.nodes import NodeMutations, TargetNode
from service.api.owners import Owner, OwnerMutations, OwnerQueries
from service.api.plans import Plan, PlanMutations, PlanQueries
from service.api.refetch import RefetchQueries
from service.api.replan import ReplanMutations
from service.api.reviews import Review, ReviewMutations
from service.api.scalars import SCALARS
from service.api.splits import SplitMutations
from service.api.subscriptions import Subscription
from service.api.versions import PlanVersion, VersionMutations, VersionQueries
from service.observability import OperationMetrics
from service.settings import Settings


@strawberry.type(description="The entry points for reading plans, trees, dimensions and owners.")
class Query(
    RefetchQueries, PlanQueries, VersionQueries, DimensionQueries, OwnerQueries, ImportQueries
):
    pass


@strawberry.type(
    description="Every change: one input each, a payload with the changed objects and "
    "userErrors for anything the caller can fix."
)
class Mutation(
    PlanMutations,
    VersionMutations,
    NodeMutations,
    SplitMutations,
    DimensionMutations,
    OwnerMutations,
    ReviewMutations,
    ReplanMutations,
    ImportMutations,
    AttainmentMutations,
):
    pass


class QuotatreeSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)


def build_schema(settings: Settings, tracing: Sequence[Any] = ()) -> strawberry.Schema:
    """The schema with every limit on.

    The depth and alias rules (``service.api.limits``: linear in the document,
    whatever its fragments spread) are built once, here: the validation cache keys
    on the rule classes, so a fresh class per request would never hit it. With
    fixed classes the verdict for a document is computed once and cached with the
    rest of its validation.

    ``tracing`` holds the OpenTelemetry extension when tracing is on
    (``service.tracing``); the operation metrics come first, so that they see the
    errors as sent.
    """
    rules = [
        depth_rule(settings.max_query_depth),
        alias_rule(settings.max_aliases),
        NulInLiterals,
    ]
    cost = CostPolicy(settings.max_query_cost, settings.request_timeout_seconds)
    extensions: list[Any] = [
        OperationMetrics,
        *tracing,
        lambda: AddValidationRules(cast("list[type[ASTValidationRule]]", rules)),
        lambda: MaxTokensLimiter(settings.max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        NulInVariables,
        OneOperation,
        cost.extension,
        ReadGenerationFirst,
        RequestIdMaskErrors,
    ]
    if settings.production:
        from strawberry.extensions import DisableIntrospection

        extensions.append(DisableIntrospection)
    schema = QuotatreeSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        types=[
            Plan,
            PlanVersion,
            TargetNode,
            Dimension,
            Member,
            Owner,
            AuditEntry,
            Review,
            FactBatch,
        ],
        config=StrawberryConfig(disable_field_suggestions=settings.production, scalar_map=SCALARS),
    )
    plain.install(schema)  # direct resolvers where strawberry's wrapping does nothing
    return cost.install(schema)  # wraps the measured lists' and the mutations' resolvers
