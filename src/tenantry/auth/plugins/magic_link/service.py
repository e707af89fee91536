"""Magic links: mailing one (the same work for every address) and following it to a session.

Following a link signs in, creating the user (verified) for an unknown address. A user with a
second factor gets the second step instead (a departure from Better Auth, whose magic link skips
two-factor: with it, whoever reads the mailbox would get past the second factor).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from tenantry.auth.errors import AuthError
from tenantry.auth.plugin import SecondStep
from tenantry.auth.plugins.magic_link.settings import MagicLinkSettings
from tenantry.auth.plugins.magic_link.tokens import LinkRecord, identifier_of, new_token
from tenantry.auth.service import AuthContext, ClientInfo
from tenantry.auth.store import UserRecord, new_user_core
from tenantry.auth.validate import checked_email
from tenantry.core.metrics import SIGN_IN_FAILURES
from tenantry.db import Connection
from tenantry.db.errors import IntegrityViolation

SIGN_IN = "/sign-in/magic-link"
VERIFY = "/magic-link/verify"
METHOD = "magic-link"
MAIL_TEMPLATE = "magic_link"


@dataclass
class LinkOutcome:
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


class MagicLinks:
    """The magic links of one app."""

    def __init__(self, ctx: AuthContext, settings: MagicLinkSettings) -> None:
        self.ctx = ctx
        self.settings = settings

    async def send(
        self,
        client: ClientInfo,
        *,
        email: str,
        name: str | None = None,
        callback_url: str | None = None,
        new_user_callback_url: str | None = None,
        error_callback_url: str | None = None,
    ) -> None:
        """Mail a sign-in link to ``email``; nothing tells whether the address has an account.

        The URLs (already checked: relative or trusted) say where the link leads: after signing
        in, after a first sign-in, and when the link is refused. ``name`` is kept for the user the
        link creates (never put into the mail).
        """
        ctx = self.ctx
        address = checked_email(email).lower()
        ctx.check_fits("email", address)
        ctx.check_fits("name", name)  # checked now: the user is created from it when the link is followed
        token = new_token()
        params = {"token": token, "callbackURL": callback_url or "/"}
        if new_user_callback_url:
            params["newUserCallbackURL"] = new_user_callback_url
        if error_callback_url:
            params["errorCallbackURL"] = error_callback_url
        url = f"{ctx.auth_url}{VERIFY}?{urlencode(params, safe='', quote_via=quote)}"
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
                conn, "magic_link_request", client, user_id=user_id, resource_id=user_id, new={"email": address}
            )

    async def follow(self, client: ClientInfo, token: str) -> SecondStep | LinkOutcome:
        """Use the link ``token``: a session (or an error code), or the second step its user has."""
        identifier = identifier_of(token)
        outcome = await self._second_step(client, identifier)
        if outcome is None:
            outcome = await self._sign_in_with(client, identifier)
        if isinstance(outcome, LinkOutcome) and outcome.error is not None:
            SIGN_IN_FAILURES.labels(method="magic-link", reason=outcome.error).inc()
        return outcome

    async def _second_step(self, client: ClientInfo, identifier: str) -> SecondStep | LinkOutcome | None:
        """The second factor of a verified user who has one (two-factor): its answer instead of a
        session, with the link used up; None when the link may sign in at once.

        A departure from Better Auth, whose magic link skips two-factor: with it, whoever reads the
        mailbox would get past the second factor the user turned on. Unverified users are not
        asked (the link proves the address and removes what predates the proof).
        """
        ctx = self.ctx
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
            pending = await second_factor(client, user, False)
            if pending is not None:
                async with ctx.db.transaction() as conn:
                    consumed = await ctx.store.consume_verification(conn, identifier)
                if consumed is None:
                    return LinkOutcome(error="INVALID_TOKEN")  # another request used the link meanwhile
                return pending
        return None

    async def _sign_in_with(self, client: ClientInfo, identifier: str) -> LinkOutcome:
        """Consume the link and open a session, all in one transaction.

        A refusal after the link was read (a session guard's, such as a ban) rolls everything
        back, then the link is used up on its own, so it still works only once.
        """
        ctx = self.ctx
        for attempt in range(2):
            try:
                async with ctx.db.transaction() as conn:
                    return await self._use(ctx, conn, client, identifier)
            except _Invalid as invalid:
                refused = LinkOutcome(error=invalid.code, description=invalid.description)
            except AuthError as exc:
                refused = LinkOutcome(error=exc.code or "failed_to_create_session", description=exc.message)
            except IntegrityViolation:
                # Another link for the same new address created the user first: the retry finds it.
                if attempt == 0:
                    continue
                refused = LinkOutcome(error="failed_to_create_user")
            async with ctx.db.transaction() as conn:
                await ctx.store.consume_verification(conn, identifier)
            return refused
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    async def _use(self, ctx: AuthContext, conn: Connection, client: ClientInfo, identifier: str) -> LinkOutcome:
        consumed = await ctx.store.consume_verification(conn, identifier)
        record = LinkRecord.load(consumed[0]) if consumed is not None else None
        if consumed is None or record is None or consumed[1] < dt.datetime.now(dt.UTC):
            # Returned, not raised: deleting an expired row is worth committing.
            return LinkOutcome(error="INVALID_TOKEN")
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
        return LinkOutcome(session=session, user=user, is_new=is_new)

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
