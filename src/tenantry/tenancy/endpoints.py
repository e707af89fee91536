"""``/api/auth/organization/*``: Better Auth's organization plugin over HTTP.

Each handler reads and checks its body or query as the plugin's zod schemas do (``[body.x] …``
400s), takes the session (401 without one) and calls ``OrganizationService``, which holds the
rules. ``endpoints(service)`` binds every handler to one app's service.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, cast, get_args

from tenantry.auth.errors import AuthError, validation_error
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.validate import boolean, js_type, string
from tenantry.tenancy import service as actions
from tenantry.tenancy.service import MemberQuery, OrganizationService
from tenantry.tenancy.store import FilterOp

Handler = Callable[[OrganizationService, AuthRequest], Awaitable[Reply]]

PREFIX = "/organization"


def _required(body: dict[str, Any], key: str, where: str = "body") -> str:
    value = string(body, key, where=where)
    assert value is not None
    return value


def _non_empty(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = string(body, key, required=required)
    if value is not None and not value:
        raise validation_error(f"body.{key}", "Too small: expected string to have >=1 characters")
    return value


def _record(body: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise validation_error(f"body.{key}", f"Invalid input: expected record, received {js_type(value)}")
    return value


def _query(req: AuthRequest, key: str) -> str | None:
    return req.query.get(key) or None


def _int(value: str | None, key: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise validation_error(f"query.{key}", "Invalid input: expected number, received NaN") from None
    if number < 0:
        raise validation_error(f"query.{key}", "Too small: expected number to be >=0")
    return number


# -- organizations ------------------------------------------------------------------------------


async def create(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    body = req.body
    name = _non_empty(body, "name")
    assert name is not None
    slug = _non_empty(body, "slug", required=False)
    logo = string(body, "logo", required=False)
    metadata = _record(body, "metadata")
    keep = boolean(body, "keepCurrentActiveOrganization")
    extra = {k: body[k] for k in service.writable_extra if k in body}
    org = await service.create_organization(
        current, name=name, slug=slug, logo=logo, metadata=metadata, extra=extra, keep_current_active=bool(keep)
    )
    return Reply(org)


async def check_slug(service: OrganizationService, req: AuthRequest) -> Reply:
    await req.session()
    return Reply(await service.check_slug(_required(req.body, "slug")))


async def list_organizations(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    return Reply(await service.list_organizations(current))


async def set_active(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    body = req.body
    clear = "organizationId" in body and body["organizationId"] is None
    org_id = None if clear else string(body, "organizationId", required=False)
    slug = string(body, "organizationSlug", required=False)
    org, changed = await service.set_active(current, org_id, slug, clear=clear)
    if not changed:
        return Reply(org)
    # Better Auth re-issues the session cookie whenever the active organization is set.
    return Reply(org, set_session=(current.session["token"], current.dont_remember))


async def get_organization(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    org = await service.get_organization(current, _query(req, "organizationId"), _query(req, "organizationSlug"))
    return Reply(org)


async def get_full_organization(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    org = await service.full_organization(
        current,
        _query(req, "organizationId"),
        _query(req, "organizationSlug"),
        _int(_query(req, "membersLimit"), "membersLimit"),
    )
    return Reply(org)


async def update(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.optional_session()
    if current is None:
        raise AuthError(401, "USER_NOT_FOUND", "User not found")  # Better Auth's wording here
    data = _record(req.body, "data", required=True)
    assert data is not None
    organization_id = string(req.body, "organizationId", required=False)
    changes: dict[str, Any] = {}
    for key in ("name", "slug"):
        if key in data and data[key] is not None:
            changes[key] = _non_empty(data, key)
    if "logo" in data:
        changes["logo"] = string(data, "logo", required=False, where="body.data")
    if "metadata" in data:
        changes["metadata"] = _record(data, "metadata")
    changes.update({k: data[k] for k in service.writable_extra if k in data})
    return Reply(await service.update_organization(current, changes, organization_id))


async def delete(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    return Reply(await service.delete_organization(current, _required(req.body, "organizationId")))


# -- members ------------------------------------------------------------------------------------


async def get_active_member(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    return Reply(await service.active_member(current))


async def get_active_member_role(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    role = await service.active_member_role(
        current, _query(req, "userId"), _query(req, "organizationId"), _query(req, "organizationSlug")
    )
    return Reply(role)


_FILTER_OPS = frozenset(get_args(FilterOp))


async def list_members(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    direction = _query(req, "sortDirection")
    if direction not in (None, "asc", "desc"):
        raise validation_error("query.sortDirection", 'Invalid option: expected one of "asc"|"desc"')
    operator = _query(req, "filterOperator") or "eq"
    if operator not in _FILTER_OPS:
        raise AuthError(400, "BAD_REQUEST", f"Filter operator {operator} is not supported here")
    query = MemberQuery(
        limit=_int(_query(req, "limit"), "limit") or 100,
        offset=_int(_query(req, "offset"), "offset") or 0,
        sort_by=_query(req, "sortBy"),
        descending=direction == "desc",
        filter_field=_query(req, "filterField"),
        filter_op=cast(FilterOp, operator),
        filter_value=req.query.get("filterValue"),
    )
    result = await service.list_members(current, query, _query(req, "organizationId"), _query(req, "organizationSlug"))
    return Reply(result)


async def remove_member(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    target = _required(req.body, "memberIdOrEmail")
    organization_id = string(req.body, "organizationId", required=False)
    return Reply(await service.remove_member(current, target, organization_id))


async def update_member_role(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    body = req.body
    if body.get("role") is None:
        raise validation_error("body.role", "Invalid input")
    role = service.parse_role(body["role"])
    member_id = _required(body, "memberId")
    organization_id = string(body, "organizationId", required=False)
    return Reply(await service.update_member_role(current, member_id, role, organization_id))


async def leave(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    return Reply(await service.leave(current, _required(req.body, "organizationId")))


async def has_permission(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    body = req.body
    given = [k for k in ("permissions", "permission") if body.get(k) is not None]
    if len(given) != 1:
        raise validation_error("body", "Invalid input: give exactly one of permissions, permission")
    raw = body[given[0]]
    if not isinstance(raw, dict) or not all(
        isinstance(v, list) and all(isinstance(a, str) for a in v) for v in raw.values()
    ):
        raise validation_error(f"body.{given[0]}", "Invalid input: expected record of string arrays")
    organization_id = string(body, "organizationId", required=False)
    return Reply(await service.has_permission(current, raw, organization_id))


# -- invitations --------------------------------------------------------------------------------


async def invite_member(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    body = req.body
    address = _required(body, "email")
    if body.get("role") is None:
        raise validation_error("body.role", "Invalid input")
    role = service.parse_role(body["role"])
    organization_id = string(body, "organizationId", required=False)
    resend = boolean(body, "resend")
    invitation = await service.invite(current, address, role, organization_id, resend=bool(resend))
    return Reply(invitation)


async def accept_invitation(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    return Reply(await service.accept_invitation(current, _required(req.body, "invitationId")))


async def reject_invitation(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    return Reply(await service.reject_invitation(current, _required(req.body, "invitationId")))


async def cancel_invitation(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    return Reply(await service.cancel_invitation(current, _required(req.body, "invitationId")))


async def get_invitation(service: OrganizationService, req: AuthRequest) -> Reply:
    invitation_id = _required(req.query, "id", where="query")
    current = await req.optional_session()
    if current is None:
        # Better Auth's words here, with the code of its session check for the same situation.
        raise AuthError(401, "UNAUTHORIZED", "Not authenticated")
    return Reply(await service.get_invitation(current, invitation_id))


async def list_invitations(service: OrganizationService, req: AuthRequest) -> Reply:
    current = await req.session()
    return Reply(await service.list_invitations(current, _query(req, "organizationId")))


async def list_user_invitations(service: OrganizationService, req: AuthRequest) -> Reply:
    if req.query.get("email"):
        raise AuthError(400, None, "User email cannot be passed for client side API calls.")
    current = await req.optional_session()
    if current is None:
        raise AuthError(400, None, "Missing session headers, or email query parameter.")
    return Reply(await service.list_user_invitations(current))


HANDLERS: tuple[tuple[str, str, Handler], ...] = (
    ("POST", actions.CREATE, create),
    ("POST", f"{PREFIX}/check-slug", check_slug),
    ("GET", f"{PREFIX}/list", list_organizations),
    ("POST", actions.SET_ACTIVE, set_active),
    ("GET", f"{PREFIX}/get-organization", get_organization),
    ("GET", f"{PREFIX}/get-full-organization", get_full_organization),
    ("POST", f"{PREFIX}/update", update),
    ("POST", f"{PREFIX}/delete", delete),
    ("GET", f"{PREFIX}/get-active-member", get_active_member),
    ("GET", f"{PREFIX}/get-active-member-role", get_active_member_role),
    ("GET", f"{PREFIX}/list-members", list_members),
    ("POST", actions.REMOVE_MEMBER, remove_member),
    ("POST", actions.UPDATE_MEMBER_ROLE, update_member_role),
    ("POST", f"{PREFIX}/leave", leave),
    ("POST", f"{PREFIX}/has-permission", has_permission),
    ("POST", actions.INVITE_MEMBER, invite_member),
    ("POST", actions.ACCEPT_INVITATION, accept_invitation),
    ("POST", actions.REJECT_INVITATION, reject_invitation),
    ("POST", actions.CANCEL_INVITATION, cancel_invitation),
    ("GET", f"{PREFIX}/get-invitation", get_invitation),
    ("GET", f"{PREFIX}/list-invitations", list_invitations),
    ("GET", f"{PREFIX}/list-user-invitations", list_user_invitations),
)


def endpoints(service: OrganizationService) -> list[Endpoint]:
    """Better Auth's ``/organization/*`` endpoints, answered by ``service``."""
    return [Endpoint(method, path, functools.partial(handler, service)) for method, path, handler in HANDLERS]
