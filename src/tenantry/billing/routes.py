"""Billing's HTTP endpoints under ``/api/billing``."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tenantry.billing.webhooks import verify
from tenantry.core.http import read_json
from tenantry.idempotency import IDEMPOTENCY_HEADER, Claim, Idempotency

if TYPE_CHECKING:
    from tenantry.billing.service import Billing

# Stripe's events stay well below this; anything larger is not a Stripe event.
MAX_WEBHOOK_BYTES = 1_048_576


def billing_routes(billing: Billing, prefix: str = "/api/billing") -> list[Route]:
    """``GET /api/billing``, ``POST …/checkout``, ``POST …/portal``, ``POST …/webhook``."""
    app = billing.app
    idempotency = app.find(Idempotency)

    async def summary(request: Request) -> Response:
        ctx = await app.context(request)
        return JSONResponse(await billing.summary(ctx))

    async def checkout(request: Request) -> Response:
        ctx = await app.context(request)
        body = await read_json(request, app.settings.max_body_bytes)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and idempotency is not None:

            def create(claim: Claim | None) -> Awaitable[dict[str, Any]]:
                # Stripe gets a key of ours for the session: a retry that takes over a request which
                # died after Stripe answered gets that same session back, not a second one.
                stripe_key = None if claim is None else f"tenantry-checkout-{claim.reference}"
                return billing.checkout(ctx, body, stripe_key=stripe_key)

            return await idempotency.keys.run(request, ctx, key, body, status=200, write=create)
        return JSONResponse(await billing.checkout(ctx, body))

    async def portal(request: Request) -> Response:
        ctx = await app.context(request)
        return JSONResponse(await billing.portal(ctx))

    async def webhook(request: Request) -> Response:
        # Anonymous by design: the signature, not a session, says the request is Stripe's.
        payload = await request.body()
        if len(payload) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"statusCode": 413, "code": "PAYLOAD_TOO_LARGE", "message": "Too large"}, 413)
        event = verify(
            payload,
            request.headers.get("stripe-signature"),
            billing.settings.webhook_secrets,
            billing.settings.tolerance,
        )
        outcome = await billing.webhooks.receive(event)
        return JSONResponse({"received": True, "outcome": outcome})

    return [
        Route(prefix, summary, methods=["GET"]),
        Route(prefix + "/checkout", checkout, methods=["POST"]),
        Route(prefix + "/portal", portal, methods=["POST"]),
        Route(prefix + "/webhook", webhook, methods=["POST"]),
    ]
