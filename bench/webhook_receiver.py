"""The benchmark's webhook receiver: a bare ASGI app that answers 204 and notes when each message arrived.

Served by uvicorn in a process of its own (``bench/webhooks.py`` starts it), so receiving costs the
measured server nothing. ``GET /stats?since=N`` returns the arrivals from the N-th on as
``[arrival (epoch seconds), webhook-id, the payload's timestamp]``; ``GET /ok`` is the probe.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

arrivals: list[tuple[float, str, str]] = []


async def _answer(send: Send, status: int, body: bytes = b"") -> None:
    headers = [(b"content-type", b"application/json")] if body else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Note every POST (204); serve ``/stats`` and ``/ok``."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["method"] == "POST":
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        now = time.time()
        headers = dict(scope["headers"])
        # The payload's timestamp is the event's: written inside the transaction that made the change.
        stamp = orjson.loads(b"".join(chunks)).get("timestamp", "")
        arrivals.append((now, headers.get(b"webhook-id", b"").decode(), stamp))
        await _answer(send, 204)
    elif scope["path"] == "/stats":
        since = int(parse_qs(scope["query_string"].decode()).get("since", ["0"])[0])
        await _answer(send, 200, orjson.dumps(arrivals[since:]))
    else:
        await _answer(send, 200, b"{}")


def factory() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """For ``uvicorn --factory``."""
    return app
