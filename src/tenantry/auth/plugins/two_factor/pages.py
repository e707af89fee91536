"""Pages of the two-factor plugin: the second sign-in step, the account section (turn on with a QR
code, new backup codes, turn off) and the organization's "require two-factor" setting.

Every form calls ``TwoFactorService``, as the ``/api/auth/two-factor/*`` endpoints do, after the
API's guard for the same action, so the rate limits, the lockout, the audit rows and the cookies
are exactly the API's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.two_factor import service as steps
from tenantry.auth.plugins.two_factor.codes import open_backup_codes, totp_uri
from tenantry.auth.plugins.two_factor.service import Verified
from tenantry.web.auth_pages import explain
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect, refusal_code, safe_next

if TYPE_CHECKING:
    from tenantry.auth.plugins.two_factor import TwoFactorPlugin

SECTION = "/settings/account/two-factor"
ORG_SECTION = "/settings/organization/two-factor"
# The second step's methods and their actions.
METHODS = {"totp": steps.VERIFY_TOTP, "otp": steps.VERIFY_OTP, "backup": steps.VERIFY_BACKUP_CODE}
FRIENDLY = {
    "INVALID_CODE": "That code is not right. Check the time on your phone and try the newest code.",
    "INVALID_BACKUP_CODE": "That backup code is not right, or it was already used.",
    "ACCOUNT_TEMPORARILY_LOCKED": "Too many wrong codes. Sign-in is locked for a few minutes; try again later.",
    "OTP_HAS_EXPIRED": "That code has expired or was already used. Send a new one.",
    "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE": "Too many wrong tries for this code. Send a new one.",
    "INVALID_TWO_FACTOR_COOKIE": "This sign-in has expired. Enter your password again.",
    "INVALID_PASSWORD": "The password is not right.",
    "TOO_MANY_REQUESTS": "Too many attempts. Wait a moment and try again.",
}


def qr_svg(uri: str) -> str:
    """The ``otpauth://`` URI as an inline SVG QR code (made here: the secret never leaves the server)."""
    import segno  # loaded by the first two-factor set-up page, not by every worker

    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, title="QR code for your authenticator app"))


def _friendly(exc: AuthError) -> str:
    return FRIENDLY.get(refusal_code(exc), explain(exc))


