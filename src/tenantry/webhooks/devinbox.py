"""``/dev/webhooks``: a receiver inside ``tenantry dev``, to see what an endpoint would get.

Register ``<base>/dev/webhooks/inbox`` as an endpoint (``tenantry dev`` allows local addresses);
every request it receives is checked as a receiver would check it (the Standard Webhooks
signature, with the secrets of the endpoint that sent the message) and listed at ``/dev/webhooks``
(``/dev/webhooks.json`` for scripts). Served in development only; what it holds lives in this
process's memory and is gone at the next restart.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import jinja2
import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tenantry.db.actor import SYSTEM, acting_as
from tenantry.db.codecs import format_timestamp, utc_now
from tenantry.webhooks.fanout import is_message_id
from tenantry.webhooks.store import WebhookStore

BASE_PATH: Final = "/dev/webhooks"
INBOX_PATH: Final = BASE_PATH + "/inbox"
KEPT: Final = 200
MAX_BODY: Final = 1_048_576
_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Delivered:
    """One request the inbox received, and whether its signature held."""

    received_at: dt.datetime
    message_id: str
    event_type: str | None
    verified: bool
    problem: str | None
    body: str

    def to_json(self) -> dict[str, Any]:
        return {
            "received_at": format_timestamp(self.received_at),
            "message_id": self.message_id,
            "event_type": self.event_type,
            "verified": self.verified,
            "problem": self.problem,
            "body": self.body,
        }


@lru_cache(maxsize=1)
def _pages() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


class DevInbox:
    """The last ``KEPT`` requests, newest first."""

    def __init__(self, store: WebhookStore) -> None:
        self.store = store
        self.received: collections.deque[Delivered] = collections.deque(maxlen=KEPT)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(BASE_PATH, self.page, methods=["GET"]),
            Route(BASE_PATH + ".json", self.json, methods=["GET"]),
            Route(INBOX_PATH, self.receive, methods=["POST"]),
        ]

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        text = body.decode("utf-8", errors="replace")
        message_id = request.headers.get("webhook-id", "")
        verified, problem = await self._verify(message_id, text, dict(request.headers))
        try:
            event_type = orjson.loads(body).get("type")
        except (orjson.JSONDecodeError, AttributeError):
            event_type = None
        self.received.appendleft(Delivered(utc_now(), message_id, event_type, verified, problem, text))
        # A receiver answers 2xx for what it accepts; a forged request is refused as a receiver would.
        return Response(status_code=204 if verified else 400)

    async def _verify(self, message_id: str, body: str, headers: dict[str, str]) -> tuple[bool, str | None]:
        with acting_as(SYSTEM):
            message = await self.store.message(None, message_id) if is_message_id(message_id) else None
            endpoint = await self.store.endpoint(None, message.endpoint_id) if message is not None else None
        if endpoint is None:
            return False, "no message of this app has that webhook-id"
        problem = "no matching signature"
        for secret in (endpoint.secret, endpoint.previous_secret):
            if not secret:
                continue
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError as exc:
                problem = str(exc)
                continue
            return True, None
        return False, problem

    async def page(self, request: Request) -> Response:
        html = _pages().get_template("dev_inbox.html").render(received=list(self.received), inbox=INBOX_PATH)
        return HTMLResponse(html, headers=_HEADERS)

    async def json(self, request: Request) -> Response:
        return JSONResponse([d.to_json() for d in self.received], headers={"Cache-Control": "no-store"})
