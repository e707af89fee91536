"""Standard Webhooks signatures, made by the ``standardwebhooks`` library itself.

``webhook-id`` is the message's id (the same on every retry and resend, so receivers deduplicate
by it), ``webhook-timestamp`` the attempt's time in seconds, and ``webhook-signature`` one
``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` per secret, separated by spaces: while a rotated
secret's grace period runs, both the new and the old one sign, so a receiver holding either verifies.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Final

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the prefix every Standard Webhooks secret has, not a secret
# 24 random bytes, as Svix generates them: well above HMAC-SHA256's need, short enough to paste.
SECRET_BYTES: Final = 24


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and base64 of random bytes (what every Standard Webhooks library reads)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secrets_in_use: Sequence[str], message_id: str, timestamp: dt.datetime, body: str) -> str:
    """The ``webhook-signature`` value: one ``v1,…`` per secret, newest first."""
    if not secrets_in_use:
        raise ValueError("a message is signed with at least one secret")
    return " ".join(Webhook(s).sign(message_id, timestamp, body) for s in secrets_in_use)


def signed_headers(secrets_in_use: Sequence[str], message_id: str, timestamp: dt.datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt (and the JSON content type)."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature(secrets_in_use, message_id, timestamp, body),
    }
