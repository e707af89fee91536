"""Billing's client errors, each with a stable code."""

from __future__ import annotations

from tenantry.errors import ApiError


def plan_limit_reached(limit: str, allowed: int, plan: str) -> ApiError:
    """402: creating one more ``limit`` row would exceed what the organization's plan allows."""
    return ApiError(
        402,
        "PLAN_LIMIT_REACHED",
        f"Your plan allows {allowed} {limit}; upgrade to create more",
        limit=limit,
        allowed=allowed,
        plan=plan,
    )


def plan_read_only(plan: str, status: str) -> ApiError:
    """402: the subscription is past due or canceled and the settings make the organization read-only."""
    return ApiError(
        402, "SUBSCRIPTION_INACTIVE", f"The subscription is {status}: changes are disabled until it is paid", plan=plan
    )


def feature_not_available(feature: str, plan: str) -> ApiError:
    return ApiError(402, "FEATURE_NOT_AVAILABLE", f"'{feature}' is not part of your plan", feature=feature, plan=plan)


def billing_unavailable(message: str = "Billing is not configured") -> ApiError:
    return ApiError(503, "BILLING_NOT_CONFIGURED", message)


def stripe_failed(message: str) -> ApiError:
    return ApiError(502, "STRIPE_ERROR", message)


def invalid_signature(message: str) -> ApiError:
    return ApiError(400, "INVALID_SIGNATURE", message)
