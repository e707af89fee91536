"""Pages of the magic-link plugin: "Email me a link" on the sign-in page, and "check your inbox".

The form calls ``MagicLinks.send``, as ``POST /api/auth/sign-in/magic-link`` does, after the API's
guard for that action (its rate limit counts both); the e-mailed link goes through
``GET /api/auth/magic-link/verify``, which sets the session cookie and
sends the browser on to the page it came for (``/dashboard`` by default), or back to ``/login``
with the error when the link is used, expired or refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.magic_link.service import SIGN_IN
from tenantry.mail.templates import humanize_duration
from tenantry.web.core import Web, attempt, page, redirect, refusal_code, safe_next

if TYPE_CHECKING:
    from tenantry.auth.plugins.magic_link import MagicLinkPlugin

LOGIN_PART = "_magic_link_login.html"
# Messages a person can act on; other refusals show the endpoint's own message.
FRIENDLY = {
    "VALIDATION_ERROR": "Enter a valid e-mail address.",
    "TOO_MANY_REQUESTS": "Too many links were asked for. Wait a minute, then try again.",
}


def routes(web: Web, plugin: MagicLinkPlugin) -> list[BaseRoute]:
    """``/login/magic-link`` (the form on its own, and where both forms post); adds the sign-in page's part."""
    assert plugin.service is not None
    links = plugin.service
    expires = humanize_duration(plugin.settings.expires_in)
    login_parts = web.env.globals["login_parts"]
    assert isinstance(login_parts, list)  # set by web_routes before any page module
    login_parts.append(LOGIN_PART)

    @page(web)
    async def magic_link(request: Request) -> Response:
        if request.method == "GET":
            target = safe_next(request.query_params.get("from"))
            if await web.viewer(request) is not None:
                return redirect(target)
            email = request.query_params.get("email", "")
            return web.render(request, "magic_link_request.html", email=email, next=target)
        form = await web.form(request)
        target = safe_next(form.get("from"))
        address = form.get("email", "").strip()
        # Used, expired or refused links land on the sign-in page, which explains the error code.
        on_error = "/login" if target == "/dashboard" else f"/login?from={quote(target, safe='')}"
        try:
            await web.guard(request, SIGN_IN, urls={"callbackURL": target, "errorCallbackURL": on_error})
            await attempt(
                links.send(web.client(request), email=address, callback_url=target, error_callback_url=on_error)
            )
        except AuthError as exc:
            error = FRIENDLY.get(refusal_code(exc), exc.message)
            response = web.render(
                request, "magic_link_request.html", status=exc.status, email=address, next=target, error=error
            )
            return web.refusal(response, exc)
        return web.render(request, "magic_link_sent.html", email=address.lower(), next=target, expires=expires)

    return [Route("/login/magic-link", magic_link, methods=["GET", "POST"])]
