"""Sign-in, sign-up (with an organization or through an invitation), e-mail verification,
password reset, sign-out and invitation acceptance: each form passes the API's guard for its
action and calls the service the ``/api/auth`` endpoint calls."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.errors import AuthError
from tenantry.auth.providers import providers_for
from tenantry.auth.services import email_password, sessions, social
from tenantry.auth.services import user as accounts
from tenantry.db.codecs import utc_now
from tenantry.tenancy import service as organizations
from tenantry.web.core import (
    Refused,
    Viewer,
    Web,
    attempt,
    flash,
    page,
    redirect,
    refusal_code,
    refused_status,
    safe_next,
    wait_text,
)

# Messages a person can act on, for the codes a form can meet; others show the endpoint's message.
FRIENDLY = {
    "INVALID_EMAIL_OR_PASSWORD": "That e-mail and password do not match an account.",
    "PASSWORD_TOO_SHORT": "The password is too short.",
    "PASSWORD_TOO_LONG": "The password is too long.",
    "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL": "An account with this e-mail already exists. Sign in instead.",
    "INVALID_TOKEN": "This link is invalid or was already used. Request a new one.",
    "TOKEN_EXPIRED": "This link has expired. Request a new one.",
    "INVITATION_NOT_FOUND": "This invitation does not exist, has expired, or was already used.",
    "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION": "Use the e-mail address the invitation was sent to.",
}
_FIELD = re.compile(r"^\[body\.(\w+)\]\s*(.*)$")


def explain(exc: AuthError) -> str:
    """A refusal in words a person can act on (the API's message when there are none better)."""
    code = refusal_code(exc)
    if code == "TOO_MANY_REQUESTS":
        return f"Too many attempts. Try again in {wait_text(exc)}."
    return FRIENDLY.get(code, exc.message)


def field_errors(exc: AuthError, fields: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Split a refusal into per-field messages (``fields`` maps API body keys to form names)."""
    code = exc.code or ""
    if code.startswith("PASSWORD_TOO") and "password" in fields.values():
        return {"password": explain(exc)}, None
    if code == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL":
        return {"email": explain(exc)}, None
    match = _FIELD.match(exc.message)
    if match and match.group(1) in fields:
        return {fields[match.group(1)]: match.group(2) or "Invalid value"}, None
    return {}, explain(exc)


def auth_routes(web: Web) -> list[BaseRoute]:
    runtime = web.runtime
    ctx = runtime.auth.ctx
    min_password = ctx.auth.min_password_length

    def providers() -> list[tuple[str, str]]:
        return [(pid, getattr(p, "name", pid)) for pid, p in providers_for(ctx.auth).items()]

    def login_page(request: Request, status: int = 200, **context: Any) -> Response:
        context.setdefault("email", request.query_params.get("email", ""))
        context.setdefault("next", safe_next(request.query_params.get("from")))
        if request.query_params.get("verified") and "notice" not in context:
            context["notice"] = "Your e-mail address is verified. Sign in to continue."
        if request.query_params.get("error") and "error" not in context:
            code = request.query_params["error"]
            context["error"] = FRIENDLY.get(code, f"That did not work ({code}).")
        return web.render(request, "login.html", status=status, providers=providers(), **context)

    @page(web)
    async def login(request: Request) -> Response:
        if request.method == "GET":
            if await web.viewer(request) is not None:
                return redirect(safe_next(request.query_params.get("from")))
            return login_page(request)
        form = await web.form(request)
        target = safe_next(form.get("from"))
        address = form.get("email", "")
        # Where the verification link sent to an unverified address leads (only used then).
        verified = "/login?verified=1"
        try:
            await web.guard(request, email_password.SIGN_IN, urls={"callbackURL": verified})
            signed_in = await email_password.sign_in(
                ctx,
                web.client(request),
                email=address,
                password=form.get("password", ""),
                remember="remember" in form,
                callback_url=verified,
            )
        except AuthError as exc:
            if exc.code == "EMAIL_NOT_VERIFIED":
                return login_page(request, 403, email=address, next=target, unverified=True)
            return web.refusal(login_page(request, exc.status, email=address, next=target, error=explain(exc)), exc)
        if signed_in.second_step is not None:
            # The password was right; the two-factor page asks for the second step.
            target = f"/two-factor?from={quote(target, safe='')}"
        return web.set_cookies(redirect(target), signed_in.cookies)

    @page(web)
    async def login_social(request: Request) -> Response:
        form = await web.form(request)
        target = safe_next(form.get("from"))
        flow = social.SocialStart(callback_url=target, error_callback_url="/login")
        try:
            await web.guard(request, social.SIGN_IN_SOCIAL, urls={"callbackURL": target, "errorCallbackURL": "/login"})
            provider = social.required_provider(ctx, form.get("provider", ""))
            authorization = await social.start(ctx, provider, flow)
        except AuthError as exc:
            error = explain(exc) or "That provider is not available."
            return web.refusal(login_page(request, 400, next=target, error=error), exc)
        return web.set_cookies(redirect(authorization.url), authorization.cookies)

    async def invitation_facts(invitation_id: str) -> dict[str, Any] | None:
        """A usable invitation with its organization's name, for the invitation and sign-up pages."""
        tenancy = runtime.tenancy
        if tenancy is None or not invitation_id:
            return None
        service = tenancy.organizations
        invitation = await service.store.invitation(None, invitation_id)
        if invitation is None or invitation["status"] != "pending" or invitation["expires_at"] < utc_now():
            return None
        org = await service.store.organization(None, org_id=invitation["organization_id"])
        inviter = await service.store.member(None, invitation["organization_id"], invitation["inviter_id"])
        return {
            "id": invitation["id"],
            "email": invitation["email"],
            "role": invitation["role"],
            "organization_name": org.get("name") if org else "an organization",
            "inviter": inviter["user"]["email"] if inviter else None,
        }

    @page(web)
    async def signup(request: Request) -> Response:
        if request.method == "GET":
            invitation = await invitation_facts(request.query_params.get("invitation", ""))
            values = {"email": invitation["email"]} if invitation else {}
            return web.render(
                request,
                "signup.html",
                values=values,
                errors={},
                invitation=invitation,
                min_password=min_password,
            )
        form = await web.form(request)
        invitation = await invitation_facts(form.get("invitation_id", "")) if form.get("invitation_id") else None
        name = form.get("name", "").strip()
        address = form.get("email", "").strip()
        password = form.get("password", "")
        verified = "/login?verified=1"
        # What the organizations' sign-up hook reads: found one, or join through the invitation.
        joining: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if invitation is not None:
            joining["invitationId"] = invitation["id"]
        elif form.get("invitation_id"):
            errors["form"] = FRIENDLY["INVITATION_NOT_FOUND"]
        else:
            joining["organizationName"] = form.get("organization", "").strip()
            if not joining["organizationName"]:
                errors["organization"] = "Enter your organization's name."
        if not name:
            errors["name"] = "Enter your name."
        if not address:
            errors["email"] = "Enter your e-mail address."
        elif "@" not in address.strip("@"):
            errors["email"] = "Enter an e-mail address like name@example.com."
        if len(password) < min_password:
            errors["password"] = f"Use at least {min_password} characters."
        refused: AuthError | None = None
        signed_up = None
        if not errors:
            try:
                await web.guard(request, email_password.SIGN_UP, urls={"callbackURL": verified})
                signed_up = await attempt(
                    email_password.sign_up(
                        ctx,
                        web.client(request),
                        name=name,
                        email=address,
                        password=password,
                        callback_url=verified,
                        fields=joining,
                    )
                )
            except AuthError as exc:
                refused = exc
                fields = {"name": "name", "email": "email", "password": "password", "organizationName": "organization"}
                errors, general = field_errors(exc, fields)
                if general:
                    errors["form"] = general
        if errors or signed_up is None:
            response = web.render(
                request,
                "signup.html",
                status=refused_status(refused) if refused is not None else 400,
                values=form,
                errors=errors,
                error=errors.get("form"),
                invitation=invitation,
                min_password=min_password,
            )
            return web.refusal(response, refused) if refused is not None else response
        if signed_up.token:
            return flash(web.set_cookies(redirect("/dashboard"), signed_up.cookies), "Welcome! Your account is ready.")
        return redirect(f"/verify-email?email={quote(address)}&sent=1")

    @page(web)
    async def verify_email(request: Request) -> Response:
        if request.method == "GET":
            address = request.query_params.get("email", "")
            lines = [
                f"We sent a verification link to {address or 'your e-mail address'}. "
                "Open it to activate your account, then sign in.",
                "No e-mail? Check your spam folder, or send a new link below.",
            ]
            if request.query_params.get("error"):
                code = request.query_params["error"]
                lines = [FRIENDLY.get(code, f"The link did not work ({code}).")]
            return web.render(
                request, "message.html", heading="Check your inbox", lines=lines, resend={"email": address}
            )
        form = await web.form(request)
        address = form.get("email", "")
        verified = "/login?verified=1"
        try:
            await web.guard(request, accounts.SEND_VERIFICATION_EMAIL, urls={"callbackURL": verified})
            current = await web.session(request)
            await accounts.send_verification_email(ctx, current, email=address, callback_url=verified)
        except AuthError as exc:
            response = web.render(
                request,
                "message.html",
                status=refused_status(exc),
                heading="Check your inbox",
                lines=[],
                error=explain(exc),
                resend={"email": address},
            )
            return web.refusal(response, exc)
        return flash(redirect(f"/verify-email?email={quote(address)}&sent=1"), "Verification link sent.")

    @page(web)
    async def forgot_password(request: Request) -> Response:
        if request.method == "GET":
            return web.render(request, "forgot.html", email=request.query_params.get("email", ""))
        form = await web.form(request)
        address = form.get("email", "")
        try:
            await web.guard(request, email_password.REQUEST_PASSWORD_RESET, urls={"redirectTo": "/reset-password"})
            await email_password.request_password_reset(ctx, email=address, redirect_to="/reset-password")
        except AuthError as exc:
            errors, general = field_errors(exc, {"email": "email"})
            status = refused_status(exc)
            response = web.render(
                request, "forgot.html", status=status, email=address, field_error=errors.get("email"), error=general
            )
            return web.refusal(response, exc)
        lines = [
            f"If an account exists for {address}, we sent it a link to reset the password.",
            "The link works once and expires in an hour.",
        ]
        return web.render(request, "message.html", heading="Check your inbox", lines=lines, links=[("/login", "Back")])

    @page(web)
    async def reset_password(request: Request) -> Response:
        if request.method == "GET":
            code = request.query_params.get("error")
            error = FRIENDLY.get(code, code) if code else None
            token = None if code else request.query_params.get("token")
            if not token and not error:
                error = "This page needs the link from the password reset e-mail."
            return web.render(request, "reset.html", token=token, error=error, min_password=min_password)
        form = await web.form(request)
        token = form.get("token", "")
        try:
            await web.guard(request, email_password.RESET_PASSWORD)
            await email_password.reset_password(
                ctx, web.client(request), token=token, new_password=form.get("password", "")
            )
        except AuthError as exc:
            errors, general = field_errors(exc, {"newPassword": "password", "password": "password"})
            response = web.render(
                request,
                "reset.html",
                status=refused_status(exc),
                token=None if exc.code == "INVALID_TOKEN" else token,
                field_error=errors.get("password"),
                error=general,
                min_password=min_password,
            )
            return web.refusal(response, exc)
        return flash(redirect("/login"), "Your password was changed. Sign in with the new one.")

    @page(web)
    async def sign_out(request: Request) -> Response:
        await web.form(request)
        token, _ = ctx.request_token(request)
        current = (await ctx.lookup(request, refresh=False)).current if token else None
        try:
            await web.guard(request, sessions.SIGN_OUT, current=current)
        except AuthError as exc:
            return web.refusal(flash(redirect("/login"), explain(exc), "error"), exc)
        changes = await sessions.sign_out(ctx, web.client(request), token, current)
        return flash(web.set_cookies(redirect("/login"), changes), "You are signed out.")

    @page(web)
    async def accept_invitation(request: Request) -> Response:
        invitation_id = request.path_params["id"]
        viewer: Viewer | None = await web.viewer(request)
        invitation = await invitation_facts(invitation_id)
        if request.method == "GET":
            status = 200 if invitation else 404
            return web.render(request, "invitation.html", viewer, status=status, invitation=invitation)
        form = await web.form(request)
        if viewer is None:
            return redirect(f"/login?from=/accept-invitation/{quote(invitation_id)}")
        decision = "reject" if form.get("decision") == "reject" else "accept"
        tenancy = runtime.tenancy
        if tenancy is None:
            raise Refused(404, "This app has no organizations.")
        service = tenancy.organizations
        try:
            if decision == "reject":
                await web.guard(request, organizations.REJECT_INVITATION, current=viewer.current)
                await service.reject_invitation(viewer.current, invitation_id)
            else:
                await web.guard(request, organizations.ACCEPT_INVITATION, current=viewer.current)
                await service.accept_invitation(viewer.current, invitation_id)
        except AuthError as exc:
            response = web.render(
                request,
                "invitation.html",
                viewer,
                status=refused_status(exc),
                invitation=invitation,
                error=explain(exc),
            )
            return web.refusal(response, exc)
        if decision == "reject":
            return flash(redirect("/dashboard"), "Invitation declined.")
        # Accepting makes the organization the active one (the endpoint does that).
        name = invitation["organization_name"] if invitation else "the organization"
        return flash(redirect("/dashboard"), f"You joined {name}.")

    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/login/social", login_social, methods=["POST"]),
        Route("/signup", signup, methods=["GET", "POST"]),
        Route("/verify-email", verify_email, methods=["GET", "POST"]),
        Route("/forgot-password", forgot_password, methods=["GET", "POST"]),
        Route("/reset-password", reset_password, methods=["GET", "POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Route("/accept-invitation/{id}", accept_invitation, methods=["GET", "POST"]),
    ]
