"""OpenTelemetry tracing: off unless the standard ``OTEL_*`` variables switch it on.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``,
``console``) or, with that variable unset, when ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; ``OTEL_SDK_DISABLED=true`` and
``OTEL_TRACES_EXPORTER=none`` keep it off. The exporter, the sampler
(``OTEL_TRACES_SAMPLER``), the batch processor (``OTEL_BSP_*``) and the
resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) read their own
variables; OTLP goes over HTTP/protobuf (port 4318).

The spans come from the maintained instrumentations: FastAPI's (the HTTP
request), strawberry's ``OpenTelemetryExtension`` (the GraphQL operation, its
parsing, validation and resolvers) and asyncpg's (each SQL statement). Every
span carries the request id (``quotatree.request_id``), and log lines written
while a span is recorded carry its ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

REQUEST_ID_ATTRIBUTE = "quotatree.request_id"
EXCLUDED_URLS = "/healthz,/readyz,/metrics"
"""Probes and scrapes make no traces (OTEL_PYTHON_FASTAPI_EXCLUDED_URLS overrides)."""

_provider: TracerProvider | None = None


class TracingConfigError(ValueError):
    """The OTEL_* variables ask for something this service cannot do; says what to set."""


def tracing_requested(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER")
    if exporters is not None:
        return any(e.strip().lower() not in ("", "none") for e in exporters.split(","))
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    names = [
        e.strip().lower()
        for e in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",")
        if e.strip().lower() not in ("", "none")
    ]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            protocol = (
                env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            ).strip()
            if protocol != "http/protobuf":
                raise TracingConfigError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: quotatree "
                    "exports OTLP over HTTP (http/protobuf, port 4318); unset it or set "
                    "http/protobuf"
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        else:
            raise TracingConfigError(
                f"OTEL_TRACES_EXPORTER names {name!r}, which quotatree does not ship; use "
                "otlp, console or none"
            )
    return exporters


def make_provider(
    env: Mapping[str, str] | None = None, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A tracer provider with the request-id processor and the exporters of ``env``
    (or only ``exporter``, exported as each span ends: the tests' in-memory one)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    from service import __version__

    env = os.environ if env is None else env
    attributes: dict[str, Any] = {"service.version": __version__}
    if not env.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "quotatree"
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(_request_id_processor())
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for each in _exporters(env):
            provider.add_span_processor(BatchSpanProcessor(each))
    return provider


def configure_tracing(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Set up tracing for this process when the environment asks for it (``serve``)."""
    global _provider
    if not tracing_requested(env):
        return None
    if _provider is None:
        _provider = make_provider(env)
        trace.set_tracer_provider(_provider)
    return _provider


def shutdown_tracing() -> None:
    """Flush the spans still queued (at the end of ``serve``)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def configured_provider() -> TracerProvider | None:
    return _provider


def _request_id_processor() -> Any:
    """Puts the request id of the request being served on every span it starts."""
    from opentelemetry.sdk.trace import SpanProcessor

    from service.observability import current_request_id

    class RequestIdSpanProcessor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            rid = current_request_id()
            if rid != "-":
                span.set_attribute(REQUEST_ID_ATTRIBUTE, rid)

    return RequestIdSpanProcessor()


def tag_current_span(request_id: str) -> None:
    """The HTTP span starts before the request id is known: name it there."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)


def current_trace_ids() -> tuple[str, str] | None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def graphql_extension(provider: TracerProvider) -> Callable[[], Any]:
    """strawberry's own extension: spans of the operation, parsing, validation, resolvers;
    the operation's span is also the current one while it executes, so statements made
    by the other extensions' execution hooks (the response cache's generation read) are
    its children like the resolvers' statements."""
    from strawberry.extensions.base_extension import LifecycleStep
    from strawberry.extensions.tracing import OpenTelemetryExtension

    class OperationSpanExtension(OpenTelemetryExtension):
        def on_execute(self) -> Iterator[None]:
            span = self._span_holder.get(LifecycleStep.OPERATION)
            if span is None:
                yield
                return
            with trace.use_span(span, end_on_exit=False):
                yield

    return lambda: OperationSpanExtension(tracer_provider=provider)


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    excluded = os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS") or EXCLUDED_URLS
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=excluded)


def instrument_sql(provider: TracerProvider) -> None:
    """A span for each SQL statement, from asyncpg's instrumentation (process-wide:
    it wraps asyncpg's connection and prepared-statement methods).

    Instrumenting again with another provider (a second app in the same process, as
    in the tests) replaces the first.
    """
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider)
