"""The official ``stripe`` SDK, loaded when billing first speaks to Stripe rather than when a worker starts.

The SDK is a fifth of a worker's start-up time and a tenth of its memory, and an app whose schema
declares no plans never uses it.
"""

from __future__ import annotations

from types import ModuleType


def stripe_sdk() -> ModuleType:
    """The ``stripe`` module (imported on the first call; Python keeps it afterwards)."""
    import stripe

    return stripe
