"""Identifiers, signed cookie values and stateless tokens, compatible with Better Auth.

- ids and session tokens: 32 characters of ``[a-zA-Z0-9]`` (Better Auth's ``generateId(32)``);
- signed cookies: ``token + "." + base64(HMAC-SHA256(secret, token))`` (standard base64, padded),
  URL-encoded, as better-call's ``serializeSignedCookie``;
- e-mail verification tokens: HS256 JWTs ``{"email", "iat", "exp"}`` signed with the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
from typing import Any
from urllib.parse import quote, unquote

ALPHANUMERIC = string.ascii_letters + string.digits


def generate_id(length: int = 32, alphabet: str = ALPHANUMERIC) -> str:
    """A random identifier from a CSPRNG (Better Auth's default alphabet and length)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hmac_b64(secret: str, value: str) -> str:
    """Standard base64 (padded) HMAC-SHA256 of ``value``: the signature Better Auth puts in cookies."""
    digest = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_value(secret: str, value: str) -> str:
    """``value.signature``, URL-encoded for a ``Set-Cookie`` header."""
    return quote(f"{value}.{hmac_b64(secret, value)}", safe="")


def unsign_value(secret: str, raw: str) -> str | None:
    """The value of a signed cookie, or None when the signature is missing or wrong.

    Like better-call: split at the last dot; the signature must be 44 characters ending in ``=``;
    compared in constant time.
    """
    decoded = unquote(raw) if "%" in raw else raw
    value, dot, signature = decoded.rpartition(".")
    if not dot or not value or len(signature) != 44 or not signature.endswith("="):
        return None
    if not hmac.compare_digest(signature, hmac_b64(secret, value)):
        return None
    return value


def verify_bearer(secret: str, token: str) -> str | None:
    """The session token in an ``Authorization: Bearer`` value: raw, or signed as the cookie is.

    Better Auth's bearer plugin accepts both; a signed value may use either base64 alphabet.
    """
    decoded = unquote(token) if "%" in token else token
    if "." not in decoded:
        return decoded if decoded else None
    value, _, signature = decoded.rpartition(".")
    expected = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    for candidate in (signature, signature + "=" * (-len(signature) % 4)):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                if hmac.compare_digest(decode(candidate), expected):
                    return value
            except ValueError:
                continue
    return None


def sign_jwt(secret: str, claims: dict[str, Any], expires_in: int) -> str:
    """An HS256 JWT with ``iat``/``exp`` added, header ``{"alg":"HS256"}`` as Better Auth emits."""
    from joserfc import jwt  # loaded by the first verification link, not by every worker at start
    from joserfc.jwk import OctKey

    now = int(time.time())
    payload = {**claims, "iat": now, "exp": now + expires_in}
    return jwt.encode({"alg": "HS256"}, payload, OctKey.import_key(secret.encode()))


class TokenExpired(Exception):
    """The JWT's signature is valid but it has expired."""


def read_jwt(secret: str, token: str) -> dict[str, Any] | None:
    """The claims of a valid HS256 JWT, None if invalid; raises ``TokenExpired`` when only too old."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import OctKey

    try:
        decoded = jwt.decode(token, OctKey.import_key(secret.encode()), algorithms=["HS256"])
    except (JoseError, ValueError, TypeError):
        return None
    claims = dict(decoded.claims)
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp < time.time():
        raise TokenExpired
    return claims


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
