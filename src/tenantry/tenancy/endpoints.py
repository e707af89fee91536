"""``/api/auth/organization/*``: Better Auth's organization plugin over HTTP.

Each handler reads and checks its body or query as the plugin's zod schemas do (``[body.x] …``
400s), takes the session (401 without one) and calls ``OrganizationService``, which holds the
rules. ``install`` wires the service into an app: these endpoints, the sign-up hook and the CRUD
write listener.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast, get_args

from tenantry.auth.errors import AuthError, validation_error
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import Current
from tenantry.auth.validate import boolean, js_type, string
from tenantry.tenancy import service as actions
from tenantry.tenancy.service import MemberQuery, OrganizationService
from tenantry.tenancy.store import FilterOp

if TYPE_CHECKING:
    from tenantry.tenancy import Tenancy

PREFIX = "/organization"


def install(tenancy: Tenancy) -> OrganizationService:
    """The organization service of an app, its endpoints registered and its hooks in place."""
    service = OrganizationService(tenancy)
    runtime = tenancy.runtime
    runtime.auth.router.add(*ENDPOINTS)
    runtime.auth.ctx.on_sign_up = service.on_sign_up
    runtime.pipeline.listeners.append(service)
    return service


def _service(req: AuthRequest) -> OrganizationService:
    # Handlers are plain functions shared by every app; each request finds its app's service.
    service: OrganizationService = req.request.app.state.tenantry.tenancy.organizations
    return service


async def _call(req: AuthRequest) -> tuple[OrganizationService, Current]:
    return _service(req), await req.session()


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


async def create(req: AuthRequest) -> Reply:
    service, current = await _call(req)
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


async def check_slug(req: AuthRequest) -> Reply:
    service, _ = await _call(req)
    return Reply(await service.check_slug(_required(req.body, "slug")))


async def list_organizations(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    return Reply(await service.list_organizations(current))


async def set_active(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    body = req.body
    clear = "organizationId" in body and body["organizationId"] is None
    org_id = None if clear else string(body, "organizationId", required=False)
    slug = string(body, "organizationSlug", required=False)
    org, changed = await service.set_active(current, org_id, slug, clear=clear)
    if not changed:
        return Reply(org)
    # Better Auth re-issues the session cookie whenever the active organization is set.
    return Reply(org, set_session=(current.session["token"], current.dont_remember))


async def get_organization(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    org = await service.get_organization(current, _query(req, "organizationId"), _query(req, "organizationSlug"))
    return Reply(org)


async def get_full_organization(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    org = await service.full_organization(
        current,
        _query(req, "organizationId"),
        _query(req, "organizationSlug"),
        _int(_query(req, "membersLimit"), "membersLimit"),
    )
    return Reply(org)


async def update(req: AuthRequest) -> Reply:
    service = _service(req)
    current = await req.optional_session()
    if current is None:
        raise AuthError(401, None, "User not found")  # Better Auth's wording here
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


async def delete(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    return Reply(await service.delete_organization(current, _required(req.body, "organizationId")))


# -- members ------------------------------------------------------------------------------------


async def get_active_member(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    return Reply(await service.active_member(current))


async def get_active_member_role(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    role = await service.active_member_role(
        current, _query(req, "userId"), _query(req, "organizationId"), _query(req, "organizationSlug")
    )
    return Reply(role)


_FILTER_OPS = frozenset(get_args(FilterOp))


async def list_members(req: AuthRequest) -> Reply:
    service, current = await _call(req)
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


async def remove_member(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    target = _required(req.body, "memberIdOrEmail")
    organization_id = string(req.body, "organizationId", required=False)
    return Reply(await service.remove_member(current, target, organization_id))


async def update_member_role(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    body = req.body
    if body.get("role") is None:
        raise validation_error("body.role", "Invalid input")
    role = service.parse_role(body["role"])
    member_id = _required(body, "memberId")
    organization_id = string(body, "organizationId", required=False)
    return Reply(await service.update_member_role(current, member_id, role, organization_id))


async def leave(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    return Reply(await service.leave(current, _required(req.body, "organizationId")))


async def has_permission(req: AuthRequest) -> Reply:
    service, current = await _call(req)
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


async def invite_member(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    body = req.body
    address = _required(body, "email")
    if body.get("role") is None:
        raise validation_error("body.role", "Invalid input")
    role = service.parse_role(body["role"])
    organization_id = string(body, "organizationId", required=False)
    resend = boolean(body, "resend")
    invitation = await service.invite(current, address, role, organization_id, resend=bool(resend))
    return Reply(invitation)


async def accept_invitation(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    return Reply(await service.accept_invitation(current, _required(req.body, "invitationId")))


async def reject_invitation(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    return Reply(await service.reject_invitation(current, _required(req.body, "invitationId")))


async def cancel_invitation(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    return Reply(await service.cancel_invitation(current, _required(req.body, "invitationId")))


async def get_invitation(req: AuthRequest) -> Reply:
    service = _service(req)
    invitation_id = _required(req.query, "id", where="query")
    current = await req.optional_session()
    if current is None:
        raise AuthError(401, None, "Not authenticated")
    return Reply(await service.get_invitation(current, invitation_id))


async def list_invitations(req: AuthRequest) -> Reply:
    service, current = await _call(req)
    return Reply(await service.list_invitations(current, _query(req, "organizationId")))


async def list_user_invitations(req: AuthRequest) -> Reply:
    service = _service(req)
    if req.query.get("email"):
        raise AuthError(400, None, "User email cannot be passed for client side API calls.")
    current = await req.optional_session()
    if current is None:
        raise AuthError(400, None, "Missing session headers, or email query parameter.")
    return Reply(await service.list_user_invitations(current))


ENDPOINTS = (
    Endpoint("POST", actions.CREATE, create),
    Endpoint("POST", f"{PREFIX}/check-slug", check_slug),
    Endpoint("GET", f"{PREFIX}/list", list_organizations),
    Endpoint("POST", actions.SET_ACTIVE, set_active),
    Endpoint("GET", f"{PREFIX}/get-organization", get_organization),
    Endpoint("GET", f"{PREFIX}/get-full-organization", get_full_organization),
    Endpoint("POST", f"{PREFIX}/update", update),
    Endpoint("POST", f"{PREFIX}/delete", delete),
    Endpoint("GET", f"{PREFIX}/get-active-member", get_active_member),
    Endpoint("GET", f"{PREFIX}/get-active-member-role", get_active_member_role),
    Endpoint("GET", f"{PREFIX}/list-members", list_members),
    Endpoint("POST", actions.REMOVE_MEMBER, remove_member),
    Endpoint("POST", actions.UPDATE_MEMBER_ROLE, update_member_role),
    Endpoint("POST", f"{PREFIX}/leave", leave),
    Endpoint("POST", f"{PREFIX}/has-permission", has_permission),
    Endpoint("POST", actions.INVITE_MEMBER, invite_member),
    Endpoint("POST", actions.ACCEPT_INVITATION, accept_invitation),
    Endpoint("POST", actions.REJECT_INVITATION, reject_invitation),
    Endpoint("POST", actions.CANCEL_INVITATION, cancel_invitation),
    Endpoint("GET", f"{PREFIX}/get-invitation", get_invitation),
    Endpoint("GET", f"{PREFIX}/list-invitations", list_invitations),
    Endpoint("GET", f"{PREFIX}/list-user-invitations", list_user_invitations),
)
