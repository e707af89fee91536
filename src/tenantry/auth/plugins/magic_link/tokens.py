"""Magic-link tokens and the verification row that stands for one.

The token is 32 ASCII letters, as Better Auth's. Only its SHA-256 (base64url, unpadded) is stored,
in the row's identifier ``magic-link:<hash>``: exactly Better Auth's ``storeToken: "hashed"``
layout, so someone who can read the database cannot sign in with a pending link. The row's value
is Better Auth's JSON record ``{"type": "magic-link", "email", "name"?}``.
"""

from __future__ import annotations

import base64
import hashlib
import string
from dataclasses import dataclass
from typing import Any

import orjson

from tenantry.auth.crypto import generate_id
from tenantry.auth.validate import is_email

TOKEN_LENGTH = 32
LETTERS = string.ascii_letters


def new_token() -> str:
    """A fresh link token: 32 random letters (``generateRandomString(32, "a-z", "A-Z")``)."""
    return generate_id(TOKEN_LENGTH, LETTERS)


def identifier_of(token: str) -> str:
    """The verification row's identifier for ``token``: its hash, never the token itself."""
    digest = hashlib.sha256(token.encode()).digest()
    return "magic-link:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class LinkRecord:
    """Who a link signs in: the address, and the name to give a user created for it."""

    email: str
    name: str | None = None

    def dump(self) -> str:
        value: dict[str, Any] = {"type": "magic-link", "email": self.email}
        if self.name is not None:
            value["name"] = self.name
        return orjson.dumps(value).decode()

    @classmethod
    def load(cls, raw: str) -> LinkRecord | None:
        """The record in a row's value, or None when it is not one (another kind of row, tampering)."""
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(value, dict) or value.get("type") != "magic-link" or set(value) - {"type", "email", "name"}:
            return None
        email, name = value.get("email"), value.get("name")
        if not isinstance(email, str) or not is_email(email) or not (name is None or isinstance(name, str)):
            return None
        return cls(email=email, name=name)
