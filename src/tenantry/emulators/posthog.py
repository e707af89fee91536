"""A local PostHog capture endpoint: what the ``posthog`` SDK and posthog-js send events to.

It serves the ingestion endpoints as PostHog's capture service does: ``POST /batch/`` (the server
SDKs: ``{"api_key", "batch": [...], "sent_at"}``), ``/capture/``, ``/e/``, ``/i/v0/e/`` and
``/track/`` (one event, a list, or ``{"batch": [...]}``; posthog-js), with bodies plain, gzipped
(``Content-Encoding: gzip`` or ``?compression=gzip-js``) or form-encoded (``data=<base64 JSON>``).
The project key comes from the body's ``api_key``/``token`` or each event's ``properties.token``;
a missing or wrong one is refused with 401 as PostHog refuses it, a malformed body with 400, and
an accepted request answers ``{"status": 1}``. As PostHog's hosts do, it answers browsers' CORS
requests from any origin, and serves the remote configuration posthog-js asks for at start-up
(``/array/<key>/config``) and its feature flags (``/flags/``: none). Events are kept in memory (``.events``), once per
``uuid`` as PostHog deduplicates them; ``.received`` keeps every event of every accepted request.

Tests steer it with ``fail_next`` (the next requests answer an HTTP error, e.g. 503) and ``hold``
(requests wait until ``release``; ``arrived`` is set when one is waiting). A separate process is
steered through ``/__emulator__/…``.

Run it alone: ``python -m tenantry.emulators.posthog --port 9030 [--api-key phc_…]``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import threading
import uuid
import zlib
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

CONTROL_PREFIX = "/__emulator__"
CAPTURE_PATHS = ("/batch/", "/capture/", "/e/", "/i/v0/e/", "/track/")
_NO_KEY = "API key not provided. You can find your project API key in PostHog project settings."
_BAD_KEY = "Project API key invalid. You can find your project API key in PostHog project settings."


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _error(status: int, kind: str, code: str, detail: str) -> Response:
    # PostHog's error shape (its DRF exception handler, kept by the capture service).
    return _json({"type": kind, "code": code, "detail": detail, "attr": None}, status)


def _unavailable(status: int) -> Response:
    return _json({"type": "server_error", "code": "unavailable", "detail": "Service Unavailable"}, status)


class _Invalid(Exception):
    pass


class PostHogEmulator:
    """An ASGI app speaking PostHog's capture API, with test controls.

    ``api_key=None`` accepts any non-empty project key; otherwise only that one.
    """

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.events: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.requests = 0  # capture requests, refused ones included
        self.arrived = threading.Event()
        self._failures: deque[tuple[int, bool]] = deque()
        self._open = threading.Event()
        self._open.set()
        self._seen: set[str] = set()
        # The server runs in another thread (uvicorn in a test) than the one steering it.
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                *(Route(path, self._capture, methods=["POST"]) for path in CAPTURE_PATHS),
                Route("/flags/", self._flags, methods=["POST"]),
                Route("/array/{key}/config", self._config, methods=["GET"]),
                Route(f"{CONTROL_PREFIX}/fail", self._control_fail, methods=["POST"]),
                Route(f"{CONTROL_PREFIX}/events", self._control_events, methods=["GET", "DELETE"]),
            ],
            # posthog-js posts from the app's pages, another origin: PostHog allows any.
            middleware=[
                Middleware(
                    CORSMiddleware,
                    allow_origin_regex=".*",
                    allow_credentials=True,
                    allow_methods=["GET", "POST", "OPTIONS"],
                    allow_headers=["*"],
                )
            ],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # -- test controls ---------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 503, keep: bool = False) -> None:
        """Answer the next ``count`` capture requests with HTTP ``status``: an outage, keeping nothing, or
        with ``keep`` an answer lost after the events were stored (the sender must not make duplicates)."""
        with self._lock:
            self._failures.extend((status, keep) for _ in range(count))

    def hold(self) -> None:
        """Make capture requests wait (a PostHog that hangs) until ``release``."""
        self.arrived.clear()
        self._open.clear()

    def release(self) -> None:
        """Let held requests (and later ones) through."""
        self._open.set()

    def reset(self) -> None:
        """Forget events, pending failures and counts; release held requests."""
        with self._lock:
            self.events.clear()
            self.received.clear()
            self._seen.clear()
            self._failures.clear()
            self.requests = 0
        self.release()

    def named(self, event: str) -> list[dict[str, Any]]:
        """The kept events called ``event``."""
        with self._lock:
            return [e for e in self.events if e.get("event") == event]

    # -- protocol ------------------------------------------------------------------------------------

    async def _capture(self, request: Request) -> Response:
        with self._lock:
            self.requests += 1
            failure = self._failures.popleft() if self._failures else None
        if not self._open.is_set():
            self.arrived.set()
            await anyio.to_thread.run_sync(self._open.wait)
        if failure is not None and not failure[1]:
            return _unavailable(failure[0])
        try:
            body = _decode(await request.body(), request)
            key, events = _events(body)
        except _Invalid as exc:
            return _error(400, "validation_error", "invalid_payload", f"Malformed request data: {exc}")
        if not key:
            return _error(401, "authentication_error", "missing_api_key", _NO_KEY)
        if self.api_key is not None and key != self.api_key:
            return _error(401, "authentication_error", "invalid_api_key", _BAD_KEY)
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._lock:
            for event in events:
                kept = {**event, "api_key": key, "received_at": now}
                kept.setdefault("uuid", str(uuid.uuid4()))
                self.received.append(kept)
                if kept["uuid"] not in self._seen:
                    self._seen.add(kept["uuid"])
                    self.events.append(kept)
        if failure is not None:
            return _unavailable(failure[0])
        return _json({"status": 1})

    async def _config(self, request: Request) -> Response:
        # The project's remote configuration: the compression it accepts, nothing else switched on.
        key = request.path_params["key"]
        if self.api_key is not None and key != self.api_key:
            return _error(401, "authentication_error", "invalid_api_key", _BAD_KEY)
        return _json(
            {
                "token": key,
                "supportedCompression": ["gzip", "gzip-js"],
                "hasFeatureFlags": False,
                "captureDeadClicks": False,
                "capturePerformance": False,
                "autocapture_opt_out": False,
                "autocaptureExceptions": False,
                "analytics": {"endpoint": "/i/v0/e/"},
                "elementsChainAsString": True,
                "sessionRecording": False,
                "heatmaps": False,
                "surveys": False,
                "defaultIdentifiedOnly": True,
                "siteApps": [],
            }
        )

    async def _flags(self, request: Request) -> Response:
        # posthog-js asks for feature flags at start-up: none here.
        return _json({"flags": {}, "featureFlags": {}, "errorsWhileComputingFlags": False})

    # -- control endpoints (not PostHog's: for steering a separate emulator process) ------------------

    async def _control_fail(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"{}")
        self.fail_next(int(body.get("count", 1)), status=int(body.get("status", 503)), keep=bool(body.get("keep")))
        return _json({"ok": True})

    async def _control_events(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.reset()
            return _json({"ok": True})
        with self._lock:
            return _json(list(self.events))


def _decode(raw: bytes, request: Request) -> Any:
    """The JSON a capture request carries, however it was encoded."""
    compressed = request.headers.get("content-encoding", "").lower() == "gzip" or request.query_params.get(
        "compression"
    ) in ("gzip", "gzip-js")
    try:
        if compressed or raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
            form = parse_qs(raw.decode())
            data = form.get("data", [""])[0]
            raw = base64.b64decode(data + "=" * (-len(data) % 4))
        return orjson.loads(raw)
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise _Invalid(str(exc) or type(exc).__name__) from None


def _events(body: Any) -> tuple[str, list[dict[str, Any]]]:
    """The project key and the events of a decoded body (a batch, a list or one event)."""
    key = ""
    if isinstance(body, dict) and "batch" in body:
        key = str(body.get("api_key") or body.get("token") or "")
        events = body["batch"]
    elif isinstance(body, list):
        events = body
    elif isinstance(body, dict):
        events = [body]
    else:
        raise _Invalid("expected a JSON object or array")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise _Invalid("each event must be a JSON object")
    for e in events:
        if not isinstance(e.get("event"), str) or not e["event"]:
            raise _Invalid("each event needs an 'event' name")
        properties = e.get("properties") or {}
        if not isinstance(properties, dict):
            raise _Invalid("'properties' must be an object")
        key = key or str(e.get("api_key") or e.get("token") or properties.get("token") or "")
        distinct = e.get("distinct_id") or properties.get("distinct_id")
        if distinct in (None, ""):
            raise _Invalid("each event needs a 'distinct_id'")
    return key, events


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the emulator until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tenantry.emulators.posthog", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9030)
    parser.add_argument("--api-key", default=None, help="the only project key accepted (default: any)")
    args = parser.parse_args(argv)
    emulator = PostHogEmulator(args.api_key)
    print(f"PostHog emulator on http://{args.host}:{args.port} (POSTHOG_HOST)", flush=True)
    uvicorn.run(emulator.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
