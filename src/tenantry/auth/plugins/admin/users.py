"""``/admin/list-users``, ``get-user``, ``create-user``, ``update-user``, ``set-role``,
``remove-user``, ``set-user-password`` and ``has-permission``: Better Auth's bodies, answers and
error codes. Every change is one transaction with its audit row."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tenantry.auth.errors import AuthError, auth_error, validation_error
from tenantry.auth.passwords import hash_password_async
from tenantry.auth.plugins.admin import service
from tenantry.auth.plugins.admin.access import has_permission, valid_permissions
from tenantry.auth.plugins.admin.common import (
    admin_user_json,
    audit_user,
    is_impersonation,
    platform_role,
    require_admin,
    target_user,
    user_id,
)
from tenantry.auth.plugins.admin.fields import role_name
from tenantry.auth.plugins.admin.queries import (
    FILTER_OPERATORS,
    SEARCH_FIELDS,
    SEARCH_OPERATORS,
    UserQuery,
)
from tenantry.auth.plugins.admin.service import role_value
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.services.email_password import CREDENTIAL, credential_account
from tenantry.auth.store import new_user_core
from tenantry.auth.validate import boolean, is_email, js_type, string
from tenantry.db.errors import IntegrityViolation

BAN_KEYS = ("banned", "banReason", "banExpires")


def _enum(query: dict[str, str], key: str, allowed: tuple[str, ...]) -> str | None:
    value = query.get(key)
    if value is not None and value not in allowed:
        options = "|".join(f'"{a}"' for a in allowed)
        raise validation_error(f"query.{key}", f"Invalid option: expected one of {options}")
    return value


# Bigger pages or offsets than any database holds rows: clamped rather than overflowing a column.
MOST_ROWS = 2**53


def _number(value: str | None) -> int | None:
    # Better Auth: ``Number(x) || undefined`` (so 0, "", "abc" and NaN mean "not given").
    try:
        number = int(float(value)) if value is not None else 0
    except (ValueError, OverflowError):
        return None
    return max(-MOST_ROWS, min(number, MOST_ROWS)) or None


async def list_users(req: AuthRequest) -> Reply:
    current = await require_admin(req, "user", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")
    q = req.query
    search_field = _enum(q, "searchField", SEARCH_FIELDS) or "email"
    search_operator = _enum(q, "searchOperator", SEARCH_OPERATORS) or "contains"
    filter_operator = _enum(q, "filterOperator", FILTER_OPERATORS) or "eq"
    sort_direction = _enum(q, "sortDirection", ("asc", "desc")) or "asc"
    limit, offset = _number(q.get("limit")), _number(q.get("offset"))
    # A repeated filterValue is a list (``in``/``not_in``).
    filter_values = req.request.query_params.getlist("filterValue")
    query = UserQuery(
        search_value=q.get("searchValue") or None,
        search_field=search_field,
        search_operator=search_operator,
        filter_field=q.get("filterField") or "email",
        filter_value=(filter_values if len(filter_values) > 1 else filter_values[0]) if filter_values else None,
        filter_operator=filter_operator,
        sort_by=q.get("sortBy") or None,
        sort_direction=sort_direction,
        limit=limit if limit is None or limit > 0 else None,
        offset=offset if offset is None or offset > 0 else None,
    )
    found = await service.list_users(req.ctx, current, query)
    body: dict[str, Any] = {"users": found.users, "total": found.total}
    if found.runnable:  # Better Auth answers a query it cannot run with the bare empty list
        if limit is not None:
            body["limit"] = limit
        if offset is not None:
            body["offset"] = offset
    return Reply(body)


async def get_user(req: AuthRequest) -> Reply:
    current = await require_admin(req, "user", "get", "YOU_ARE_NOT_ALLOWED_TO_GET_USER")
    raw = string(req.query, "id", where="query")
    assert raw is not None
    return Reply(await service.get_user(req.ctx, current, raw))


async def create_user(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    current = await require_admin(req, "user", "create", "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS")
    address = string(body, "email")
    name = string(body, "name")
    password = string(body, "password", required=False)
    assert address is not None and name is not None
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise validation_error("body.data", f"Invalid input: expected record, received {js_type(data)}")
    requested = body.get("role", data.get("role"))
    role = role_value(requested) if requested is not None else "user"
    address = address.lower()
    if not is_email(address):
        raise auth_error(400, "INVALID_EMAIL")
    if password and len(password) > ctx.auth.max_password_length:
        raise auth_error(400, "PASSWORD_TOO_LONG")
    ctx.check_fits("name", name)
    verified = boolean(data, "emailVerified") or False
    additional = ctx.shapes.additional_input(data)
    if await ctx.store.user_by_email(address) is not None:
        raise auth_error(400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
    hashed = await hash_password_async(password) if password else None
    try:
        async with ctx.db.transaction() as conn:
            user = await ctx.store.create_user(conn, new_user_core(name, address, verified=verified), additional)
            updated = await ctx.store.update_user(conn, user.id, {role_name(ctx.tables): role})
            user = updated or user
            if hashed is not None:
                await ctx.store.create_account(conn, user.id, CREDENTIAL, str(user.id), password=hashed)
            created = {**audit_user(user), "role": role, "method": "admin"}
            await ctx.audit(
                conn, "admin_user_create", req.client, session=current.session, resource_id=user.id, new=created
            )
    except IntegrityViolation:  # a concurrent sign-up took the address
        raise auth_error(400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL") from None
    return Reply({"user": admin_user_json(ctx, user)})


async def update_user(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    current = await require_admin(req, "user", "update", "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS")
    target_id = user_id(body)
    data = body.get("data")
    if not isinstance(data, dict):
        received = "undefined" if data is None else js_type(data)
        raise validation_error("body.data", f"Invalid input: expected record, received {received}")
    if not data:
        raise auth_error(400, "NO_DATA_TO_UPDATE")
    if "password" in data:
        raise auth_error(400, "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER")
    if "id" in data:
        raise auth_error(400, "USER_ID_CANNOT_BE_UPDATED")
    changes: dict[str, Any] = {}
    if "role" in data:
        changes[role_name(ctx.tables)] = role_value(data["role"])
    if any(k in data for k in BAN_KEYS):
        if data.get("banned") is True and target_id == str(current.user.id):
            raise auth_error(400, "YOU_CANNOT_BAN_YOURSELF")
        changes.update(_ban_changes(data))
    if "email" in data:
        address = str(data["email"]).lower()
        if not is_email(address):
            raise auth_error(400, "INVALID_EMAIL")
        existing = await ctx.store.user_by_email(address)
        if existing is not None and str(existing.id) != target_id:
            raise auth_error(400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
        changes["email"] = address
    if "emailVerified" in data:
        changes["emailVerified"] = bool(boolean(data, "emailVerified"))
    for key in ("name", "image"):
        if key in data:
            value = string(data, key, required=False, where="body.data")
            ctx.check_fits(key, value)
            changes[key] = value
    changes.update(ctx.shapes.additional_input(data))
    user = await target_user(ctx, target_id)
    changes["updatedAt"] = dt.datetime.now(dt.UTC)
    try:
        async with ctx.db.transaction() as conn:
            updated = await ctx.store.update_user(conn, user.id, changes)
            if updated is None:
                raise auth_error(404, "USER_NOT_FOUND")
            if changes.get("banned") is True:
                await ctx.store.delete_sessions_of(conn, user.id)
            before = {**audit_user(user), **{k: _plain(v) for k, v in user.plugin.items()}, **user.core}
            after = {k: _plain(v) for k, v in changes.items() if k != "updatedAt"}
            await ctx.audit(
                conn,
                "admin_user_update",
                req.client,
                session=current.session,
                resource_id=user.id,
                old={k: _plain(before.get(k)) for k in after},
                new=after,
            )
    except IntegrityViolation:
        raise auth_error(400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL") from None
    return Reply(admin_user_json(ctx, updated))


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _ban_changes(data: dict[str, Any]) -> dict[str, Any]:
    """``banned``/``banReason``/``banExpires`` from an update-user body, typed."""
    out: dict[str, Any] = {}
    if "banned" in data:
        out["banned"] = bool(boolean(data, "banned"))
    if "banReason" in data:
        out["banReason"] = string(data, "banReason", required=False, where="body.data")
    if "banExpires" in data:
        raw = data["banExpires"]
        if raw is None:
            out["banExpires"] = None
        else:
            try:
                expires = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            except ValueError:
                raise validation_error("body.data.banExpires", "Invalid input: expected date") from None
            out["banExpires"] = expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)
    return out


async def set_role(req: AuthRequest) -> Reply:
    body = req.body
    current = await require_admin(req, "user", "set-role", "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")
    target_id = user_id(body)
    if "role" not in body:
        raise validation_error("body.role", "Invalid input")
    role = role_value(body["role"])
    return Reply({"user": await service.set_role(req.ctx, req.client, current, target_id, role)})


async def remove_user(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    current = await require_admin(req, "user", "delete", "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS")
    target_id = user_id(body)
    if target_id == str(current.user.id):
        raise auth_error(400, "YOU_CANNOT_REMOVE_YOURSELF")
    user = await target_user(ctx, target_id)
    try:
        async with ctx.db.transaction() as conn:
            await ctx.store.delete_sessions_of(conn, user.id)
            await ctx.store.delete_user(conn, user.id)  # accounts go with it (ON DELETE CASCADE)
            await ctx.audit(
                conn,
                "admin_user_remove",
                req.client,
                session=current.session,
                resource_id=user.id,
                old=audit_user(user),
            )
    except IntegrityViolation:
        raise AuthError(
            409, "USER_HAS_REFERENCES", "This account still owns records; transfer or delete them first"
        ) from None
    return Reply({"success": True})


async def set_user_password(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    current = await require_admin(req, "user", "set-password", "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD")
    password = string(body, "newPassword")
    if not password:
        raise validation_error("body.newPassword", "newPassword cannot be empty")
    target_id = user_id(body)
    if not target_id:
        raise validation_error("body.userId", "userId cannot be empty")
    ctx.check_password_length(password)
    user = await target_user(ctx, target_id)
    hashed = await hash_password_async(password)
    async with ctx.db.transaction() as conn:
        account = credential_account(await ctx.store.accounts_of(user.id, conn))
        if account is not None:
            await ctx.store.update_account(conn, account["id"], password=hashed)
        else:
            await ctx.store.create_account(conn, user.id, CREDENTIAL, str(user.id), password=hashed)
        await ctx.audit(conn, "admin_set_password", req.client, session=current.session, resource_id=user.id)
    return Reply({"status": True})


async def user_has_permission(req: AuthRequest) -> Reply:
    body = req.body
    permissions = body.get("permissions")
    if not permissions:
        raise AuthError(400, None, "invalid permission check. no permission(s) were passed.")
    if not valid_permissions(permissions):
        raise validation_error("body.permissions", "Invalid input: expected record")
    current = await req.session()
    # As Better Auth: with a session, the caller's own role decides (``userId``/``role`` are for servers).
    role = None if is_impersonation(current) else platform_role(req.ctx, current.user)
    return Reply({"error": None, "success": has_permission(role, permissions)})


ENDPOINTS = (
    Endpoint("GET", service.LIST_USERS, list_users),
    Endpoint("GET", service.GET_USER, get_user),
    Endpoint("POST", "/admin/create-user", create_user),
    Endpoint("POST", "/admin/update-user", update_user),
    Endpoint("POST", service.SET_ROLE, set_role),
    Endpoint("POST", "/admin/remove-user", remove_user),
    Endpoint("POST", "/admin/set-user-password", set_user_password),
    Endpoint("POST", "/admin/has-permission", user_has_permission),
)
