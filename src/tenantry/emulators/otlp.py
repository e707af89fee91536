"""A local OpenTelemetry collector: ``POST /v1/traces`` as an OTLP/HTTP receiver answers it.

It takes what OTLP exporters send (``application/x-protobuf``, an ``ExportTraceServiceRequest``,
gzip-compressed or not, decoded with the ``opentelemetry-proto`` package), answers
``ExportTraceServiceResponse`` (200), refuses other content types (415) and undecodable bodies
(400), and keeps every span in memory (``.spans``: flattened, with the resource's attributes) for a
test to inspect. ``wait_for`` blocks until spans matching a predicate arrived.

Run it alone: ``python -m tenantry.emulators.otlp --port 4318``, then point an app at it with
``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318``.
"""

from __future__ import annotations

import argparse
import gzip
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PROTOBUF = "application/x-protobuf"
MAX_BODY = 16 * 1024 * 1024

# OTLP's span kinds (``Span.SpanKind``), by number.
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class SpanLink:
    """A link of a span to another span (of another trace, usually)."""

    trace_id: str
    span_id: str


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as received, ids in lowercase hex (as W3C ``traceparent`` writes them)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    links: tuple[SpanLink, ...]
    status_code: int
    start_ns: int
    end_ns: int


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)


def _attributes(items: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    item: KeyValue
    for item in items:
        found[item.key] = _value(item.value)
    return found


def flatten(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Every span of an export request, with its resource's attributes."""
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=KINDS.get(span.kind, str(span.kind)),
                        attributes=_attributes(span.attributes),
                        resource=resource,
                        links=tuple(SpanLink(link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                        status_code=span.status.code,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                )
    return spans


@dataclass
class OtlpEmulator:
    """The receiver's state: the spans received, and how many export requests brought them."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    # How many spans arrived (kept or not).
    received: int = 0
    # False: spans are counted, not kept. A benchmark's receiver runs on the machine it measures, and
    # turning every span into Python objects (kept in memory for the whole run) takes CPU that a real
    # collector, elsewhere, would not take from the server.
    keep_spans: bool = True
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def reset(self) -> None:
        """Forget everything received."""
        with self._changed:
            self.spans.clear()
            self.requests = self.received = 0

    def add(self, spans: list[ReceivedSpan]) -> None:
        """Keep the spans of an export request."""
        with self._changed:  # reentrant: ``count`` takes it again
            self.spans.extend(spans)
            self.count(len(spans))

    def count(self, spans: int) -> None:
        """Note an export request of ``spans`` spans without keeping them."""
        with self._changed:
            self.requests += 1
            self.received += spans
            self._changed.notify_all()

    def wait_for_received(self, minimum: int = 1, timeout: float = 5.0) -> int:
        """How many spans arrived, once at least ``minimum`` did (kept or not); 0 after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.received >= minimum, timeout)
            return self.received if self.received >= minimum else 0

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 5.0) -> list[ReceivedSpan]:
        """The spans once ``predicate(spans)`` holds; ``TimeoutError`` after ``timeout`` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.spans), timeout):
                raise TimeoutError(
                    f"the spans expected did not arrive within {timeout:g}s ({len(self.spans)} received)"
                )
            return list(self.spans)

    def in_trace(self, trace_id: str) -> list[ReceivedSpan]:
        """The spans of one trace."""
        with self._changed:
            return [s for s in self.spans if s.trace_id == trace_id]

    # -- HTTP ---------------------------------------------------------------------------------------

    async def traces(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != PROTOBUF:
            return Response(f"unsupported content type {ctype!r}; OTLP/HTTP sends {PROTOBUF}", 415)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response("request too large", 413)
        encoding = request.headers.get("content-encoding", "").lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding not in ("", "identity"):
                return Response(f"unsupported content encoding {encoding!r}", 415)
            message = ExportTraceServiceRequest.FromString(body)
        except (OSError, EOFError, zlib.error, DecodeError) as exc:
            return Response(f"undecodable export request: {exc}", 400)
        if self.keep_spans:
            self.add(flatten(message))
        else:
            self.count(sum(len(scope.spans) for spans in message.resource_spans for scope in spans.scope_spans))
        return Response(ExportTraceServiceResponse().SerializeToString(), 200, media_type=PROTOBUF)

    def app(self) -> Starlette:
        """The receiver as an ASGI app."""
        return Starlette(routes=[Route("/v1/traces", self.traces, methods=["POST"])])


def main() -> None:  # pragma: no cover - a manual tool
    import uvicorn

    parser = argparse.ArgumentParser(description="A local OTLP/HTTP trace receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    uvicorn.run(OtlpEmulator().app(), host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()
