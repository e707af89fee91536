"""What every page shares: templates, the signed-in viewer, toasts, and the authentication guard.

CSRF: session cookies are ``SameSite=Lax`` (a cross-site form POST carries no cookie in current
browsers), and every form POST must also carry an ``Origin`` (or ``Referer``) the app trusts: the
rule ``/api/auth`` applies to cookie-authenticated writes, checked by the same ``OriginPolicy``
and refused with the same codes. Browsers always send ``Origin`` on form POSTs and a page cannot
forge it, so no per-form token is needed; this keeps forms working across tabs and after the back
button, which token schemes often break.

Authentication forms call the services the ``/api/auth`` endpoints call, after ``Web.guard``: the
API's rate limit for the same action (one counter for both; a refusal is the API's 429 with its
``x-retry-after``, and ``Retry-After``), the callback-URL checks, and the plugins' action checks.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.errors import AuthError, value_rejected
from tenantry.auth.guard import RateLimited
from tenantry.auth.redirects import site_path
from tenantry.auth.service import AuthContext, ClientInfo, Current
from tenantry.context import RequestContext
from tenantry.db.codecs import format_timestamp
from tenantry.db.errors import DataRejected
from tenantry.errors import ApiError
from tenantry.schema import Entity
from tenantry.web.bell import Bell, load_bell
from tenantry.web.frame import brand_of, icon, initials
from tenantry.web.times import time_tag

if TYPE_CHECKING:
    from tenantry.web.services import Services

T = TypeVar("T")
TEMPLATES = Path(__file__).parent / "templates"
FLASH_COOKIE = "tenantry.flash"
Handler = Callable[[Request], Awaitable[Response]]
# Pages load only their own scripts and styles (inline style attributes and htmx's indicator style
# need 'unsafe-inline' for styles, never for scripts) and cannot be framed. No form-action: the
# OAuth buttons' form redirects to the provider. Referrers stay on the site (the origin check and
# the organization switcher read them).
PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _parse_csp(policy: str) -> dict[str, list[str]]:
    """A policy's directives in order, each with its sources."""
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


