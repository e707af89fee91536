"""A local Postmark: ``POST /email`` and ``POST /email/batch`` as Postmark's HTTP API answers them.

It checks the ``X-Postmark-Server-Token`` header (401, ErrorCode 10), the JSON body (422 with
ErrorCode 402/403/409), each message's fields (422, ErrorCode 300), inactive recipients (422,
ErrorCode 406) and message streams (422, ErrorCode 1235), and answers an accepted message with
``{"To", "SubmittedAt", "MessageID", "ErrorCode": 0, "Message": "OK"}``. Accepted messages are
kept in memory (``.messages``). Tests steer it with ``fail_next`` (the next calls fail with an
HTTP status and ErrorCode); a separate process is steered through ``/__emulator__/…``.

Run it alone: ``python -m tenantry.emulators.postmark --port 9025 [--token TOKEN]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

MAX_RECIPIENTS = 50
# The patterns Postmark documents for the two halves of an address (support article on ErrorCode 300).
_MAILBOX = re.compile(r"^[a-z0-9.!#$%&'`*+\-/=^_{}|~]+$", re.IGNORECASE)
_DOMAIN = re.compile(r"^(\.?[a-zA-Z0-9\-])+$")
MAX_BATCH = 500
CONTROL_PREFIX = "/__emulator__"

_MISSING_KEY_MESSAGE = (
    "No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either "
    "X-Postmark-Server-Token or X-Postmark-Account-Token."
)
_INVALID_KEY_MESSAGE = "The Server API token you provided is invalid. Please check it and try again."
_INACTIVE = (
    "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: {}. "
    "Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression."
)
# The message Postmark gives with each ErrorCode when a test injects one without its own text.
_CODE_MESSAGES = {
    10: _INVALID_KEY_MESSAGE,
    100: "Maintenance",
    300: "Invalid email request",
    405: "Not allowed to send: you have run out of credits.",
    406: _INACTIVE.format("someone@example.com"),
    429: "Rate limit exceeded.",
}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _error(status: int, code: int, message: str) -> Response:
    return _json({"ErrorCode": code, "Message": message}, status)


class _Rejected(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Failure:
    status: int
    error_code: int
    message: str


class PostmarkEmulator:
    """An ASGI app speaking Postmark's email API, with test controls.

    ``server_token=None`` accepts any non-empty token; otherwise only that one.
    """

    def __init__(
        self,
        server_token: str | None = None,
        *,
        inactive_recipients: Iterable[str] = (),
        message_streams: Iterable[str] = ("outbound", "broadcast"),
    ) -> None:
        self.server_token = server_token
        self.inactive_recipients = {a.lower() for a in inactive_recipients}
        self.message_streams = set(message_streams)
        self.messages: list[dict[str, Any]] = []
        self.calls = 0  # requests to /email and /email/batch, failed ones included
        self._failures: deque[_Failure] = deque()
        # The server may run in another thread (uvicorn in a test) than the one steering it.
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/email", self._email, methods=["POST"]),
                Route("/email/batch", self._batch, methods=["POST"]),
                Route(f"{CONTROL_PREFIX}/fail", self._control_fail, methods=["POST"]),
                Route(f"{CONTROL_PREFIX}/messages", self._control_messages, methods=["GET", "DELETE"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # -- test controls ---------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 500, error_code: int | None = None) -> None:
        """Answer the next ``count`` send calls with HTTP ``status`` and ``error_code``.

        Without ``error_code``: 429 answers ErrorCode 429, 401 answers 10, 422 answers 300, and any
        other status a generic ErrorCode 0-less server error, as Postmark does during an outage.
        """
        code = error_code if error_code is not None else {401: 10, 422: 300, 429: 429}.get(status, 500)
        text = _CODE_MESSAGES.get(code, "Internal server error." if status >= 500 else "Request failed.")
        with self._lock:
            self._failures.extend(_Failure(status, code, text) for _ in range(count))

    def reset(self) -> None:
        """Forget received messages, pending failures and the call count."""
        with self._lock:
            self.messages.clear()
            self._failures.clear()
            self.calls = 0

    def deactivate(self, *addresses: str) -> None:
        """Mark recipients inactive (as after a hard bounce): sending to them answers ErrorCode 406."""
        self.inactive_recipients.update(a.lower() for a in addresses)

    # -- protocol ------------------------------------------------------------------------------------

    def _begin(self, request: Request) -> Response | None:
        """Token check and injected failures, common to both send endpoints."""
        with self._lock:
            self.calls += 1
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return _error(failure.status, failure.error_code, failure.message)
        token = request.headers.get("x-postmark-server-token", "")
        if not token:
            return _error(401, 10, _MISSING_KEY_MESSAGE)
        if self.server_token is not None and token != self.server_token:
            return _error(401, 10, _INVALID_KEY_MESSAGE)
        return None

    async def _body(self, request: Request) -> Any:
        if "json" not in request.headers.get("content-type", ""):
            raise _Rejected(409, "JSON required. Please set the 'Content-Type' header to 'application/json'.")
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise _Rejected(402, f"Received invalid JSON input: {exc}") from exc

    async def _email(self, request: Request) -> Response:
        refused = self._begin(request)
        if refused is not None:
            return refused
        try:
            body = await self._body(request)
            if not isinstance(body, dict):
                raise _Rejected(403, "Incompatible JSON: expected a JSON object.")
            return _json(self._accept(body))
        except _Rejected as exc:
            return _error(422, exc.code, exc.message)

    async def _batch(self, request: Request) -> Response:
        refused = self._begin(request)
        if refused is not None:
            return refused
        try:
            body = await self._body(request)
            if not isinstance(body, list):
                raise _Rejected(403, "Incompatible JSON: expected a JSON array of messages.")
            if len(body) > MAX_BATCH:
                raise _Rejected(410, f"Too many batch messages: at most {MAX_BATCH} per request.")
        except _Rejected as exc:
            return _error(422, exc.code, exc.message)
        # A batch answers 200 with one result per message; each may carry its own ErrorCode.
        results: list[dict[str, Any]] = []
        for item in body:
            try:
                if not isinstance(item, dict):
                    raise _Rejected(403, "Incompatible JSON: each message must be a JSON object.")
                results.append(self._accept(item))
            except _Rejected as exc:
                results.append({"ErrorCode": exc.code, "Message": exc.message})
        return _json(results)

    def _accept(self, message: dict[str, Any]) -> dict[str, Any]:
        self._validate(message)
        submitted = dt.datetime.now(dt.UTC).isoformat()
        message_id = str(uuid.uuid4())
        with self._lock:
            self.messages.append({**message, "MessageID": message_id, "SubmittedAt": submitted})
        return {"To": message["To"], "SubmittedAt": submitted, "MessageID": message_id, "ErrorCode": 0, "Message": "OK"}

    def _validate(self, message: dict[str, Any]) -> None:
        sender = message.get("From")
        if not isinstance(sender, str) or not sender.strip():
            raise _Rejected(300, "Invalid 'From' address: ''.")
        _addresses("From", sender)
        recipients: list[str] = []
        for field in ("To", "Cc", "Bcc"):
            value = message.get(field)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise _Rejected(300, f"Invalid '{field}' field: expected a comma-separated string.")
            recipients += _addresses(field, value)
        if not message.get("To"):
            raise _Rejected(300, "Zero recipients specified")
        if len(recipients) > MAX_RECIPIENTS:
            raise _Rejected(300, f"Maximum of {MAX_RECIPIENTS} recipients allowed per email message")
        if not message.get("TextBody") and not message.get("HtmlBody"):
            raise _Rejected(300, "Provide either email TextBody or HtmlBody or both.")
        for field in ("Subject", "TextBody", "HtmlBody", "Tag", "MessageStream", "ReplyTo"):
            if field in message and message[field] is not None and not isinstance(message[field], str):
                raise _Rejected(300, f"Invalid '{field}' field: expected a string.")
        metadata = message.get("Metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in metadata.values())
        ):
            raise _Rejected(300, "Invalid 'Metadata' field: expected an object of string or number values.")
        stream = message.get("MessageStream") or "outbound"
        if stream not in self.message_streams:
            raise _Rejected(1235, f"The message stream for the provided 'ID' ({stream}) was not found.")
        inactive = [a for a in recipients if a.lower() in self.inactive_recipients]
        if inactive:
            raise _Rejected(406, _INACTIVE.format(", ".join(inactive)))

    # -- control endpoints (not Postmark's: for steering a separate emulator process) ------------------

    async def _control_fail(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"{}")
        self.fail_next(
            int(body.get("count", 1)), status=int(body.get("status", 500)), error_code=body.get("error_code")
        )
        return _json({"ok": True})

    async def _control_messages(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.reset()
            return _json({"ok": True})
        with self._lock:
            return _json(list(self.messages))


def _addresses(field: str, value: str) -> list[str]:
    """The addresses of a comma-separated header value; ErrorCode 300 when one is not an address."""
    found: list[str] = []
    for _, address in getaddresses([value]):
        local, at, domain = address.rpartition("@")
        if not (at and _MAILBOX.match(local) and _DOMAIN.match(domain)):
            raise _Rejected(300, f"Error parsing '{field}': Illegal email address '{address or value}'.")
        found.append(address)
    if not found:
        raise _Rejected(300, f"Error parsing '{field}': Illegal email address '{value}'.")
    return found


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the emulator until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tenantry.emulators.postmark", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9025)
    parser.add_argument("--token", default=None, help="the only server token accepted (default: any)")
    parser.add_argument("--inactive", action="append", default=[], help="a recipient marked inactive (repeatable)")
    args = parser.parse_args(argv)
    emulator = PostmarkEmulator(args.token, inactive_recipients=args.inactive)
    print(f"Postmark emulator on http://{args.host}:{args.port} (POSTMARK_API_URL)", flush=True)
    uvicorn.run(emulator.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