def routes(web: Web, plugin: TwoFactorPlugin) -> list[BaseRoute]:
    """The two-factor plugin's pages."""
    runtime = web.runtime
    assert plugin.service is not None and plugin.requirement is not None
    service, requirement = plugin.service, plugin.requirement
    cast(list[str], web.env.globals["account_sections"]).append(SECTION)
    if runtime.tenancy is not None:
        cast(list[str], web.env.globals.setdefault("org_sections", [])).append(ORG_SECTION)

    # -- the second sign-in step --------------------------------------------------------------

    def step_page(request: Request, method: str, target: str, status: int = 200, **context: Any) -> Response:
        return web.render(request, "two_factor_verify.html", status=status, method=method, next=target, **context)

    @page(web)
    async def verify(request: Request) -> Response:
        if request.method == "GET":
            target = safe_next(request.query_params.get("from"))
            if await web.viewer(request) is not None:
                return redirect(target)
            if not service.cookies.read(request, service.cookies.two_factor):
                return redirect(f"/login?from={quote(target, safe='')}")
            method = request.query_params.get("method", "totp")
            return step_page(request, method if method in METHODS else "totp", target)
        form = await web.form(request)
        target = safe_next(form.get("from"))
        method = form.get("method", "totp")
        if method not in METHODS:
            method = "totp"
        code, trust = form.get("code", "").strip(), "trust" in form
        client = web.client(request)
        try:
            current = await web.session(request)
            await web.guard(request, METHODS[method], current=current)
            verified: Verified
            if method == "otp":
                verified = await service.verify_otp(current, client, code, trust)
            elif method == "backup":
                verified = await service.verify_backup_code(current, client, code, trust)
            else:
                verified = await service.verify_totp(current, client, code, trust)
        except AuthError as exc:
            if exc.code == "INVALID_TWO_FACTOR_COOKIE":
                return flash(redirect(f"/login?from={quote(target, safe='')}"), _friendly(exc), "error")
            return web.refusal(step_page(request, method, target, exc.status, error=_friendly(exc)), exc)
        return web.set_cookies(redirect(target), verified.cookies)

    @page(web)
    async def send_otp(request: Request) -> Response:
        form = await web.form(request)
        target = safe_next(form.get("from"))
        try:
            current = await web.session(request)
            await web.guard(request, steps.SEND_OTP, current=current)
            await service.send_otp(current, web.client(request))
        except AuthError as exc:
            if exc.code == "INVALID_TWO_FACTOR_COOKIE":
                return flash(redirect(f"/login?from={quote(target, safe='')}"), _friendly(exc), "error")
            return web.refusal(step_page(request, "otp", target, exc.status, error=_friendly(exc)), exc)
        return step_page(request, "otp", target, notice="We e-mailed you a six-digit code. It expires in 3 minutes.")

    # -- the account section ------------------------------------------------------------------

    async def section(request: Request, viewer: Viewer, error: str | None = None, status: int = 200) -> Response:
        enrolment = await service.store.of_user(viewer.current.user.id)
        return web.render(
            request,
            "_two_factor_section.html",
            viewer,
            status=status,
            enabled=bool(viewer.current.user.plugin.get("twoFactorEnabled")),
            totp=enrolment is not None and enrolment.verified,
            backup_left=len(open_backup_codes(enrolment.backup_codes)) if enrolment is not None else 0,
            error=error,
        )

    def enrol_page(request: Request, viewer: Viewer, uri: str, status: int = 200, **context: Any) -> Response:
        secret = uri.split("secret=", 1)[1].split("&", 1)[0]
        return web.render(
            request,
            "two_factor_enrol.html",
            viewer,
            status=status,
            qr=qr_svg(uri),
            secret=secret,
            uri=uri,
            **context,
        )

    async def account_action(request: Request, viewer: Viewer) -> Response:
        action = request.path_params["action"]
        form = await web.form(request)
        password = form.get("password", "")
        current, client = viewer.current, web.client(request)
        if action == "enable":
            try:
                await web.guard(request, steps.ENABLE, current=current)
                enabled = await service.enable(current, client, password, method="totp")
            except AuthError as exc:
                return refused(exc)
            assert enabled.totp_uri is not None
            return enrol_page(request, viewer, enabled.totp_uri, backup=enabled.backup_codes)
        if action == "confirm":
            try:
                await web.guard(request, steps.VERIFY_TOTP, current=current)
                verified = await service.verify_totp(current, client, form.get("code", "").strip(), False)
            except AuthError as exc:
                # Show the same secret again: the enrolment is still waiting for its first code.
                enrolment = await service.store.of_user(current.user.id)
                if enrolment is None or enrolment.verified:
                    return web.refusal(flash(redirect("/settings/account"), _friendly(exc), "error"), exc)
                uri = totp_uri(service.totp_secret(enrolment, current.user), service.issuer, viewer.user["email"])
                return web.refusal(enrol_page(request, viewer, uri, exc.status, error=_friendly(exc)), exc)
            done = "Two-factor authentication is on. Keep your backup codes somewhere safe."
            return flash(web.set_cookies(redirect("/settings/account"), verified.cookies), done)
        if action == "backup-codes":
            try:
                await web.guard(request, steps.GENERATE_BACKUP_CODES, current=current)
                backup = await service.generate_backup_codes(current, client, password)
            except AuthError as exc:
                return refused(exc)
            return web.render(request, "two_factor_codes.html", viewer, backup=backup)
        if action == "disable":
            try:
                await web.guard(request, steps.DISABLE, current=current)
                changes = await service.disable(current, client, password)
            except AuthError as exc:
                return refused(exc)
            return flash(web.set_cookies(redirect("/settings/account"), changes), "Two-factor authentication is off.")
        raise Refused(404, "There is no such page.")

    def refused(exc: AuthError) -> Response:
        # A refused form (a wrong password): back to the account page with the reason as a toast.
        return web.refusal(flash(redirect("/settings/account#two-factor"), _friendly(exc), "error"), exc)

    # -- the organization's requirement -------------------------------------------------------

    async def org_section(request: Request, viewer: Viewer) -> Response:
        org = viewer.active
        if org is None:
            raise Refused(404, "You have no active organization.")
        error = None
        if request.method == "POST":
            form = await web.form(request)
            try:
                await requirement.change(viewer.current, runtime.auth.ctx.client(request), org["id"], "require" in form)
            except AuthError as exc:
                error = (
                    "Turn on two-factor authentication for your own account first."
                    if exc.code == "TWO_FACTOR_REQUIRED"
                    else exc.message
                )
            if error is None:
                return flash(redirect("/settings/organization"), "Two-factor requirement saved.")
            return flash(redirect("/settings/organization"), error, "error")
        return web.render(
            request,
            "_two_factor_org.html",
            viewer,
            required=await service.store.organization_requires(org["id"]),
            can_change=await requirement.can_change(viewer.current, org["id"]),
        )

    signed = page(web, signed_in=True)
    return [
        Route("/two-factor", verify, methods=["GET", "POST"]),
        Route("/two-factor/send-otp", send_otp, methods=["POST"]),
        Route(SECTION, signed(section), methods=["GET"]),
        Route(SECTION + "/{action}", signed(account_action), methods=["POST"]),
        Route(ORG_SECTION, signed(org_section), methods=["GET", "POST"]),
    ]
