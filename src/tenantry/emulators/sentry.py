"""A local Sentry: the ingest endpoints ``POST /api/{project_id}/envelope/`` and ``/store/``.

It speaks the protocol Sentry's SDKs use: an envelope (a JSON header line, then items, each a
JSON header line with an optional ``length`` and its payload), possibly gzip- or
deflate-compressed (``Content-Encoding``), authenticated with the DSN's public key in the
``X-Sentry-Auth`` header (``Sentry sentry_key=…, sentry_version=7``), the ``sentry_key`` query
parameter or the envelope header's ``dsn``, as Sentry's Relay accepts it. No key answers 401, a
key or project it does not know 403, a malformed body 400, each with ``{"detail": …}``; an
accepted envelope answers ``{"id": "<event id>"}``.

Accepted envelopes are kept in memory: ``.envelopes`` (every item, sessions and client reports
included) and ``.events`` (the error events, as dicts, each with its ``project_id``). A separate
process is read through ``GET /__emulator__/events`` (``DELETE`` forgets them).

Run it alone: ``python -m tenantry.emulators.sentry --port 9026 [--key KEY] [--project 1]``;
``SENTRY_DSN=http://KEY@127.0.0.1:9026/1`` then points an app at it.
"""

from __future__ import annotations

import argparse
import re
import threading
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

CONTROL_PREFIX = "/__emulator__"
# Relay refuses envelopes over 200 MiB (compressed); a local stand-in needs far less.
MAX_BODY_BYTES = 20 * 1024 * 1024
# Item types that carry one error event (``transaction`` is performance data, kept as an item only).
EVENT_TYPES = frozenset({"event"})

_AUTH_PAIR = re.compile(r"(\w+)\s*=\s*([^,\s]+)")


class EnvelopeError(ValueError):
    """A body that is not a well-formed envelope."""


@dataclass(frozen=True)
class EnvelopeItem:
    """One item of an envelope: its headers (``type``, ``length`` …) and its payload bytes."""

    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))

    def json(self) -> Any:
        """The payload parsed as JSON (events, sessions, client reports are JSON)."""
        return orjson.loads(self.payload)


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: its header and its items, in order."""

    headers: dict[str, Any]
    items: list[EnvelopeItem] = field(default_factory=list)
    project_id: str = ""


def parse_envelope(body: bytes) -> Envelope:
    """``body`` parsed as Sentry's envelope format; ``EnvelopeError`` when it is not one.

    Each item's payload runs for its header's ``length`` bytes, or to the next newline when the
    header has none; a newline after a payload is optional at the end of the body.
    """
    header_line, newline, rest = body.partition(b"\n")
    headers = _json_object(header_line, "envelope header")
    items: list[EnvelopeItem] = []
    pos = 0
    if not newline:
        return Envelope(headers)
    while pos < len(rest):
        end = rest.find(b"\n", pos)
        line = rest[pos:] if end < 0 else rest[pos:end]
        pos = len(rest) if end < 0 else end + 1
        if not line.strip():
            continue  # trailing blank line
        item_headers = _json_object(line, "item header")
        length = item_headers.get("length")
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise EnvelopeError(f"item length must be a non-negative integer, not {length!r}")
            if pos + length > len(rest):
                raise EnvelopeError("item payload is shorter than its length")
            payload = rest[pos : pos + length]
            pos += length
            if pos < len(rest):
                if rest[pos : pos + 1] != b"\n":
                    raise EnvelopeError("item payload is not followed by a newline")
                pos += 1
        else:
            end = rest.find(b"\n", pos)
            payload = rest[pos:] if end < 0 else rest[pos:end]
            pos = len(rest) if end < 0 else end + 1
        if "type" not in item_headers:
            raise EnvelopeError("item header has no type")
        items.append(EnvelopeItem(item_headers, payload))
    return Envelope(headers, items)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} is not a JSON object")
    return value


def decode_body(body: bytes, encoding: str) -> bytes:
    """``body`` decompressed per its ``Content-Encoding`` (gzip, deflate or none); ``EnvelopeError`` otherwise."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, wbits=zlib.MAX_WBITS | 16)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)  # zlib-wrapped, as HTTP's deflate means
            except zlib.error:
                return zlib.decompress(body, wbits=-zlib.MAX_WBITS)  # raw deflate, which some clients send
    except zlib.error as exc:
        raise EnvelopeError(f"body is not valid {encoding}: {exc}") from None
    raise EnvelopeError(f"unsupported content encoding {encoding!r}")


def auth_key(request: Request) -> str | None:
    """The public key a request authenticates with: ``X-Sentry-Auth``, then ``sentry_key`` in the query."""
    header = request.headers.get("x-sentry-auth", "")
    if header:
        scheme, _, params = header.partition(" ")
        if scheme.lower() == "sentry":
            found = dict(_AUTH_PAIR.findall(params))
            key = found.get("sentry_key")
            if key:
                return str(key)
    return request.query_params.get("sentry_key") or None


def _dsn_key(dsn: object) -> tuple[str | None, str | None]:
    """The public key and project id of a DSN (``https://KEY@host/PROJECT``)."""
    if not isinstance(dsn, str):
        return None, None
    parts = urlsplit(dsn)
    return parts.username or None, parts.path.rstrip("/").rpartition("/")[2] or None


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _detail(status: int, detail: str) -> Response:
    return _json({"detail": detail}, status)


