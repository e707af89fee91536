"""The two-factor cookies (Better Auth's ``two_factor`` and ``trust_device``), signed like the session's.

- ``<prefix>.two_factor``: set by a password sign-in that needs a second step; its value names a
  verification row (``2fa-`` + 20 characters) whose value is the user id; 10 minutes.
- ``<prefix>.trust_device``: ``<HMAC(userId!trustId)>!<trustId>`` where ``trust-device-…`` names a
  verification row of the user; 30 days. With a valid one, sign-in skips the second step.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

from tenantry.auth.cookies import Cookies
from tenantry.auth.crypto import sign_value

TWO_FACTOR_MAX_AGE = 600
TRUST_DEVICE_MAX_AGE = 30 * 24 * 60 * 60


class TwoFactorCookies:
    """Names and ``Set-Cookie`` values of the two cookies for one app."""

    def __init__(self, cookies: Cookies) -> None:
        self.cookies = cookies
        # Same prefix (and ``__Secure-`` lead on https) as the session cookie.
        base = cookies.names.session_token.removesuffix(".session_token")
        self.two_factor = f"{base}.two_factor"
        self.trust_device = f"{base}.trust_device"
        self.dont_remember = cookies.names.dont_remember

    def _header(self, name: str, value: str, max_age: int | None) -> str:
        parts = [f"{name}={value}"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        parts += ["Path=/", "HttpOnly"]
        if self.cookies.names.secure:
            parts.append("Secure")
        parts.append("SameSite=Lax")
        return "; ".join(parts)

    def set_signed(self, name: str, value: str, max_age: int | None) -> str:
        return self._header(name, sign_value(self.cookies.secret, value), max_age)

    def expire(self, name: str) -> str:
        return self._header(name, "", 0)

    def read(self, request: Request | Mapping[str, str], name: str) -> str | None:
        """The verified value of the cookie ``name`` of a request (or of the cookies it sent)."""
        return self.cookies.read_signed(request, name)

    def session_clearing(self) -> list[str]:
        """Forget a session cookie the browser may still hold (the second step has not happened yet)."""
        names = self.cookies.names
        return [self.expire(names.session_token), self.expire(names.session_data)]
