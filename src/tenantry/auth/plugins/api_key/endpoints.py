"""The plugin's endpoints under ``/api/auth``, as ``@better-auth/api-key`` 1.7 has them.

- ``POST /api-key/create`` — a key for the signed-in user, shown once in the answer (``key``).
  Tenantry extensions: ``organizationId`` names the organization the key acts in (default: the
  session's active one; ``null``: a personal key, outside any organization), and ``permissions``
  (its scopes) may be set by the user, since scopes only ever narrow what the user may do.
  Limits and quota (``rateLimit*``, ``remaining``, ``refill*``) stay server-only, as in Better Auth.
- ``GET /api-key/get?id=``, ``POST /api-key/update``, ``POST /api-key/delete``, ``GET /api-key/list``:
  the caller's own keys only (another user's key id answers 404 KEY_NOT_FOUND).
- ``POST /api-key/verify`` ``{key, permissions?}`` — ``{valid, error, key}``. Better Auth 1.7 serves
  it to server code only; Tenantry has no in-process caller, so it is an HTTP endpoint, which needs
  no session (holding the key is the credential) and counts as a use of the key.
- ``POST /api-key/delete-all-expired-api-keys`` — the caller's expired keys (server-only in Better Auth).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import orjson

from tenantry.auth.errors import validation_error
from tenantry.auth.plugins.api_key.errors import KeyRefused, key_error
from tenantry.auth.plugins.api_key.gate import KeyGate
from tenantry.auth.plugins.api_key.scopes import Scopes, check_scopes, dump_scopes
from tenantry.auth.plugins.api_key.service import CREATE, DELETE, LIST, ApiKeys, NewKey
from tenantry.auth.plugins.api_key.store import SORTABLE
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import Current
from tenantry.auth.validate import boolean, js_type, string
from tenantry.context import Principal, RequestContext
from tenantry.db.codecs import utc_now
from tenantry.errors import ApiError
from tenantry.schema import Action

if TYPE_CHECKING:
    from tenantry.auth import Authentication
    from tenantry.core import App

PREFIX = re.compile(r"^[a-zA-Z0-9_-]+$")
# Better Auth refuses these from clients (they are set by server code): SERVER_ONLY_PROPERTY.
SERVER_ONLY_CREATE = ("refillAmount", "refillInterval", "rateLimitMax", "rateLimitTimeWindow", "rateLimitEnabled")
SERVER_ONLY_UPDATE = (*SERVER_ONLY_CREATE, "remaining")


def number(body: dict[str, Any], key: str, *, minimum: float | None = None) -> float | None:
    """A JSON number member (absent or null: None), zod's messages otherwise."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise validation_error(f"body.{key}", f"Invalid input: expected number, received {js_type(value)}")
    if minimum is not None and value < minimum:
        raise validation_error(f"body.{key}", f"Too small: expected number to be >={minimum:g}")
    return value


def query_count(query: dict[str, str], key: str) -> int | None:
    """``limit``/``offset``: a non-negative integer (coerced from the query string, as zod does)."""
    raw = query.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise validation_error(f"query.{key}", "Invalid input: expected number, received NaN") from None
    if value != int(value):
        raise validation_error(f"query.{key}", "Invalid input: expected int, received number")
    if value < 0:
        raise validation_error(f"query.{key}", "Too small: expected number to be >=0")
    return int(value)


