"""``POST /sign-in/magic-link`` and ``GET /magic-link/verify``, as Better Auth's ``magicLink()``.

The request mails a one-time link and answers ``{"status": true}`` whatever the address: the
same work (one lookup, one row, one queued mail, one audit row) is done for registered and
unknown addresses, so neither the answer nor its timing tells them apart. Following the link
signs in, creating the user (verified) for an unknown address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from tenantry.auth.errors import AuthError, validation_error
from tenantry.auth.plugins.magic_link.settings import MagicLinkSettings
from tenantry.auth.plugins.magic_link.tokens import LinkRecord, identifier_of, new_token
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import AuthContext, ClientInfo
from tenantry.auth.store import UserRecord, new_user_core
from tenantry.auth.validate import email, js_type, string
from tenantry.db import Connection
from tenantry.db.errors import IntegrityViolation

METHOD = "magic-link"
MAIL_TEMPLATE = "magic_link"
# Where a browser continues when the user has a second factor (the web app's page for it).
TWO_FACTOR_PAGE = "/two-factor"


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` set in its query (replacing values of the same names)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


@dataclass
class SignedIn:
    """What following a link did: a session (and whether its user was just created), or an error code."""

    session: dict[str, Any] | None = None
    user: UserRecord | None = None
    is_new: bool = False
    error: str | None = None
    description: str | None = None


class _Invalid(Exception):
    """The link cannot sign anyone in; ``code`` goes into the error redirect."""

    def __init__(self, code: str, description: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.description = description


class MagicLinkEndpoints:
    """The plugin's two endpoints, bound to its settings."""

    def __init__(self, settings: MagicLinkSettings) -> None:
        self.settings = settings

    def all(self) -> tuple[Endpoint, ...]:
        """The endpoints to register under ``/api/auth``."""
        return (
            Endpoint("POST", "/sign-in/magic-link", self.sign_in),
            Endpoint("GET", "/magic-link/verify", self.verify),
        )

    # -- POST /sign-in/magic-link ---------------------------------------------------------------

    async def sign_in(self, req: AuthRequest) -> Reply:
        """Mail a sign-in link to ``email``; the answer never says whether it has an account.

        The router has already applied the sign-in CSRF rules to this path and refused untrusted
        ``callbackURL``/``newUserCallbackURL``/``errorCallbackURL`` values.
        """
        ctx, body = req.ctx, req.body
        address = email(body).lower()
        name = string(body, "name", required=False)
        callback = string(body, "callbackURL", required=False)
        new_user_callback = string(body, "newUserCallbackURL", required=False)
        error_callback = string(body, "errorCallbackURL", required=False)
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            # Better Auth passes it to its mail callback; here it is only validated, as there.
            raise validation_error("body.metadata", f"Invalid input: expected record, received {js_type(metadata)}")
        ctx.check_fits("email", address)
        ctx.check_fits("name", name)  # checked now: the user is created from it when the link is followed
        token = new_token()
        params = {"token": token, "callbackURL": callback or "/"}
        if new_user_callback:
            params["newUserCallbackURL"] = new_user_callback
        if error_callback:
            params["errorCallbackURL"] = error_callback
        url = f"{ctx.auth_url}/magic-link/verify?{urlencode(params, safe='', quote_via=quote)}"
        identifier = identifier_of(token)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.settings.expires_in)
        async with ctx.db.transaction() as conn:
            # Looked up for every address (the greeting uses the account's name): the same work either way.
            user = await ctx.store.user_by_email(address, conn)
            await ctx.store.create_verification(conn, identifier, LinkRecord(address, name).dump(), expires)
            if ctx.mailer is not None:
                # Never the requested name: whoever asks could put words into a mail to someone else.
                greeting = user.core.get("name") if user is not None else None
                await ctx.mailer.send(
                    conn,
                    template=MAIL_TEMPLATE,
                    to=address,
                    url=url,
                    context={"name": greeting or None, "email": address, "expires_in": self.settings.expires_in},
                    dedupe_key=identifier,
                )
            user_id = user.id if user is not None else None
            await ctx.audit(
                conn, "magic_link_request", req.client, user_id=user_id, resource_id=user_id, new={"email": address}
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
        identifier = identifier_of(token)
        pending = await self._second_step(req, identifier)
        if isinstance(pending, Reply):
            if not query.get("callbackURL"):
                return pending  # {"twoFactorRedirect": true, ...}, as /sign-in/email answers
            # A browser following the e-mailed link continues on the web app's two-factor page.
            target = callback.removeprefix(ctx.base_url) if callback.startswith(ctx.base_url + "/") else "/"
            step = f"{ctx.base_url}{TWO_FACTOR_PAGE}?from={quote(target, safe='')}"
            return Reply(redirect=step, cookies=pending.cookies, headers=pending.headers)
        outcome = pending or await self._sign_in_with(ctx, req.client, identifier)
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

    async def _second_step(self, req: AuthRequest, identifier: str) -> Reply | SignedIn | None:
        """The second factor of a verified user who has one (two-factor): its answer instead of a
        session, with the link used up; None when the link may sign in at once.

        A departure from Better Auth, whose magic link skips two-factor: with it, whoever reads the
        mailbox would get past the second factor the user turned on. Unverified users are not
        asked (the link proves the address and removes what predates the proof).
        """
        ctx = req.ctx
        if not ctx.hooks.second_factors:
            return None
        found = await ctx.store.peek_verification(identifier)
        record = LinkRecord.load(found[0]) if found is not None else None
        if found is None or record is None or found[1] < dt.datetime.now(dt.UTC):
            return None  # the sign-in reports the invalid link
        user = await ctx.store.user_by_email(record.email.lower())
        if user is None or not user.email_verified:
            return None
        try:
            await ctx.guard_session(None, user)
        except AuthError:
            return None  # refused (banned): the sign-in reports it, as its session guards refuse again
        for second_factor in ctx.hooks.second_factors:
            pending = await second_factor(req, user, False)
            if pending is not None:
                async with ctx.db.transaction() as conn:
                    consumed = await ctx.store.consume_verification(conn, identifier)
                if consumed is None:
                    return SignedIn(error="INVALID_TOKEN")  # another request used the link meanwhile
                return pending
        return None

    async def _sign_in_with(self, ctx: AuthContext, client: ClientInfo, identifier: str) -> SignedIn:
        """Consume the link and open a session, all in one transaction.

        A refusal after the link was read (a session guard's, such as a ban) rolls everything
        back, then the link is used up on its own, so it still works only once.
        """
        for attempt in range(2):
            try:
                async with ctx.db.transaction() as conn:
                    return await self._use(ctx, conn, client, identifier)
            except _Invalid as invalid:
                refused = SignedIn(error=invalid.code, description=invalid.description)
            except AuthError as exc:
                refused = SignedIn(error=exc.code or "failed_to_create_session", description=exc.message)
            except IntegrityViolation:
                # Another link for the same new address created the user first: the retry finds it.
                if attempt == 0:
                    continue
                refused = SignedIn(error="failed_to_create_user")
            async with ctx.db.transaction() as conn:
                await ctx.store.consume_verification(conn, identifier)
            return refused
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    async def _use(self, ctx: AuthContext, conn: Connection, client: ClientInfo, identifier: str) -> SignedIn:
        consumed = await ctx.store.consume_verification(conn, identifier)
        record = LinkRecord.load(consumed[0]) if consumed is not None else None
        if consumed is None or record is None or consumed[1] < dt.datetime.now(dt.UTC):
            # Returned, not raised: deleting an expired row is worth committing.
            return SignedIn(error="INVALID_TOKEN")
        address = record.email.lower()
        user = await ctx.store.user_by_email(address, conn)
        is_new = user is None
        if user is None:
            if self.settings.disable_sign_up:
                raise _Invalid("new_user_signup_disabled")
            user = await self._create_user(ctx, conn, client, address, record.name or "")
        elif not user.email_verified:
            user = await self._prove_address(ctx, conn, client, user)
        session = await ctx.sign_in(conn, user.id, client, method=METHOD)
        return SignedIn(session=session, user=user, is_new=is_new)

    async def _create_user(
        self, ctx: AuthContext, conn: Connection, client: ClientInfo, address: str, name: str
    ) -> UserRecord:
        """A user for an address the link has just proven (no password, no account row: as Better Auth)."""
        user = await ctx.store.create_user(conn, new_user_core(name, address, verified=True), {})
        registered = {"email": address, "name": name, "method": METHOD}
        await ctx.audit(conn, "sign_up", client, user_id=user.id, resource_id=user.id, new=registered)
        return user

    async def _prove_address(
        self, ctx: AuthContext, conn: Connection, client: ClientInfo, user: UserRecord
    ) -> UserRecord:
        """The mailbox owner of an unverified account: verify it, and drop what predates the proof.

        Anyone can register someone else's address with a password (or link a provider to it)
        and wait. As Better Auth's ``revokeUnprovenAccountAccess``, the owner's first proof
        removes those accounts and ends those sessions, so nothing set up before it survives.
        """
        accounts = await ctx.store.accounts_of(user.id, conn)
        for account in accounts:
            await ctx.store.delete_account(conn, account["id"])
        await ctx.store.delete_sessions_of(conn, user.id)
        updated = await ctx.store.update_user(
            conn, user.id, {"emailVerified": True, "updatedAt": dt.datetime.now(dt.UTC)}
        )
        if updated is None:
            raise _Invalid("user_not_found")
        removed = sorted({str(a["provider_id"]) for a in accounts})
        await ctx.audit(
            conn,
            "email_verify",
            client,
            user_id=user.id,
            resource_id=user.id,
            new={"method": METHOD, "removed": removed},
        )
        return updated