class Refused(Exception):
    """A page request that must be answered with an error page (``status`` and a message)."""

    def __init__(self, status: int, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.location = location  # where to send the browser instead (two-factor to turn on)


@dataclass
class Viewer:
    """The signed-in user of a page: session, pipeline context, organizations and the active one."""

    current: Current
    ctx: RequestContext
    organizations: list[dict[str, Any]] = field(default_factory=list)
    active: dict[str, Any] | None = None
    bell: Bell = field(default_factory=Bell)  # the header's notifications
    # What plugins' pages add for every page (the admin plugin: superuser, impersonation banner).
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def role(self) -> str | None:
        return self.ctx.principal.role

    @property
    def user(self) -> dict[str, Any]:
        u = self.current.user
        return {"id": str(u.id), "email": u.email, "name": u.core.get("name"), "verified": u.email_verified}


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """A path on this site to return to, as ``/api/auth`` decides callback URLs (never another site:
    ``//evil.example``, ``/\t/evil.example`` and the like give ``default``)."""
    return site_path(target) or default


def refusal_code(exc: AuthError) -> str:
    """The code a page explains a refusal by: the API's, or ``TOO_MANY_REQUESTS`` for a rate limit
    (which, as in Better Auth, carries no code)."""
    return "TOO_MANY_REQUESTS" if isinstance(exc, RateLimited) else exc.code or ""


def wait_text(exc: AuthError) -> str:
    """How long a rate-limited client waits, in words ("a minute", "8 seconds")."""
    seconds = exc.retry_after if isinstance(exc, RateLimited) else 60
    if seconds >= 60:
        minutes = round(seconds / 60)
        return "a minute" if minutes == 1 else f"{minutes} minutes"
    return "a second" if seconds == 1 else f"{seconds} seconds"


def refused_status(exc: AuthError, default: int = 400) -> int:
    """The status of a form refused by ``exc``: the API's 429 when rate-limited, else ``default``."""
    return exc.status if isinstance(exc, RateLimited) else default


async def attempt(action: Awaitable[T]) -> T:
    """A service call from a page: the database refusing a value (too long for its column) is the
    API's answer to it, a 400 VALIDATION_ERROR, which the page shows like any other refusal."""
    try:
        return await action
    except DataRejected:
        raise value_rejected() from None


def redirect(url: str) -> RedirectResponse:
    # 303: the browser follows a form POST with a GET.
    return RedirectResponse(url, status_code=303)


def flash(response: Response, message: str, kind: str = "success") -> Response:
    """A toast shown on the next page the browser renders."""
    response.set_cookie(FLASH_COOKIE, quote(f"{kind}:{message}"), max_age=60, path="/", httponly=True, samesite="lax")
    return response


class Web:
    """The pages of one app: shared by every page module."""

    def __init__(self, runtime: Services, template_dirs: Sequence[Path] = ()) -> None:
        self.runtime = runtime
        self.schema = runtime.schema
        self.env = jinja2.Environment(
            # The web app's own templates first: capabilities' pages extend its base.html.
            loader=jinja2.FileSystemLoader([TEMPLATES, *template_dirs]),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            # Outside development the templates are those of the installed package: no check of
            # every template file's time on each page (``get_template`` and each ``extends``).
            auto_reload=runtime.settings.is_development,
        )
        self.env.filters["timestamp"] = _timestamp
        self.env.filters["device"] = device
        self.env.filters["when"] = _when
        self.env.globals["app_title"] = runtime.schema.app_name
        # The app frame's brand and helpers (``web/frame.py``), for base.html and _frame.html.
        self.brand = brand_of(runtime.schema)
        self.env.globals.update(brand=self.brand, icon=icon, initials=initials)
        # Run on every signed-in viewer, after it is built (plugins' pages fill ``Viewer.extras``).
        self.viewer_hooks: list[Callable[[Viewer], Awaitable[None]]] = []
        # Markup capabilities put in every page's <head> (``add_head``), and the headers pages are
        # served with, whose policy a capability may widen (``allow``).
        self.head_parts: list[Markup] = []
        self.env.globals["head_parts"] = self.head_parts
        self.csp: dict[str, list[str]] = _parse_csp(PAGE_HEADERS["content-security-policy"])
        self.page_headers: dict[str, str] = dict(PAGE_HEADERS)

    def add_head(self, markup: str) -> None:
        """Put ``markup`` (trusted HTML: a ``<script src>`` of the capability's own static files, a
        ``<meta>``) in the ``<head>`` of every page. Inline scripts are refused by the pages' policy."""
        self.head_parts.append(Markup(markup))  # noqa: S704 - the caller's own markup, not user input

    def allow(self, directive: str, *sources: str) -> None:
        """Widen the pages' content security policy: ``sources`` added to ``directive`` (``connect-src``
        for an analytics host). A directive not in the policy starts from ``default-src``'s sources."""
        current = self.csp.setdefault(directive, list(self.csp.get("default-src", [])))
        current += [s for s in sources if s not in current]
        self.page_headers["content-security-policy"] = "; ".join(
            " ".join([name, *values]) for name, values in self.csp.items()
        )

    @property
    def entities(self) -> list[Entity]:
        return list(self.schema.entities.values())

    # -- who is asking ------------------------------------------------------------------------

    async def viewer(self, request: Request) -> Viewer | None:
        """The signed-in user, or None."""
        # Browsing keeps a session alive the way Better Auth's get-session does (``updateAge``).
        lookup = await self.runtime.auth.ctx.lookup(request, refresh=True)
        if lookup.current is None:
            return None
        try:
            # The session just looked up is the principal: no second lookup.
            ctx = await self.runtime.context(request, await self.runtime.auth.resolve(request, lookup.current))
        except ApiError as exc:
            raise Refused(exc.status, str(exc), exc.extra.get("location")) from None
        viewer = Viewer(lookup.current, ctx)
        tenancy = self.runtime.tenancy
        if tenancy is not None:
            viewer.organizations = await tenancy.organizations.store.organizations_of(None, lookup.current.user.id)
            active_id = ctx.principal.org_id
            viewer.active = next((o for o in viewer.organizations if str(o["id"]) == str(active_id)), None)
        viewer.bell = await load_bell(self.runtime, str(lookup.current.user.id))
        for hook in self.viewer_hooks:
            await hook(viewer)
        return viewer

    def keep_alive(self, viewer: Viewer, response: Response) -> Response:
        """Re-issue the session cookie when this request extended the session (and the page set none)."""
        current = viewer.current
        if not (current.refreshed and current.via_cookie):
            return response
        name = self.runtime.auth.ctx.cookies.names.session_token + "="
        if any(v.startswith(name) for v in response.headers.getlist("set-cookie")):
            return response
        ctx = self.runtime.auth.ctx
        ctx.cookies.set_session(response, current.session["token"], ctx.auth.expires_in)
        return response

    @property
    def auth(self) -> AuthContext:
        return self.runtime.auth.ctx

    def check_origin(self, request: Request) -> None:
        """Refuse a form POST that does not come from a page of this app (see the module docstring):
        403 with the API's reason (``Invalid origin``, ``Missing or null Origin``)."""
        try:
            self.auth.guard.form(request)
        except AuthError as exc:
            raise Refused(403, f"{exc.message}: this form was not sent from this site, so it was refused.") from None

    async def form(self, request: Request) -> dict[str, str]:
        """The submitted form, after the origin check; repeated names keep their last value."""
        self.check_origin(request)
        data = await request.form()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    # -- authentication actions ---------------------------------------------------------------

    async def guard(
        self,
        request: Request,
        action: str,
        *,
        current: Current | None = None,
        urls: Mapping[str, str | None] | None = None,
    ) -> None:
        """Before a form runs the authentication ``action`` (an ``/api/auth`` path) for ``current``:
        the API's rate limit for it, the ``urls`` it passes on (``callbackURL`` …), the plugins'
        action checks. Raises the API's ``AuthError`` (``RateLimited`` over the limit)."""
        await self.auth.guard.page_action(request, action, current=current, urls=urls)

    def client(self, request: Request) -> ClientInfo:
        """Who is calling, as the services take it."""
        return self.auth.client(request)

    async def session(self, request: Request) -> Current | None:
        """The request's session, for pages open to everyone (no viewer is built)."""
        return (await self.auth.lookup(request)).current

    def set_cookies(self, response: Response, changes: CookieChanges) -> Response:
        """Set (or clear) the cookies a service changed, as the API would."""
        self.auth.write_cookies(response, changes)
        return response

    @staticmethod
    def refusal(response: Response, exc: AuthError) -> Response:
        """``response`` carrying a refusal's headers: ``x-retry-after`` as the API sends it, and
        the standard ``Retry-After`` for browsers."""
        for key, value in exc.headers.items():
            response.headers[key] = value
        if isinstance(exc, RateLimited):
            response.headers["retry-after"] = str(exc.retry_after)
        return response

    # -- rendering ----------------------------------------------------------------------------

    def render(
        self, request: Request, template: str, viewer: Viewer | None = None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page; the pending toast (if any) is shown once and cleared."""
        toast = None
        raw = request.cookies.get(FLASH_COOKIE)
        if raw:
            kind, _, message = unquote(raw).partition(":")
            toast = {"kind": kind if kind in ("success", "error") else "success", "message": message}
        body = self.env.get_template(template).render(
            request=request,
            viewer=viewer,
            toast=toast,
            path=request.url.path,
            entities=self.entities,
            rendered_at=self.runtime.app.clock(),
            **context,
        )
        response = HTMLResponse(body, status_code=status, headers=self.page_headers)
        if raw:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def error_page(self, request: Request, status: int, message: str, viewer: Viewer | None = None) -> HTMLResponse:
        return self.render(request, "error.html", viewer, status=status, status_code=status, message=message)


def page(web: Web, *, signed_in: bool = False) -> Callable[[Callable[..., Awaitable[Response]]], Handler]:
    """Wrap a page handler: errors (``Refused``, the API's and the services') become error pages;
    ``signed_in`` pages get the viewer or go to login."""

    def wrap(handler: Callable[..., Awaitable[Response]]) -> Handler:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            viewer = None
            try:
                if signed_in:
                    viewer = await web.viewer(request)
                    if viewer is None:
                        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                        return redirect(f"/login?from={quote(target, safe='')}")
                    return web.keep_alive(viewer, await handler(request, viewer))
                return await handler(request)
            except Refused as exc:
                if exc.location is not None:
                    return flash(redirect(exc.location), exc.message, "error")
                return web.error_page(request, exc.status, exc.message, viewer)
            except AuthError as exc:
                # A service's refusal the page does not explain itself (a read for a superuser …).
                return web.refusal(web.error_page(request, exc.status, exc.message, viewer), exc)
            except ApiError as exc:
                message = exc.message if isinstance(exc.message, str) else "; ".join(exc.message)
                return web.error_page(request, exc.status, message, viewer)

        return endpoint

    return wrap


@jinja2.pass_context
def _when(context: jinja2.runtime.Context, value: Any) -> Markup:
    """``value`` as ``time_tag`` writes it, relative to the moment the page is rendered (the clock is
    read once per page: every time on it is relative to the same now, and sixty cards read it once)."""
    return time_tag(value, context.get("rendered_at"))


def _timestamp(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value.replace("T", " ")[:16]
    return format_timestamp(value).replace("T", " ")[:16]


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device(user_agent: str | None) -> str:
    """``Chrome on Linux`` from a user agent (first match wins: Edge and Opera also say Chrome)."""
    ua = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in ua), None)
    system = next((name for token, name in _SYSTEMS if token in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (ua[:40] if ua else "Unknown device")