class ApiKeyEndpoints:
    """The endpoints, bound to the plugin's service and gate."""

    def __init__(self, app: App, auth: Authentication, keys: ApiKeys, gate: KeyGate) -> None:
        self.app = app
        self.auth = auth
        self.keys = keys
        self.gate = gate

    def all(self) -> list[Endpoint]:
        return [
            Endpoint("POST", CREATE, self.create),
            Endpoint("GET", "/api-key/get", self.get),
            Endpoint("POST", "/api-key/update", self.update),
            Endpoint("POST", DELETE, self.delete),
            Endpoint("GET", LIST, self.list_keys),
            Endpoint("POST", "/api-key/verify", self.verify),
            Endpoint("POST", "/api-key/delete-all-expired-api-keys", self.delete_expired),
        ]

    async def _signed_in(self, req: AuthRequest) -> Current:
        """The session, or 401 UNAUTHORIZED_SESSION (create and update look it up themselves)."""
        current = await req.optional_session()
        if current is None:
            raise key_error(401, "UNAUTHORIZED_SESSION")
        return current

    def _scopes(self, body: dict[str, Any]) -> Scopes | None:
        value = body.get("permissions")
        return None if value is None else check_scopes(value, self.keys.entities)

    # -- POST /api-key/create ------------------------------------------------------------------

    async def create(self, req: AuthRequest) -> Reply:
        body = req.body
        name = string(body, "name", required=False)
        prefix = string(body, "prefix", required=False)
        if prefix is not None and not PREFIX.match(prefix):
            raise validation_error(
                "body.prefix",
                "Invalid prefix format, must be alphanumeric and contain only underscores and hyphens.",
            )
        expires_in = number(body, "expiresIn", minimum=1)
        remaining = number(body, "remaining", minimum=0)
        current = await self._signed_in(req)
        if any(k in body for k in SERVER_ONLY_CREATE) or remaining is not None:
            raise key_error(400, "SERVER_ONLY_PROPERTY")
        if "userId" in body:
            raise key_error(401, "UNAUTHORIZED_SESSION")
        scopes = self._scopes(body)
        if "organizationId" in body:
            organization_id = string(body, "organizationId", required=False)
        else:
            # The organization the user works in now (the session's active one, while a member).
            active = current.session.get("active_organization_id")
            organization_id = str(active) if active is not None and current.session.get("role") else None
        new = NewKey(
            name=name,
            prefix=prefix,
            expires_in=expires_in,
            scopes=scopes,
            metadata=body.get("metadata"),
            organization_id=organization_id,
        )
        key, raw = await self.keys.create(current.user.id, new, req.client)
        # The key itself, where Better Auth's row has its hash: the only time it is ever shown.
        answer: dict[str, Any] = {}
        for field, value in key.json().items():
            answer[field] = value
            if field == "prefix":
                answer["key"] = raw
        return Reply(answer)

    # -- GET /api-key/get ----------------------------------------------------------------------

    async def get(self, req: AuthRequest) -> Reply:
        current = await req.session()
        key_id = string(req.query, "id", where="query")
        assert key_id is not None
        return Reply((await self.keys.owned(current.user.id, key_id)).json())

    # -- POST /api-key/update ------------------------------------------------------------------

    async def update(self, req: AuthRequest) -> Reply:
        body = req.body
        key_id = string(body, "keyId")
        assert key_id is not None
        name = string(body, "name", required=False)
        enabled = boolean(body, "enabled")
        expires_in = number(body, "expiresIn", minimum=1)
        number(body, "remaining", minimum=1)
        current = await self._signed_in(req)
        user_id = body.get("userId")
        if user_id is not None and str(user_id) != str(current.user.id):
            raise key_error(401, "UNAUTHORIZED_SESSION")
        if any(k in body for k in SERVER_ONLY_UPDATE):
            raise key_error(400, "SERVER_ONLY_PROPERTY")
        await self.keys.owned(current.user.id, key_id)  # 404 before any check on the values
        changes: dict[str, Any] = {}
        if name is not None:
            if not name:
                raise key_error(400, "INVALID_NAME_LENGTH")
            self.keys.check_name(name)
            changes["name"] = name
        if enabled is not None:
            changes["enabled"] = enabled
        if "expiresIn" in body:
            self.keys.check_expires_in(expires_in)
            changes["expires_at"] = utc_now() + dt.timedelta(seconds=expires_in) if expires_in else None
        metadata = body.get("metadata")
        if "metadata" in body and self.keys.settings.enable_metadata:
            self.keys.check_metadata(metadata)
            changes["metadata"] = None if metadata is None else orjson.dumps(metadata).decode()
        if "permissions" in body:
            changes["permissions"] = dump_scopes(self._scopes(body))
        key = await self.keys.update(current.user.id, key_id, changes, req.client)
        return Reply(key.json())

    # -- POST /api-key/delete ------------------------------------------------------------------

    async def delete(self, req: AuthRequest) -> Reply:
        body = req.body
        key_id = string(body, "keyId")
        assert key_id is not None
        current = await req.session()
        await self.keys.revoke(current, key_id, req.client)
        return Reply({"success": True})

    # -- GET /api-key/list ---------------------------------------------------------------------

    async def list_keys(self, req: AuthRequest) -> Reply:
        current = await req.session()
        query = req.query
        limit = query_count(query, "limit")
        offset = query_count(query, "offset")
        sort_by = query.get("sortBy")
        if sort_by is not None and sort_by not in SORTABLE:
            raise validation_error("query.sortBy", f"Invalid option: expected one of {'|'.join(SORTABLE)}")
        direction = query.get("sortDirection")
        if direction is not None and direction not in ("asc", "desc"):
            raise validation_error("query.sortDirection", 'Invalid option: expected one of "asc"|"desc"')
        keys = await self.keys.of_user(
            current.user.id,
            organization_id=query.get("organizationId") or None,
            sort=sort_by,
            descending=direction == "desc",
        )
        total = len(keys)
        page = keys[offset or 0 :]
        if limit is not None:
            page = page[:limit]
        answer: dict[str, Any] = {"apiKeys": [k.json() for k in page], "total": total}
        if limit is not None:
            answer["limit"] = limit
        if offset is not None:
            answer["offset"] = offset
        return Reply(answer)

    # -- POST /api-key/verify ------------------------------------------------------------------

    async def verify(self, req: AuthRequest) -> Reply:
        body = req.body
        raw = string(body, "key")
        assert raw is not None
        wanted = body.get("permissions")
        if wanted is not None and not (
            isinstance(wanted, dict)
            and all(isinstance(v, list) and all(isinstance(a, str) for a in v) for v in wanted.values())
        ):
            raise validation_error("body.permissions", f"Invalid input: expected record, received {js_type(wanted)}")
        try:
            admitted = await self.gate.check(raw)
            if wanted is not None and not self._may(admitted.principal, wanted):
                raise KeyRefused(401, "KEY_NOT_FOUND")
            key = await self.gate.record(
                admitted, req.client, "POST", "/api/auth/api-key/verify", action="api_key_verify"
            )
        except KeyRefused as exc:
            return Reply({"valid": False, "error": exc.verify_body(), "key": None})
        return Reply({"valid": True, "error": None, "key": key.json()})

    def _may(self, principal: Principal, wanted: dict[str, list[str]]) -> bool:
        """Whether the key may take every requested action now: its scopes *and* its user's role
        (the same policy the CRUD API applies), so the answer matches what a request would get."""
        schema = self.app.schema
        policy = self.app.pipeline.policy
        ctx = RequestContext(principal)
        for resource, actions in wanted.items():
            entity = schema.entities.get(resource)
            if entity is None:
                return False
            for action in actions:
                try:
                    policy.authorize(ctx, entity, Action(action))
                except (ValueError, ApiError):
                    return False
        return True

    # -- POST /api-key/delete-all-expired-api-keys ---------------------------------------------

    async def delete_expired(self, req: AuthRequest) -> Reply:
        current = await req.session()
        await self.keys.delete_expired(current.user.id)
        return Reply({"success": True, "error": None})
