"""Pages of the two-factor plugin: the second sign-in step, the account section (turn on with a QR
code, new backup codes, turn off) and the organization's "require two-factor" setting.

Every form runs the ``/api/auth/two-factor/*`` endpoint's own handler (``bridge.call_auth``), so
the lockout, the audit rows and the cookies are exactly the API's.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote

import segno
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.two_factor import TwoFactorPlugin
from tenantry.auth.plugins.two_factor.codes import open_backup_codes, totp_uri
from tenantry.web.auth_pages import explain
from tenantry.web.bridge import Outcome, apply_cookies, call_auth
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect, safe_next

SECTION = "/settings/account/two-factor"
ORG_SECTION = "/settings/organization/two-factor"
METHODS = {
    "totp": "/two-factor/verify-totp",
    "otp": "/two-factor/verify-otp",
    "backup": "/two-factor/verify-backup-code",
}
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
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, title="QR code for your authenticator app"))


def _friendly(outcome: Outcome) -> str:
    return FRIENDLY.get(outcome.code or "", explain(outcome))


def routes(web: Web) -> list[BaseRoute]:
    """The two-factor plugin's pages."""
    runtime = web.runtime
    plugin = runtime.auth.plugin("two-factor")
    assert isinstance(plugin, TwoFactorPlugin) and plugin.service is not None and plugin.requirement is not None
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
        body = {"code": form.get("code", "").strip(), "trustDevice": "trust" in form}
        outcome = await call_auth(runtime, request, "POST", METHODS[method], body)
        if outcome.ok:
            return apply_cookies(runtime, outcome, redirect(target))
        if outcome.code == "INVALID_TWO_FACTOR_COOKIE":
            return flash(redirect(f"/login?from={quote(target, safe='')}"), _friendly(outcome), "error")
        status = outcome.error.status if outcome.error else 400
        return step_page(request, method, target, status, error=_friendly(outcome))

    @page(web)
    async def send_otp(request: Request) -> Response:
        form = await web.form(request)
        target = safe_next(form.get("from"))
        outcome = await call_auth(runtime, request, "POST", "/two-factor/send-otp", {})
        if not outcome.ok:
            if outcome.code == "INVALID_TWO_FACTOR_COOKIE":
                return flash(redirect(f"/login?from={quote(target, safe='')}"), _friendly(outcome), "error")
            return step_page(
                request, "otp", target, outcome.error.status if outcome.error else 400, error=_friendly(outcome)
            )
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
        if action == "enable":
            outcome = await call_auth(runtime, request, "POST", "/two-factor/enable", {"password": password})
            if not outcome.ok:
                return refused(outcome)
            return enrol_page(request, viewer, outcome.body["totpURI"], backup=outcome.body["backupCodes"])
        if action == "confirm":
            outcome = await call_auth(
                runtime, request, "POST", "/two-factor/verify-totp", {"code": form.get("code", "").strip()}
            )
            if outcome.ok:
                done = "Two-factor authentication is on. Keep your backup codes somewhere safe."
                return flash(apply_cookies(runtime, outcome, redirect("/settings/account")), done)
            # Show the same secret again: the enrolment is still waiting for its first code.
            enrolment = await service.store.of_user(viewer.current.user.id)
            if enrolment is None or enrolment.verified:
                return flash(redirect("/settings/account"), _friendly(outcome), "error")
            uri = totp_uri(service.totp_secret(enrolment, viewer.current.user), service.issuer, viewer.user["email"])
            status = outcome.error.status if outcome.error else 400
            return enrol_page(request, viewer, uri, status, error=_friendly(outcome))
        if action == "backup-codes":
            outcome = await call_auth(
                runtime, request, "POST", "/two-factor/generate-backup-codes", {"password": password}
            )
            if not outcome.ok:
                return refused(outcome)
            return web.render(request, "two_factor_codes.html", viewer, backup=outcome.body["backupCodes"])
        if action == "disable":
            outcome = await call_auth(runtime, request, "POST", "/two-factor/disable", {"password": password})
            if not outcome.ok:
                return refused(outcome)
            return flash(
                apply_cookies(runtime, outcome, redirect("/settings/account")), "Two-factor authentication is off."
            )
        raise Refused(404, "There is no such page.")

    def refused(outcome: Outcome) -> Response:
        # A refused form (a wrong password): back to the account page with the reason as a toast.
        return flash(redirect("/settings/account#two-factor"), _friendly(outcome), "error")

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
