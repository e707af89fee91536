"""``Idempotency-Key``: a retried write answers what the first one answered, and writes nothing again.

As Stripe does it. A client sends a key of its choosing (a UUID) with a create, update or delete;
the first request with that key runs and its answer is stored *in the transaction of its write*, so
a write never commits without its answer (a process killed right after the commit leaves both). A
retry with the same key and the same request (method, path, body) gets that answer again, marked
``Idempotent-Replayed: true``; with another request, 422 ``IDEMPOTENCY_KEY_REUSED``; while the first
is still running, 409 ``IDEMPOTENCY_KEY_IN_USE``.

Only answers of writes that committed are stored. Every write is all-or-nothing, so an error
answer (a 4xx, or a 503 while the database is away) means nothing was written: the key is given up
and a retry runs as new, possibly with a corrected body. Keys belong to the caller (the user, the
API key, the active organization; the development principal), are kept 24 hours, then swept.

A running key is held for ``lease`` seconds: a request that died before it could give its key up
(a process killed before its commit) blocks retries only that long. A request that outlives its
lease and finds its key taken over by a retry rolls its own write back (409): one write per key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tenantry.context import Principal, RequestContext
from tenantry.core.http import JSONResponse
from tenantry.db import Connection, Database
from tenantry.errors import ApiError
from tenantry.idempotency.store import DONE, KeyRow, KeyStore
from tenantry.idempotency.tables import MAX_KEY_LENGTH

log = logging.getLogger("tenantry.idempotency")

IDEMPOTENCY_HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_TTL = dt.timedelta(hours=24)
LEASE_SECONDS = 30.0
# A claim lost to concurrent requests this many times in a row is answered as in use.
CLAIM_ATTEMPTS = 3

# The answer's body from what the write returned (the created rows, the updated row; None: empty).
Render = Callable[[Any], Any]
# A stored body as a replay shows it (computed values the pipeline adds on the way out).
Present = Callable[[Any], Awaitable[Any]]


def invalid_key(message: str) -> ApiError:
    return ApiError(400, "IDEMPOTENCY_KEY_INVALID", message)


def key_reused() -> ApiError:
    return ApiError(
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key was used with another request (method, path or body); use a new key",
    )


def key_in_use(retry_after: float) -> ApiError:
    return ApiError(
        409,
        "IDEMPOTENCY_KEY_IN_USE",
        "A request with this Idempotency-Key is still running; retry once it has finished",
        retryAfter=max(1, math.ceil(retry_after)),
    )


def check_key(key: str) -> str:
    """The header's value if it can be a key: 1 to 255 printable ASCII characters; else 400."""
    if len(key) > MAX_KEY_LENGTH:
        raise invalid_key(f"Idempotency-Key is {len(key)} characters long; at most {MAX_KEY_LENGTH} are allowed")
    if not key or not key.isascii() or not key.isprintable():
        raise invalid_key("Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID, say)")
    return key


