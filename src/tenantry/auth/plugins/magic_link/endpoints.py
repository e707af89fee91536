"""``POST /sign-in/magic-link`` and ``GET /magic-link/verify``, as Better Auth's ``magicLink()``.

The request mails a one-time link and answers ``{"status": true}`` whatever the address: the
same work (one lookup, one row, one queued mail, one audit row) is done for registered and
unknown addresses, so neither the answer nor its timing tells them apart. Following the link
signs in, creating the user (verified) for an unknown address. ``MagicLinks`` holds the logic.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from tenantry.auth.errors import validation_error
from tenantry.auth.plugin import SecondStep
from tenantry.auth.plugins.magic_link.service import SIGN_IN, VERIFY, MagicLinks
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.validate import email, js_type, string

# Where a browser continues when the user has a second factor (the web app's page for it).
TWO_FACTOR_PAGE = "/two-factor"


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` set in its query (replacing values of the same names)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


class MagicLinkEndpoints:
    """The plugin's two endpoints, bound to its service."""

    def __init__(self, links: MagicLinks) -> None:
        self.links = links

    def all(self) -> tuple[Endpoint, ...]:
        """The endpoints to register under ``/api/auth``."""
        return (
            Endpoint("POST", SIGN_IN, self.sign_in),
            Endpoint("GET", VERIFY, self.verify),
        )

    # -- POST /sign-in/magic-link ---------------------------------------------------------------

    async def sign_in(self, req: AuthRequest) -> Reply:
        """Mail a sign-in link to ``email``; the answer never says whether it has an account.

        The router has already applied the sign-in CSRF rules to this path and refused untrusted
        ``callbackURL``/``newUserCallbackURL``/``errorCallbackURL`` values.
        """
        body = req.body
        address = email(body).lower()
        name = string(body, "name", required=False)
        callback = string(body, "callbackURL", required=False)
        new_user_callback = string(body, "newUserCallbackURL", required=False)
        error_callback = string(body, "errorCallbackURL", required=False)
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            # Better Auth passes it to its mail callback; here it is only validated, as there.
            raise validation_error("body.metadata", f"Invalid input: expected record, received {js_type(metadata)}")
        await self.links.send(
            req.client,
            email=address,
            name=name,
            callback_url=callback,
            new_user_callback_url=new_user_callback,
            error_callback_url=error_callback,
        )
        return Reply({"status": True})

    # -- GET /magic-link/verify -------------------------------------------------------------------

    async def verify(self, req: AuthRequest) -> Reply:
        """Use the link: a session cookie and a redirect to ``callbackURL`` (``newUserCallbackURL``
        for a new user), or ``{token, user, session}`` without ``callbackURL``. A used, expired or
        unknown link redirects to ``errorCallbackURL`` (else ``callbackURL``, else ``/``) with
        ``?error=INVALID_TOKEN``, as Better Auth does even without any callback."""
        ctx, query = req.ctx, req.query
        token = string(query, "token", where="query")
        assert token is not None
        callback = urljoin(ctx.base_url + "/", query.get("callbackURL") or "/")
        error_callback = urljoin(ctx.base_url + "/", query.get("errorCallbackURL") or callback)
        new_user_callback = urljoin(ctx.base_url + "/", query.get("newUserCallbackURL") or callback)
        outcome = await self.links.follow(req.client, token)
        if isinstance(outcome, SecondStep):
            if not query.get("callbackURL"):
                return Reply(outcome.body, cookies=list(outcome.cookies))  # {"twoFactorRedirect": true, ...}
            # A browser following the e-mailed link continues on the web app's two-factor page.
            target = callback.removeprefix(ctx.base_url) if callback.startswith(ctx.base_url + "/") else "/"
            step = f"{ctx.base_url}{TWO_FACTOR_PAGE}?from={quote(target, safe='')}"
            return Reply(redirect=step, cookies=list(outcome.cookies))
        if outcome.error is not None or outcome.session is None or outcome.user is None:
            params = {"error": outcome.error or "failed_to_create_session"}
            if outcome.description:
                params["error_description"] = outcome.description
            return Reply(redirect=with_query(error_callback, **params))
        session = outcome.session
        set_session = (session["token"], False)
        if not query.get("callbackURL"):
            body = {
                "token": session["token"],
                "user": ctx.shapes.user_json(outcome.user),
                "session": ctx.shapes.session_json(session),
            }
            return Reply(body, set_session=set_session)
        return Reply(redirect=new_user_callback if outcome.is_new else callback, set_session=set_session)
