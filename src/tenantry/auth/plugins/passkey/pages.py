"""Pages of the passkey plugin: a "Sign in with a passkey" button on the sign-in page and a
Passkeys section on the account page (list, add, rename, remove).

The WebAuthn ceremonies run in the browser (``static/passkey.js`` calls ``navigator.credentials``
and the ``/api/auth/passkey/*`` endpoints directly); renaming and removing are plain forms that
call the service those endpoints call (``Passkeys``), after the API's guard, enhanced by htmx to
swap only the section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.passkey.service import DELETE, UPDATE
from tenantry.web.core import Refused, Viewer, Web, attempt, flash, page, redirect

if TYPE_CHECKING:
    from tenantry.auth.plugins.passkey import PasskeyPlugin

SECTION = "/settings/account/passkeys"


def routes(web: Web, plugin: PasskeyPlugin) -> list[BaseRoute]:
    """The passkey plugin's pages."""
    assert plugin.service is not None
    passkeys = plugin.service
    cast(list[str], web.env.globals["login_parts"]).append("_passkey_login.html")
    cast(list[str], web.env.globals["account_sections"]).append(SECTION)

    async def section(request: Request, viewer: Viewer, error: str | None = None, status: int = 200) -> Response:
        listed = await passkeys.of_user(viewer.current)
        return web.render(request, "_passkey_section.html", viewer, status=status, passkeys=listed, error=error)

    async def change(request: Request, viewer: Viewer) -> Response:
        action = request.path_params["action"]
        if action not in ("rename", "remove"):
            raise Refused(404, "There is no such page.")
        form = await web.form(request)
        current, client = viewer.current, web.client(request)
        passkey_id = form.get("id", "")
        refusal: AuthError | None = None
        try:
            if action == "rename":
                await web.guard(request, UPDATE, current=current)
                await attempt(passkeys.rename(current, client, passkey_id, form.get("name", "")))
                done = "Passkey renamed."
            else:
                await web.guard(request, DELETE, current=current)
                await passkeys.delete(current, client, passkey_id)
                done = "Passkey removed."
        except AuthError as exc:
            refusal = exc
        error = None if refusal is None else _explain(refusal.code, refusal.message)
        if request.headers.get("hx-request"):
            # htmx swaps the section alone; a refusal is shown inside it (422 keeps the swap).
            response = await section(request, viewer, error=error, status=200 if refusal is None else 422)
        elif error is not None:
            response = flash(redirect("/settings/account"), error, "error")
        else:
            response = flash(redirect("/settings/account"), done)
        return web.refusal(response, refusal) if refusal is not None else response

    return [
        Route(SECTION, page(web, signed_in=True)(section), methods=["GET"]),
        Route(SECTION + "/{action}", page(web, signed_in=True)(change), methods=["POST"]),
    ]


def _explain(code: str | None, message: str) -> str:
    if code == "PASSKEY_NOT_FOUND":
        return "That passkey no longer exists."
    if code in ("UNAUTHORIZED", "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY"):
        return "That passkey is not yours."
    if code == "VALIDATION_ERROR":
        return "Give the passkey a name (at most 255 characters)."
    return message or "That did not work."
