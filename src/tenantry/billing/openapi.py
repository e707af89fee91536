"""Billing's endpoints in the OpenAPI document (the billing capability's ``OpenApiPart``)."""

from __future__ import annotations

from typing import Any

from tenantry.core.openapi import REF, OpenApiPart, error_response, json_response
from tenantry.idempotency import idempotency_parameter

TAG = "billing"
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _schemas() -> dict[str, Any]:
    plan = {
        "type": "object",
        "required": ["id", "name", "trialDays", "limits", "features"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "priceMonthly": {"type": ["string", "null"], "description": "Stripe price id"},
            "priceYearly": {"type": ["string", "null"], "description": "Stripe price id"},
            "trialDays": {"type": "integer", "minimum": 0},
            "limits": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "Most rows per organization, by entity; a missing entity is unlimited",
            },
            "features": {"type": "array", "items": {"type": "string"}},
        },
    }
    summary = {
        "type": "object",
        "required": ["plan", "status", "readOnly", "usage", "features", "plans"],
        "properties": {
            "plan": {"$ref": REF.format(model="BillingPlan"), "description": "The plan in effect now"},
            "subscribedPlan": {"type": ["string", "null"], "description": "The subscription's plan, if any"},
            "status": {
                "type": ["string", "null"],
                "description": "Stripe's subscription status (null: never subscribed)",
                "examples": ["trialing", "active", "past_due", "canceled"],
            },
            "readOnly": {"type": "boolean", "description": "Changes refused (402 SUBSCRIPTION_INACTIVE)"},
            "currentPeriodEnd": _NULLABLE_TIME,
            "trialEnd": _NULLABLE_TIME,
            "cancelAtPeriodEnd": {"type": "boolean"},
            "quantity": {"type": ["integer", "null"]},
            "pastDueSince": _NULLABLE_TIME,
            "stripeSubscriptionId": {"type": ["string", "null"]},
            "usage": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["used", "limit"],
                    "properties": {"used": {"type": "integer"}, "limit": {"type": ["integer", "null"]}},
                },
            },
            "features": {"type": "array", "items": {"type": "string"}},
            "plans": {"type": "array", "items": {"$ref": REF.format(model="BillingPlan")}},
        },
    }
    checkout = {
        "type": "object",
        "description": "A plan (and interval), or one of its Stripe prices",
        "properties": {
            "plan": {"type": "string"},
            "interval": {"type": "string", "enum": ["monthly", "yearly"], "default": "monthly"},
            "priceId": {"type": "string"},
        },
        "anyOf": [{"required": ["plan"]}, {"required": ["priceId"]}],
    }
    return {"BillingPlan": plan, "BillingSummary": summary, "BillingCheckout": checkout}


def billing_openapi(prefix: str = "/api/billing") -> OpenApiPart:
    """``GET /api/billing`` and the checkout, portal and webhook endpoints, with their error codes."""
    uri = {"type": "string", "format": "uri"}
    url: dict[str, Any] = {"type": "object", "required": ["url"], "properties": {"url": uri}}
    signed_in = {
        "400": error_response("NO_ACTIVE_ORGANIZATION: choose an active organization first"),
        "401": error_response("Not signed in"),
    }
    stripe_errors = {
        "502": error_response("STRIPE_ERROR: Stripe refused the request"),
        "503": error_response("BILLING_NOT_CONFIGURED: no Stripe key"),
    }
    paths = {
        prefix: {
            "get": {
                "tags": [TAG],
                "operationId": "getBilling",
                "summary": "The active organization's plan, status, period, trial and usage against each limit",
                "responses": {
                    "200": json_response({"$ref": REF.format(model="BillingSummary")}, "Billing"),
                    **signed_in,
                },
            }
        },
        f"{prefix}/checkout": {
            "post": {
                "tags": [TAG],
                "operationId": "createBillingCheckout",
                "summary": "Admins: a Stripe Checkout session for a subscription (the customer is created once)",
                "parameters": [idempotency_parameter()],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": REF.format(model="BillingCheckout")}}},
                },
                "responses": {
                    "200": json_response(
                        {**url, "properties": {"url": uri, "id": {"type": "string"}}}, "Checkout's URL"
                    ),
                    **signed_in,
                    "403": error_response("BILLING_ADMIN_ONLY"),
                    "409": error_response(
                        "ALREADY_SUBSCRIBED: change the plan in the billing portal; "
                        "IDEMPOTENCY_KEY_IN_USE: a request with this key is still running"
                    ),
                    "422": error_response("IDEMPOTENCY_KEY_REUSED: the key was sent with another request"),
                    **stripe_errors,
                },
            }
        },
        f"{prefix}/portal": {
            "post": {
                "tags": [TAG],
                "operationId": "createBillingPortalSession",
                "summary": "Admins: a Stripe Billing Portal session for the organization's customer",
                "responses": {
                    "200": json_response(url, "The portal's URL"),
                    **signed_in,
                    "403": error_response("BILLING_ADMIN_ONLY"),
                    "409": error_response("NO_BILLING_ACCOUNT: subscribe first"),
                    **stripe_errors,
                },
            }
        },
        f"{prefix}/webhook": {
            "post": {
                "tags": [TAG],
                "operationId": "receiveStripeWebhook",
                "summary": "Stripe's events, verified by their signature; each applied once, newest state wins",
                "parameters": [
                    {
                        "name": "Stripe-Signature",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "t=…,v1=… signed with the endpoint's secret",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object", "description": "A Stripe event"}}},
                },
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "required": ["received", "outcome"],
                            "properties": {"received": {"const": True}, "outcome": {"type": "string"}},
                        },
                        "Received (also for a repeated, stale or ignored event)",
                    ),
                    "400": error_response("INVALID_SIGNATURE"),
                    "413": error_response("PAYLOAD_TOO_LARGE"),
                },
            }
        },
    }
    return OpenApiPart(
        paths=paths,
        schemas=_schemas(),
        tags=[{"name": TAG, "description": "Plans, Stripe Checkout, the billing portal and Stripe's webhooks"}],
    )
