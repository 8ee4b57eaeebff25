"""Plain resolvers: fields whose strawberry wrapping does nothing, called directly.

strawberry runs every field that has a resolver through a chain built for the
general case: it converts the arguments, builds an ``Info``, threads the field
extensions and permission classes, then calls the method. For a synchronous
method without arguments, extensions or permissions (``Member.code``,
``SliceCoordinate.member``, ``TargetNode.target``...) that chain is the whole cost
of the field: on a node with 20 children and their slices it ran 600 times per
request. Here such fields get a resolver that calls the method straight away,
with the same ``self`` and, when the method asks for it, the same kind of
``Info`` strawberry would build; what the method returns is unchanged, so the
answer is too (the suite runs through these resolvers).

Fields with arguments, async methods, extensions or permission classes keep
strawberry's resolver. Applied to the built schema before ``cost.install`` wraps
the measured lists.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry import relay
from strawberry.relay.utils import to_base64
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


def _direct(func: Callable[..., Any], takes_self: bool) -> Callable[..., Any]:
    if takes_self:

        def with_self(source: Any, _info: Any) -> Any:
            return func(source)

        return with_self

    def without(_source: Any, _info: Any) -> Any:
        return func()

    return without


def _with_info(
    func: Callable[..., Any],
    takes_self: bool,
    name: str,
    info_class: type[strawberry.Info],
    field: StrawberryField,
) -> Callable[..., Any]:
    if takes_self:

        def with_self(source: Any, info: Any) -> Any:
            return func(source, **{name: info_class(_raw_info=info, _field=field)})

        return with_self

    def without(_source: Any, info: Any) -> Any:
        return func(**{name: info_class(_raw_info=info, _field=field)})

    return without


def _relay_id(
    origin: type[relay.Node],
    type_name: str,
    fallback: Callable[..., Any],
    info_class: type[strawberry.Info],
    field: StrawberryField,
) -> Callable[..., Any]:
    """``id`` of a relay node: base64 of ``TypeName:resolve_id``, as strawberry's own
    resolver makes it, for the objects of ``origin`` (others take ``fallback``)."""
    resolve_id = origin.resolve_id

    def node_id(source: Any, info: Any) -> Any:
        if type(source) is not origin:
            return fallback(source, info)
        return to_base64(
            type_name, resolve_id(source, info=info_class(_raw_info=info, _field=field))
        )

    return node_id


def _is_relay_id(definition: StrawberryField, origin: Any) -> bool:
    resolver = definition.base_resolver
    return (
        isinstance(origin, type)
        and issubclass(origin, relay.Node)
        and definition.python_name == "_id"
        and resolver is not None
        and getattr(resolver.wrapped_func, "__func__", None) is relay.Node._id.__func__
        and origin.resolve_typename.__func__ is relay.Node.resolve_typename.__func__  # type: ignore[attr-defined]
        and not inspect.iscoroutinefunction(origin.resolve_id)
    )


def install(schema: strawberry.Schema) -> int:
    """Gives the fields that qualify a direct resolver; returns how many."""
    info_class = schema.config.info_class
    count = 0
    for type_ in schema._schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        if type_ is schema._schema.subscription_type:
            continue  # subscriptions resolve through their events
        origin: Any = getattr(
            (type_.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF), "origin", None
        )
        for field_ in type_.fields.values():
            definition = (field_.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(definition, StrawberryField):
                continue
            resolver = definition.base_resolver
            origin = getattr(
                type_.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF), "origin", None
            )
            if _is_relay_id(definition, origin):
                field_.resolve = _relay_id(
                    origin, type_.name, field_.resolve, info_class, definition
                )
                count += 1
                continue
            if (
                resolver is None
                or resolver.is_async
                or definition.arguments
                or definition.extensions
                or definition.permission_classes
                or resolver.root_parameter is not None
                or resolver.parent_parameter is not None
            ):
                continue
            func = resolver.wrapped_func
            if isinstance(func, staticmethod | classmethod):
                continue  # strawberry binds these itself
            takes_self = resolver.self_parameter is not None
            info = resolver.info_parameter
            if info is None:
                field_.resolve = _direct(func, takes_self)
            else:
                field_.resolve = _with_info(func, takes_self, info.name, info_class, definition)
            count += 1
    return count
