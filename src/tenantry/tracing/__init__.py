"""Traces: OpenTelemetry's SDK, one trace per request with a span per query, deliveries linked to it.

``Tracing`` applies only when an OTLP endpoint is configured (``TracingSettings``:
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``, ``TENANTRY_TRACES_SAMPLE_RATE`` …);
otherwise it is not part of the app at all: no tracer provider, no middleware, no instrumentation.
When on, it has its own ``TracerProvider`` (not the process-wide one, so two apps in one process
stay apart) exporting by OTLP/HTTP in batches; ``middleware`` opens the server span, named after
the route template; queries get client spans (``queries``); the outbox stores each event's trace
context and each delivery runs in a span linked to it (``outbox``). ``sampler`` says which are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp

from tenantry.core import App, Capability
from tenantry.schema import Schema
from tenantry.tracing.settings import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

__all__ = ["Tracing", "TracingSettings"]


class Tracing(Capability):
    """OpenTelemetry traces, exported by OTLP/HTTP when an endpoint is configured."""

    name = "tracing"
    # Inside the logs' middleware: the request id is chosen before the span opens.
    after = ("logs",)
    settings_model = TracingSettings

    def __init__(self, settings: TracingSettings) -> None:
        self.settings = settings
        self.provider: TracerProvider | None = None
        self.rate = 1.0

    def enabled(self, schema: Schema) -> bool:
        return self.settings.enabled

    @property
    def tracer(self) -> Tracer:
        """A tracer of this app's provider, for spans of one's own (``with tracer.start_as_current_span(…)``)."""
        assert self.provider is not None, "tracing is installed only when an endpoint is configured"
        return self.provider.get_tracer("tenantry")

    def install(self, app: App) -> None:
        # Loaded here, not at import: an app without tracing never imports the SDK.
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from tenantry.tracing.exporter import TracesExporter
        from tenantry.tracing.outbox import OutboxTracer
        from tenantry.tracing.queries import query_observer
        from tenantry.tracing.sampler import TenantrySampler

        settings = self.settings
        rate = settings.sample_rate
        if rate is None:
            rate = 0.1 if app.settings.env == "production" else 1.0
        resource = Resource.create(
            {"service.name": settings.service_name, "deployment.environment.name": app.settings.env}
        )
        self.rate = rate
        self.provider = TracerProvider(resource=resource, sampler=TenantrySampler(rate))
        exporter = TracesExporter(
            endpoint=settings.url,
            headers=settings.header_map() or None,
            compression=Compression.Gzip if settings.compression == "gzip" else Compression.NoCompression,
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        app.outbox.observe(OutboxTracer(self.tracer))
        app.db.query_observer = query_observer(
            self.tracer, database_attributes(app.db.dialect_name, app.settings.database_url)
        )

    def middleware(self) -> Sequence[Middleware]:
        from tenantry.tracing.gate import SamplingGate
        from tenantry.tracing.middleware import ServerSpans

        tracer, rate = self.tracer, self.rate

        def gated(app: ASGIApp) -> ASGIApp:
            # The server span only for the requests the gate chooses: the others skip it entirely.
            return SamplingGate(app, traced=ServerSpans(app, tracer), rate=rate)

        return [Middleware(gated)]

    async def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # exports what the batch still holds

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        """Export every finished span now (tests; a process about to exit)."""
        return self.provider.force_flush(timeout_millis) if self.provider is not None else True


def database_attributes(dialect: str, url: str) -> dict[str, Any]:
    """What every query span of the ``dialect`` database at ``url`` records: its system, name, host
    and port (never its user or password)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    attributes: dict[str, Any] = {"db.system.name": dialect}
    if dialect == "sqlite":
        attributes["db.namespace"] = (parsed.database or "").rsplit("/", 1)[-1] or ":memory:"
        return attributes
    attributes["db.namespace"] = parsed.database or ""
    if parsed.host:
        attributes["server.address"] = parsed.host
        attributes["server.port"] = parsed.port or 5432
    return attributes
