"""``/settings/billing``: the organization's plan, status and usage against its limits; admins open
Stripe Checkout to upgrade and the Billing Portal to change or cancel.

Everything comes from the billing service the ``/api/billing`` endpoints use (called in-process),
so what the page shows and what the API answers cannot differ.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.billing.plans import LIVE_STATUSES
from tenantry.errors import ApiError
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect

PAGE = "/settings/billing"


def billing_enabled(web: Web) -> bool:
    """Whether the app bills: billing is installed and the schema declares its plans."""
    return web.runtime.billing is not None and web.schema.options.get("billing") is not None


def billing_routes(web: Web, render: Callable[..., Response]) -> list[BaseRoute]:
    """The billing page and its two actions; ``render`` is the settings pages' renderer (with their tabs)."""
    runtime = web.runtime
    billing = runtime.billing
    if billing is None or not billing_enabled(web):
        return []

    def is_admin(viewer: Viewer) -> bool:
        return viewer.role == billing.top_role

    async def show(request: Request, viewer: Viewer) -> Response:
        if viewer.active is None:
            raise Refused(404, "You have no active organization.")
        summary = await billing.summary(viewer.ctx)
        entities = {e.name: e for e in web.entities}
        usage = []
        for name, counts in summary["usage"].items():
            entity = entities.get(name)
            label = entity.display.plural if entity is not None and entity.display else name.replace("_", " ")
            limit = counts["limit"]
            usage.append(
                {
                    "name": name,
                    "label": label,
                    "used": counts["used"],
                    "limit": limit,
                    "full": limit is not None and counts["used"] >= limit,
                }
            )
        live = summary["status"] in LIVE_STATUSES
        return render(
            request,
            viewer,
            "settings_billing.html",
            summary=summary,
            usage=usage,
            live=live,
            is_admin=is_admin(viewer),
            free_plan=billing.config.free_plan,
            prices=await billing.price_labels(),
            returned=request.query_params.get("checkout"),
        )

    async def checkout(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        body = {"plan": form.get("plan", ""), "interval": form.get("interval", "monthly")}
        try:
            session = await billing.checkout(viewer.ctx, body)
        except ApiError as exc:
            return flash(redirect(PAGE), _message(exc), "error")
        # Stripe's hosted Checkout page (the emulator's in development); it returns to this page.
        return redirect(str(session["url"]))

    async def portal(request: Request, viewer: Viewer) -> Response:
        await web.form(request)  # the origin check
        try:
            session = await billing.portal(viewer.ctx)
        except ApiError as exc:
            return flash(redirect(PAGE), _message(exc), "error")
        return redirect(str(session["url"]))

    signed = page(web, signed_in=True)
    return [
        Route(PAGE, signed(show), methods=["GET"]),
        Route(PAGE + "/checkout", signed(checkout), methods=["POST"]),
        Route(PAGE + "/portal", signed(portal), methods=["POST"]),
    ]


def _message(exc: ApiError) -> str:
    return exc.message if isinstance(exc.message, str) else "; ".join(exc.message)
