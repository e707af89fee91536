"""Making and recognising keys, as Better Auth does.

A key is its prefix followed by 64 random letters (``a-z``, ``A-Z``) from a CSPRNG. The table holds
only its SHA-256, base64url without padding (Better Auth's ``defaultKeyHasher``), and its first six
characters (``start``) so people can tell their keys apart.
"""

from __future__ import annotations

import base64
import hashlib
import string

from tenantry.auth.crypto import generate_id

KEY_LENGTH = 64  # random characters after the prefix (Better Auth's defaultKeyLength)
START_LENGTH = 6
LETTERS = string.ascii_lowercase + string.ascii_uppercase


def new_key(prefix: str | None) -> str:
    """A fresh key: ``prefix`` then 64 random letters."""
    return (prefix or "") + generate_id(KEY_LENGTH, LETTERS)


def hash_key(key: str) -> str:
    """What the table stores for ``key``: SHA-256, base64url, unpadded."""
    digest = hashlib.sha256(key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def start_of(key: str) -> str:
    """The characters shown to recognise a key (its prefix included)."""
    return key[:START_LENGTH]
