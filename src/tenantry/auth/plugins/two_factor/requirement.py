"""Organizations that require two-factor: the flag, who may set it, and the check on every request.

A member without two-factor gets 403 ``TWO_FACTOR_REQUIRED`` on the organization's data (the
CRUD API and everything else outside ``/api/auth``). Web pages send them to the account page to
turn it on instead; that page, the enrolment pages and switching organizations stay reachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.two_factor.errors import ERROR_CODES, two_factor_error
from tenantry.auth.plugins.two_factor.store import TwoFactorStore
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import ClientInfo, Current
from tenantry.auth.store import TWO_FACTOR_ATTRIBUTE
from tenantry.auth.validate import boolean, string
from tenantry.context import Principal
from tenantry.errors import ApiError
from tenantry.tenancy import Tenancy

if TYPE_CHECKING:
    from tenantry.auth import Authentication
    from tenantry.core import App

# Page paths where a member who still has to turn two-factor on is sent to do it.
WEB_PREFIXES = ("/app", "/dashboard", "/settings", "/notifications", "/accept-invitation")
# Pages they may use meanwhile: where to turn it on, and leaving for another organization.
WEB_ALLOWED = ("/settings/account", "/settings/two-factor", "/two-factor", "/organizations", "/sign-out")
ENROL_PAGE = "/settings/account?two_factor=required#two-factor"


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


class OrganizationRequirement:
    """The ``require_two_factor`` flag of organizations: checked on requests, set by admins."""

    def __init__(self, app: App, auth: Authentication, store: TwoFactorStore) -> None:
        self.app = app
        self.auth = auth
        self.store = store

    @property
    def tenancy(self) -> Tenancy | None:
        return self.app.find(Tenancy)

    async def check(self, request: Request, principal: Principal) -> Principal:
        """The ``principal_checks`` hook: refuse a member without two-factor where it is required."""
        if principal.kind != "user" or principal.org_id is None or principal.user_id is None:
            return principal
        found = principal.attributes.get(TWO_FACTOR_ATTRIBUTE)  # read with the session or key
        if found is None:
            found = await self.store.requirement(principal.user_id, principal.org_id)
        if found is None or not found[0] or found[1]:
            return principal
        path = request.url.path
        if _under(path, WEB_ALLOWED):
            return principal
        message = ERROR_CODES["TWO_FACTOR_REQUIRED"]
        if _under(path, WEB_PREFIXES):
            # The pages turn ``location`` into a redirect to where two-factor is turned on.
            raise ApiError(403, "TWO_FACTOR_REQUIRED", message, location=ENROL_PAGE)
        raise ApiError(403, "TWO_FACTOR_REQUIRED", message)

    async def can_change(self, current: Current, org_id: Any) -> bool:
        """Whether the session's user may change the organization's settings (its admins)."""
        tenancy = self.tenancy
        if tenancy is None:
            return False
        service = tenancy.organizations
        member = await service.store.member(None, org_id, current.user.id)
        return member is not None and service.allows(member["role"], {"organization": ["update"]})

    async def change(self, current: Current, client: ClientInfo, org_id: Any, required: bool) -> None:
        """Set the flag (admins only; turning it on needs two-factor on the admin's own account,
        so nobody locks themselves out of the organization they manage)."""
        if not await self.can_change(current, org_id):
            raise AuthError(
                403,
                "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
                "You are not allowed to update this organization",
            )
        if required and not current.user.plugin.get("twoFactorEnabled"):
            raise two_factor_error(403, "TWO_FACTOR_REQUIRED")
        ctx = self.auth.ctx
        async with ctx.db.transaction() as conn:
            before = await self.store.organization_requires(org_id, conn)
            if not await self.store.set_organization_requirement(conn, org_id, required):
                raise AuthError(400, "ORGANIZATION_NOT_FOUND", "Organization not found")
            await ctx.audit(
                conn,
                "two_factor_requirement",
                client,
                user_id=current.user.id,
                org_id=org_id,
                resource_type="organization",
                resource_id=org_id,
                old={"require_two_factor": before},
                new={"require_two_factor": required},
            )

    # -- endpoints ----------------------------------------------------------------------------

    @staticmethod
    def _organization(current: Current, given: str | None) -> Any:
        """The organization named in the request, else the session's active one."""
        org_id = given or current.session.get("active_organization_id")
        if not org_id:
            raise AuthError(400, "NO_ACTIVE_ORGANIZATION", "No active organization")
        return org_id

    async def get(self, req: AuthRequest) -> Reply:
        """``GET /two-factor/organization-requirement?organizationId=`` (members only)."""
        current = await req.session()
        org_id = self._organization(current, req.query.get("organizationId"))
        tenancy = self.tenancy
        member = await tenancy.organizations.store.member(None, org_id, current.user.id) if tenancy else None
        if member is None:
            raise AuthError(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION", "User is not a member of the organization")
        required = await self.store.organization_requires(org_id)
        return Reply({"organizationId": str(org_id), "requireTwoFactor": required})

    async def set(self, req: AuthRequest) -> Reply:
        """``POST /two-factor/organization-requirement {requireTwoFactor, organizationId?}`` (admins)."""
        current = await req.session()
        org_id = self._organization(current, string(req.body, "organizationId", required=False))
        required = boolean(req.body, "requireTwoFactor")
        if required is None:
            raise AuthError(
                400, "VALIDATION_ERROR", "[body.requireTwoFactor] Invalid input: expected boolean, received undefined"
            )
        await self.change(current, req.client, org_id, required)
        return Reply({"organizationId": str(org_id), "requireTwoFactor": required})

    def endpoints(self) -> tuple[Endpoint, ...]:
        return (
            Endpoint("GET", "/two-factor/organization-requirement", self.get),
            Endpoint("POST", "/two-factor/organization-requirement", self.set),
        )
