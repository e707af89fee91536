"""Sign-in, sign-up (with an organization or through an invitation), e-mail verification,
password reset, sign-out and invitation acceptance: each form runs the ``/api/auth`` endpoint's
own handler (``bridge.call_auth``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.providers import providers_for
from tenantry.db.codecs import utc_now
from tenantry.web.bridge import Outcome, apply_cookies, call_auth
from tenantry.web.core import Viewer, Web, flash, page, redirect, safe_next

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


def explain(outcome: Outcome) -> str:
    return FRIENDLY.get(outcome.code or "", outcome.message)


def field_errors(outcome: Outcome, fields: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Split an endpoint error into per-field messages (``fields`` maps body keys to form names)."""
    if outcome.error is None:
        return {}, None
    code = outcome.code or ""
    if code.startswith("PASSWORD_TOO") and "password" in fields.values():
        return {"password": explain(outcome)}, None
    if code == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL":
        return {"email": explain(outcome)}, None
    match = _FIELD.match(outcome.message)
    if match and match.group(1) in fields:
        return {fields[match.group(1)]: match.group(2) or "Invalid value"}, None
    return {}, explain(outcome)


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
        body = {
            "email": form.get("email", ""),
            "password": form.get("password", ""),
            "rememberMe": "remember" in form,
            # Where the verification link sent to an unverified address leads (only used then).
            "callbackURL": "/login?verified=1",
        }
        outcome = await call_auth(runtime, request, "POST", "/sign-in/email", body)
        if outcome.ok and isinstance(outcome.body, dict) and outcome.body.get("twoFactorRedirect"):
            # The password was right; the two-factor page asks for the second step.
            return apply_cookies(runtime, outcome, redirect(f"/two-factor?from={quote(target, safe='')}"))
        if outcome.ok:
            return apply_cookies(runtime, outcome, redirect(target))
        if outcome.code == "EMAIL_NOT_VERIFIED":
            return login_page(request, 403, email=form.get("email", ""), next=target, unverified=True)
        status = outcome.error.status if outcome.error else 400
        return login_page(request, status, email=form.get("email", ""), next=target, error=explain(outcome))

    @page(web)
    async def login_social(request: Request) -> Response:
        form = await web.form(request)
        target = safe_next(form.get("from"))
        body = {"provider": form.get("provider", ""), "callbackURL": target, "errorCallbackURL": "/login"}
        outcome = await call_auth(runtime, request, "POST", "/sign-in/social", body)
        if not outcome.ok or not isinstance(outcome.body, dict) or "url" not in outcome.body:
            return login_page(request, 400, next=target, error=explain(outcome) or "That provider is not available.")
        return apply_cookies(runtime, outcome, redirect(str(outcome.body["url"])))

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
        body: dict[str, Any] = {
            "name": form.get("name", "").strip(),
            "email": form.get("email", "").strip(),
            "password": form.get("password", ""),
            "callbackURL": "/login?verified=1",
        }
        errors: dict[str, str] = {}
        if invitation is not None:
            body["invitationId"] = invitation["id"]
        elif form.get("invitation_id"):
            errors["form"] = FRIENDLY["INVITATION_NOT_FOUND"]
        else:
            body["organizationName"] = form.get("organization", "").strip()
            if not body["organizationName"]:
                errors["organization"] = "Enter your organization's name."
        if not body["name"]:
            errors["name"] = "Enter your name."
        if len(body["password"]) < min_password:
            errors["password"] = f"Use at least {min_password} characters."
        outcome = None
        if not errors:
            outcome = await call_auth(runtime, request, "POST", "/sign-up/email", body)
            fields = {"name": "name", "email": "email", "password": "password", "organizationName": "organization"}
            errors, general = field_errors(outcome, fields)
            if general:
                errors["form"] = general
        if errors or outcome is None:
            return web.render(
                request,
                "signup.html",
                status=400,
                values=form,
                errors=errors,
                error=errors.get("form"),
                invitation=invitation,
                min_password=min_password,
            )
        token = outcome.body.get("token") if isinstance(outcome.body, dict) else None
        if token:
            return flash(apply_cookies(runtime, outcome, redirect("/dashboard")), "Welcome! Your account is ready.")
        return redirect(f"/verify-email?email={quote(body['email'])}&sent=1")

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
        body = {"email": form.get("email", ""), "callbackURL": "/login?verified=1"}
        outcome = await call_auth(runtime, request, "POST", "/send-verification-email", body)
        if not outcome.ok:
            return web.render(
                request,
                "message.html",
                status=400,
                heading="Check your inbox",
                lines=[],
                error=explain(outcome),
                resend={"email": form.get("email", "")},
            )
        return flash(redirect(f"/verify-email?email={quote(form.get('email', ''))}&sent=1"), "Verification link sent.")

    @page(web)
    async def forgot_password(request: Request) -> Response:
        if request.method == "GET":
            return web.render(request, "forgot.html", email=request.query_params.get("email", ""))
        form = await web.form(request)
        body = {"email": form.get("email", ""), "redirectTo": "/reset-password"}
        outcome = await call_auth(runtime, request, "POST", "/request-password-reset", body)
        if not outcome.ok:
            errors, general = field_errors(outcome, {"email": "email"})
            return web.render(
                request, "forgot.html", status=400, email=body["email"], field_error=errors.get("email"), error=general
            )
        lines = [
            f"If an account exists for {body['email']}, we sent it a link to reset the password.",
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
        body = {"token": form.get("token", ""), "newPassword": form.get("password", "")}
        outcome = await call_auth(runtime, request, "POST", "/reset-password", body)
        if not outcome.ok:
            errors, general = field_errors(outcome, {"newPassword": "password", "password": "password"})
            return web.render(
                request,
                "reset.html",
                status=400,
                token=None if outcome.code == "INVALID_TOKEN" else body["token"],
                field_error=errors.get("password"),
                error=general,
                min_password=min_password,
            )
        return flash(redirect("/login"), "Your password was changed. Sign in with the new one.")

    @page(web)
    async def sign_out(request: Request) -> Response:
        await web.form(request)
        outcome = await call_auth(runtime, request, "POST", "/sign-out", {})
        return flash(apply_cookies(runtime, outcome, redirect("/login")), "You are signed out.")

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
        outcome = await call_auth(
            runtime, request, "POST", f"/organization/{decision}-invitation", {"invitationId": invitation_id}
        )
        if not outcome.ok:
            return web.render(
                request, "invitation.html", viewer, status=400, invitation=invitation, error=explain(outcome)
            )
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