def scope_of(principal: Principal) -> str | None:
    """Whose keys these are, as a digest: the user and API key in their active organization, or the
    development principal. None for an anonymous caller, whose writes are refused anyway."""
    if principal.kind == "anonymous":
        return None
    parts = (
        principal.kind,
        principal.user_id or "",
        str(principal.attributes.get("api_key_id") or ""),
        principal.org_id or "",
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def fingerprint_of(request: Request, body: Any) -> str:
    """The request a key was sent with: method, path and body (JSON with its keys sorted)."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    head = f"{request.method}\n{request.url.path}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


def _millis(value: dt.datetime) -> dt.datetime:
    # What both databases store exactly (SQLite keeps milliseconds): a read-back equals what was written.
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass
class Claim:
    """A key held by one request, until its answer is sealed with its write (or it gives the key up)."""

    keys: IdempotencyKeys
    row_id: str
    token: str
    status: int
    render: Render
    # Stable across the retries of one key (and new once it expired): an idempotency key of our own
    # for what the write asks of another service (Stripe).
    reference: str
    sealed: bool = field(default=False)

    async def seal(self, conn: Connection, result: Any) -> None:
        """Store the answer on ``conn``, inside the write's transaction (the pipeline's ``seal``).

        Raises 409 when a retry took the key over meanwhile (this request outlived its lease), which
        rolls this write back: the retry's is the one that counts.
        """
        body = self.render(result)
        text = None if body is None else orjson.dumps(body, default=str).decode()
        if not await self.keys.store.seal(conn, self.row_id, self.token, self.status, text):
            raise key_in_use(self.keys.lease)
        self.sealed = True


class IdempotencyKeys:
    """Runs keyed writes once per key (see the module's docstring)."""

    def __init__(
        self,
        db: Database,
        store: KeyStore,
        clock: Callable[[], dt.datetime],
        ttl: dt.timedelta = KEY_TTL,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.store = store
        self.clock = clock
        self.ttl = ttl
        self.lease = lease

    async def run(
        self,
        request: Request,
        ctx: RequestContext,
        key: str,
        body: Any,
        *,
        status: int,
        write: Callable[[Claim | None], Awaitable[Any]],
        render: Render = lambda result: result,
        present: Present | None = None,
    ) -> Response:
        """Answer a write sent with ``key``: run ``write`` once, or replay its stored answer.

        ``write`` gets the claim (None for an anonymous caller: nothing is recorded) and passes
        ``claim.seal`` to the pipeline, which calls it inside its transaction; a write with no
        transaction of ours (a call to Stripe) has its answer stored right after it returns.
        """
        check_key(key)
        scope = scope_of(ctx.principal)
        if scope is None:
            return _answer(status, render(await write(None)))
        fingerprint = fingerprint_of(request, body)
        held = await self._claim(scope, ctx.principal.user_id, key, fingerprint, status, render)
        if isinstance(held, KeyRow):
            stored = None if held.body is None else orjson.loads(held.body)
            if stored is not None and present is not None:
                stored = await present(stored)
            return _answer(held.status or status, stored, replayed=True)
        try:
            result = await write(held)
        except BaseException:
            await self._give_up(held)
            raise
        answer = held.render(result)
        if not held.sealed:
            await self._finish(held, result)
        return _answer(status, answer)

    async def _claim(
        self, scope: str, user_id: str | None, key: str, fingerprint: str, status: int, render: Render
    ) -> Claim | KeyRow:
        """Hold the key for this request, or the stored answer to replay; 422/409 as the key's state says."""
        for _ in range(CLAIM_ATTEMPTS):
            now = _millis(self.clock())
            until = now + dt.timedelta(seconds=self.lease)
            token = uuid.uuid4().hex
            row = await self.store.find(scope, key)
            if row is None:
                row_id = await self.store.insert(scope, key, user_id, fingerprint, token, now, until)
                if row_id is not None:
                    return Claim(self, row_id, token, status, render, _reference(row_id, now))
                continue  # another request inserted it first: look again
            if row.created_at <= now - self.ttl:
                # Expired, not swept yet: the key is new again.
                if await self.store.take_over(row, fingerprint, token, now, until):
                    return Claim(self, row.id, token, status, render, _reference(row.id, now))
                continue
            if row.fingerprint != fingerprint:
                raise key_reused()
            if row.state == DONE:
                return row
            if row.locked_until is not None and row.locked_until > now:
                raise key_in_use((row.locked_until - now).total_seconds())
            # Its request died holding it (the lease ran out): this retry carries the same request on.
            if await self.store.take_over(row, fingerprint, token, row.created_at, until):
                return Claim(self, row.id, token, status, render, _reference(row.id, row.created_at))
        raise key_in_use(self.lease)

    async def _finish(self, claim: Claim, result: Any) -> None:
        """Store the answer of a write that ran outside our transactions (it happened: answer it anyway)."""
        try:
            async with self.db.transaction() as conn:
                await claim.seal(conn, result)
        except Exception as exc:
            # The key stays running until its lease ends; a retry then asks the service again with
            # the same reference, and the service answers what it did.
            log.warning("could not store the answer of idempotency key %s: %s", claim.row_id, exc)

    async def _give_up(self, claim: Claim) -> None:
        """Release the key of a request that failed; its lease frees it if even that fails.

        A key sealed by a committed write is left as it is (the release matches running keys only):
        what failed came after the commit (an after-hook), and a retry replays the write's answer.
        """
        try:
            await self.store.release(claim.row_id, claim.token)
        except Exception as exc:
            log.warning("could not release idempotency key %s (its lease will): %s", claim.row_id, exc)

    async def sweep(self, conn: Connection) -> int:
        """Delete the keys older than the retention period; how many."""
        return await self.store.sweep(conn, self.clock() - self.ttl)


def _reference(row_id: str, created: dt.datetime) -> str:
    return hashlib.sha256(f"{row_id}\x1f{created.isoformat()}".encode()).hexdigest()[:32]


def _answer(status: int, body: Any, *, replayed: bool = False) -> Response:
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)
