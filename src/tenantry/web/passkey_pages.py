"""Pages of the passkey plugin: a "Sign in with a passkey" button on the sign-in page and a
Passkeys section on the account page (list, add, rename, remove).

The WebAuthn ceremonies run in the browser (``static/passkey.js`` calls ``navigator.credentials``
and the ``/api/auth/passkey/*`` endpoints directly); renaming and removing are plain forms that
run the same endpoints' handlers, enhanced by htmx to swap only the section.
"""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.web.bridge import call_auth
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect

SECTION = "/settings/account/passkeys"


def routes(web: Web) -> list[BaseRoute]:
    """The passkey plugin's pages."""
    runtime = web.runtime
    cast(list[str], web.env.globals["login_parts"]).append("_passkey_login.html")
    cast(list[str], web.env.globals["account_sections"]).append(SECTION)

    async def section(request: Request, viewer: Viewer, error: str | None = None, status: int = 200) -> Response:
        listed = await call_auth(runtime, request, "GET", "/passkey/list-user-passkeys")
        return web.render(
            request, "_passkey_section.html", viewer, status=status, passkeys=listed.body or [], error=error
        )

    async def change(request: Request, viewer: Viewer) -> Response:
        action = request.path_params["action"]
        if action not in ("rename", "remove"):
            raise Refused(404, "There is no such page.")
        form = await web.form(request)
        if action == "rename":
            body = {"id": form.get("id", ""), "name": form.get("name", "")}
            outcome = await call_auth(runtime, request, "POST", "/passkey/update-passkey", body)
            done = "Passkey renamed."
        else:
            outcome = await call_auth(runtime, request, "POST", "/passkey/delete-passkey", {"id": form.get("id", "")})
            done = "Passkey removed."
        error = None if outcome.ok else _explain(outcome.code, outcome.message)
        if request.headers.get("hx-request"):
            # htmx swaps the section alone; a refusal is shown inside it (422 keeps the swap).
            return await section(request, viewer, error=error, status=200 if outcome.ok else 422)
        if error is not None:
            return flash(redirect("/settings/account"), error, "error")
        return flash(redirect("/settings/account"), done)

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
