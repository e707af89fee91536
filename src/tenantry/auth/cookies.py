"""Better Auth's cookies: names, signed values, attributes, the three clearing headers, and
``CookieChanges``: what an action does to a browser's cookies, written the same way by the
``/api/auth`` router and the web pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from tenantry.auth.crypto import sign_value, unsign_value


@dataclass(frozen=True)
class CookieNames:
    """``better-auth.session_token`` (``__Secure-``-prefixed on https), and its companions."""

    session_token: str
    session_data: str
    dont_remember: str
    secure: bool

    @classmethod
    def for_site(cls, prefix: str, base_url: str) -> CookieNames:
        secure = base_url.startswith("https://")
        lead = "__Secure-" if secure else ""
        return cls(
            session_token=f"{lead}{prefix}.session_token",
            session_data=f"{lead}{prefix}.session_data",
            dont_remember=f"{lead}{prefix}.dont_remember",
            secure=secure,
        )


def _attributes(max_age: int | None, secure: bool) -> str:
    # Attribute order as better-call serializes: Max-Age; Domain; Path; Expires; HttpOnly; Secure; SameSite.
    parts = []
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    parts.append("Path=/")
    parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    parts.append("SameSite=Lax")
    return "; ".join(parts)


@dataclass
class CookieChanges:
    """The cookies an action sets or clears, as a service answers them (no response needed yet).

    ``session`` is a new session cookie (its token, and whether the user chose not to be
    remembered); ``clear`` expires the session cookies instead; ``others`` are complete
    ``Set-Cookie`` values of plugins' cookies (two-factor's, the admin's kept session), sent after
    the session's in order.
    """

    session: tuple[str, bool] | None = None
    clear: bool = False
    others: list[str] = field(default_factory=list)

    @classmethod
    def new_session(cls, token: str, dont_remember: bool = False, others: list[str] | None = None) -> CookieChanges:
        """A session cookie for ``token`` (and plugins' cookies after it)."""
        return cls(session=(token, dont_remember), others=list(others or []))

    @classmethod
    def cleared(cls) -> CookieChanges:
        """The session cookies expired: signed out."""
        return cls(clear=True)


class Cookies:
    """Reads and writes the authentication cookies of one app."""

    def __init__(self, names: CookieNames, secret: str) -> None:
        self.names = names
        self.secret = secret

    def read_signed(self, request: Request | Mapping[str, str], name: str) -> str | None:
        """The verified value of the signed cookie ``name`` of a request (or of its cookies), else None."""
        cookies = request.cookies if isinstance(request, Request) else request
        raw = cookies.get(name)
        return unsign_value(self.secret, raw) if raw else None

    def session_token(self, request: Request) -> str | None:
        return self.read_signed(request, self.names.session_token)

    def dont_remember(self, request: Request | Mapping[str, str]) -> bool:
        return self.read_signed(request, self.names.dont_remember) is not None

    def signed_session_value(self, token: str) -> str:
        return sign_value(self.secret, token)

    def set_session(self, response: Response, token: str, max_age: int, dont_remember: bool = False) -> None:
        """The session cookie; without Max-Age (a browser-session cookie) when the user chose not to be remembered."""
        value = self.signed_session_value(token)
        response.headers.append(
            "set-cookie",
            f"{self.names.session_token}={value}; {_attributes(None if dont_remember else max_age, self.names.secure)}",
        )
        if dont_remember:
            marker = sign_value(self.secret, "true")
            response.headers.append(
                "set-cookie", f"{self.names.dont_remember}={marker}; {_attributes(None, self.names.secure)}"
            )

    def clear(self, response: Response) -> None:
        """The three clearing headers, always in Better Auth's order."""
        for name in (self.names.session_token, self.names.session_data, self.names.dont_remember):
            response.headers.append("set-cookie", f"{name}=; {_attributes(0, self.names.secure)}")

    def apply(self, response: Response, changes: CookieChanges, max_age: int) -> None:
        """Write ``changes`` onto ``response``: the session cookie (``max_age`` seconds unless not
        remembered) or the clearing headers, then the plugins' cookies."""
        if changes.session is not None:
            token, dont_remember = changes.session
            self.set_session(response, token, max_age, dont_remember)
        elif changes.clear:
            self.clear(response)
        for cookie in changes.others:
            response.headers.append("set-cookie", cookie)