class SentryEmulator:
    """An ASGI app speaking Sentry's ingest protocol for the projects it knows, with test controls.

    ``projects`` maps project ids to their DSN public key (``{"1": "public-key"}``).
    """

    def __init__(self, projects: dict[str, str] | None = None) -> None:
        self.projects = dict(projects or {"1": uuid.uuid4().hex})
        self.envelopes: list[Envelope] = []
        self.events: list[dict[str, Any]] = []
        self.refused = 0  # requests answered 4xx
        # The server runs in another thread (uvicorn in a test) than the one reading what it kept.
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/api/{project_id}/envelope/", self._envelope, methods=["POST"]),
                Route("/api/{project_id}/store/", self._store, methods=["POST"]),
                Route(f"{CONTROL_PREFIX}/events", self._control_events, methods=["GET", "DELETE"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def dsn(self, base_url: str, project_id: str | None = None) -> str:
        """The DSN of a project here, for an emulator served at ``base_url`` (``http://host:port``)."""
        project = project_id or next(iter(self.projects))
        scheme, _, host = base_url.rstrip("/").partition("://")
        return f"{scheme}://{self.projects[project]}@{host}/{project}"

    def reset(self) -> None:
        """Forget every envelope and event received."""
        with self._lock:
            self.envelopes.clear()
            self.events.clear()
            self.refused = 0

    # -- protocol ------------------------------------------------------------------------------------

    async def _read(self, request: Request) -> bytes | Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return self._refuse(413, "envelope exceeded size limits")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return self._refuse(413, "envelope exceeded size limits")
        try:
            return decode_body(bytes(body), request.headers.get("content-encoding", ""))
        except EnvelopeError as exc:
            return self._refuse(400, str(exc))

    def _check_key(self, project_id: str, key: str | None) -> Response | None:
        if key is None:
            return self._refuse(401, "missing authorization information")
        if self.projects.get(project_id) != key:
            # What Relay answers for a key it does not know, or one of another project.
            return self._refuse(403, "event submission rejected with_reason: ProjectId")
        return None

    def _refuse(self, status: int, detail: str) -> Response:
        with self._lock:
            self.refused += 1
        return _detail(status, detail)

    async def _envelope(self, request: Request) -> Response:
        project_id = request.path_params["project_id"]
        key = auth_key(request)
        body = await self._read(request)
        if isinstance(body, Response):
            return body
        try:
            envelope = parse_envelope(body)
        except EnvelopeError as exc:
            return self._refuse(400, f"invalid envelope: {exc}")
        if key is None:
            # Relay also takes the key from the envelope header's DSN (browser SDKs send it there).
            dsn_key, dsn_project = _dsn_key(envelope.headers.get("dsn"))
            if dsn_project in (None, project_id):
                key = dsn_key
        refused = self._check_key(project_id, key)
        if refused is not None:
            return refused
        envelope = Envelope(envelope.headers, envelope.items, project_id)
        events: list[dict[str, Any]] = []
        for item in envelope.items:
            if item.type in EVENT_TYPES:
                try:
                    event = item.json()
                except orjson.JSONDecodeError:
                    return self._refuse(400, "invalid event payload: not JSON")
                if not isinstance(event, dict):
                    return self._refuse(400, "invalid event payload: not an object")
                events.append({**event, "project_id": project_id})
        with self._lock:
            self.envelopes.append(envelope)
            self.events.extend(events)
        event_id = envelope.headers.get("event_id") or next((e.get("event_id") for e in events), None)
        return _json({"id": event_id} if event_id else {})

    async def _store(self, request: Request) -> Response:
        """The legacy endpoint: one JSON event per request (older SDKs)."""
        project_id = request.path_params["project_id"]
        refused = self._check_key(project_id, auth_key(request))
        if refused is not None:
            return refused
        body = await self._read(request)
        if isinstance(body, Response):
            return body
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._refuse(400, "invalid event payload: not JSON")
        if not isinstance(event, dict):
            return self._refuse(400, "invalid event payload: not an object")
        event_id = str(event.get("event_id") or uuid.uuid4().hex)
        event = {**event, "event_id": event_id, "project_id": project_id}
        item = EnvelopeItem({"type": "event"}, orjson.dumps(event))
        with self._lock:
            self.envelopes.append(Envelope({"event_id": event_id}, [item], project_id))
            self.events.append(event)
        return _json({"id": event_id})

    async def _control_events(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.reset()
            return _json({"ok": True})
        with self._lock:
            return _json(list(self.events))


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the emulator until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tenantry.emulators.sentry", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9026)
    parser.add_argument("--key", default="tenantry-dev-sentry-key", help="the DSN's public key")
    parser.add_argument("--project", default="1", help="the project id")
    args = parser.parse_args(argv)
    emulator = SentryEmulator({args.project: args.key})
    print(f"Sentry emulator: SENTRY_DSN={emulator.dsn(f'http://{args.host}:{args.port}')}", flush=True)
    uvicorn.run(emulator.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
