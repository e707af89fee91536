"""The two-factor logic the endpoints and the sign-in hook share.

A verification runs against a *challenge*: either the caller's session (enrolment, or a signed-in
user confirming a code) or, at sign-in, the ``two_factor`` cookie naming the pending user. A
correct code finishes the challenge in one transaction with everything it changes (the code used
up, the failure count reset, the session created, the audit row); a wrong one is counted toward
the account lockout in a transaction of its own, since the request itself fails.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from tenantry.auth.crypto import generate_id
from tenantry.auth.endpoints.email_password import credential_account
from tenantry.auth.errors import AuthError, auth_error
from tenantry.auth.passwords import verify_password_async
from tenantry.auth.plugins.two_factor import codes
from tenantry.auth.plugins.two_factor.cookies import TRUST_DEVICE_MAX_AGE, TWO_FACTOR_MAX_AGE, TwoFactorCookies
from tenantry.auth.plugins.two_factor.errors import two_factor_error
from tenantry.auth.plugins.two_factor.store import Enrolment, TwoFactorStore
from tenantry.auth.router import AuthRequest, Reply
from tenantry.auth.service import AuthContext, ClientInfo, Current
from tenantry.auth.store import UserRecord
from tenantry.db import Connection

log = logging.getLogger("tenantry.auth.two_factor")

OTP_EXPIRES_IN = 180  # Better Auth's default OTP period: 3 minutes
OTP_ATTEMPTS = 5  # wrong tries per e-mailed code before a new one is needed
MAX_FAILURES = 5  # wrong codes in a row at sign-in before the account is locked
LOCK_DURATION = dt.timedelta(minutes=15)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Challenge:
    """Whom a code is being checked for, and how they got here."""

    user: UserRecord
    current: Current | None  # the caller's session, when there is one
    identifier: str | None = None  # the ``two_factor`` cookie's verification row, at sign-in

    @property
    def sign_in(self) -> bool:
        return self.current is None

    @property
    def key(self) -> str:
        """What an e-mailed code is bound to (Better Auth's key: the cookie, or ``userId!sessionId``)."""
        if self.identifier is not None:
            return self.identifier
        assert self.current is not None
        return f"{self.user.id}!{self.current.session['id']}"


class TwoFactorService:
    """Two-factor for one app: its store, its cookies and the authentication context."""

    def __init__(self, ctx: AuthContext, store: TwoFactorStore, issuer: str) -> None:
        self.ctx = ctx
        self.store = store
        self.cookies = TwoFactorCookies(ctx.cookies)
        self.issuer = issuer

    @property
    def secret(self) -> str:
        return self.ctx.secret

    # -- challenges ---------------------------------------------------------------------------

    async def challenge(self, req: AuthRequest) -> Challenge:
        """The caller's session, else the pending sign-in of the ``two_factor`` cookie (401 otherwise)."""
        current = await req.optional_session()
        if current is not None:
            return Challenge(current.user, current)
        identifier = self.cookies.read(req.request, self.cookies.two_factor)
        if not identifier:
            raise two_factor_error(401, "INVALID_TWO_FACTOR_COOKIE")
        found = await self.ctx.store.peek_verification(identifier)
        if found is None or found[1] < now():
            raise two_factor_error(401, "INVALID_TWO_FACTOR_COOKIE")
        user = await self.ctx.store.user_by_id(found[0])
        if user is None:
            raise two_factor_error(401, "INVALID_TWO_FACTOR_COOKIE")
        return Challenge(user, None, identifier)

    async def finish(
        self, conn: Connection, req: AuthRequest, challenge: Challenge, method: str, trust_device: bool
    ) -> Reply:
        """The answer to a correct code: at sign-in the session (and the trusted-device cookie)."""
        ctx, user = self.ctx, challenge.user
        if challenge.current is not None:
            await ctx.audit(
                conn, "two_factor_verify", req.client, session=challenge.current.session, new={"method": method}
            )
            return Reply({"token": challenge.current.session["token"], "user": ctx.shapes.user_json(user)})
        assert challenge.identifier is not None
        consumed = await ctx.store.consume_verification(conn, challenge.identifier)
        if consumed is None or consumed[0] != str(user.id) or consumed[1] < now():
            # Used by a concurrent request, or expired since the challenge was read.
            raise two_factor_error(401, "INVALID_TWO_FACTOR_COOKIE")
        # "Keep me signed in" was chosen at the password step; Better Auth carries it in this cookie.
        dont_remember = ctx.cookies.dont_remember(req.request)
        session = await ctx.sign_in(
            conn,
            user.id,
            req.client,
            method="email",
            dont_remember=dont_remember,
            details={"second_factor": method, "trust_device": trust_device},
        )
        cookies = [self.cookies.expire(self.cookies.two_factor)]
        if trust_device:
            cookies.append(await self.trust_device(conn, user))
        reply_body = {"token": session["token"], "user": ctx.shapes.user_json(user)}
        return Reply(reply_body, set_session=(session["token"], dont_remember), cookies=cookies)

    async def trust_device(self, conn: Connection, user: UserRecord) -> str:
        """A new trusted-device record for ``user`` and its cookie (30 days)."""
        trust_id = f"trust-device-{generate_id(32)}"
        expires = now() + dt.timedelta(seconds=TRUST_DEVICE_MAX_AGE)
        await self.ctx.store.create_verification(conn, trust_id, str(user.id), expires)
        token = codes.trust_token(self.secret, str(user.id), trust_id)
        return self.cookies.set_signed(self.cookies.trust_device, f"{token}!{trust_id}", TRUST_DEVICE_MAX_AGE)

    async def trusted(self, raw: str, user: UserRecord) -> bool:
        """Whether the ``trust_device`` cookie value is a live record bound to ``user``."""
        token, _, trust_id = raw.partition("!")
        if not token or not trust_id.startswith("trust-device-"):
            return False
        if not hmac.compare_digest(token, codes.trust_token(self.secret, str(user.id), trust_id)):
            return False
        found = await self.ctx.store.peek_verification(trust_id)
        return found is not None and found[0] == str(user.id) and found[1] > now()

    # -- sign-in ------------------------------------------------------------------------------

    async def second_factor(self, req: AuthRequest, user: UserRecord, dont_remember: bool) -> Reply | None:
        """After a correct password: None to sign in (no two-factor, or a trusted device), else the
        ``twoFactorRedirect`` answer with the ``two_factor`` cookie and no session."""
        if not user.plugin.get("twoFactorEnabled"):
            return None
        extra: list[str] = []
        raw = self.cookies.read(req.request, self.cookies.trust_device)
        if raw:
            if await self.trusted(raw, user):
                return None
            extra.append(self.cookies.expire(self.cookies.trust_device))
        identifier = f"2fa-{generate_id(20)}"
        async with self.ctx.db.transaction() as conn:
            expires = now() + dt.timedelta(seconds=TWO_FACTOR_MAX_AGE)
            await self.ctx.store.create_verification(conn, identifier, str(user.id), expires)
            await self.ctx.audit(
                conn, "two_factor_challenge", req.client, user_id=user.id, resource_id=user.id, new={"method": "email"}
            )
        methods = []
        enrolment = await self.store.of_user(user.id)
        if enrolment is not None and enrolment.verified:
            methods.append("totp")
        if self.ctx.mailer is not None:
            methods.append("otp")
        remember = (
            self.cookies.set_signed(self.cookies.dont_remember, "true", None)
            if dont_remember
            else self.cookies.expire(self.cookies.dont_remember)
        )
        cookies = [
            *self.cookies.session_clearing(),
            remember,
            self.cookies.set_signed(self.cookies.two_factor, identifier, TWO_FACTOR_MAX_AGE),
            *extra,
        ]
        return Reply({"twoFactorRedirect": True, "twoFactorMethods": methods}, cookies=cookies)

    # -- failures and the lockout -------------------------------------------------------------

    async def enrolment(self, challenge: Challenge, not_enabled: str) -> Enrolment:
        """The enrolment a TOTP or backup code is checked against: 400 ``not_enabled`` when there is
        none (at sign-in, none verified yet), 429 while the account is locked."""
        enrolment = await self.store.of_user(challenge.user.id)
        if enrolment is None or (challenge.sign_in and not enrolment.verified):
            raise two_factor_error(400, not_enabled)
        self.check_lock(challenge, enrolment)
        return enrolment

    def check_lock(self, challenge: Challenge, enrolment: Enrolment | None) -> None:
        """429 while the account is locked (sign-in only: a session already proved the person)."""
        if not challenge.sign_in or enrolment is None or not enrolment.locked(now()):
            return
        assert enrolment.locked_until is not None
        retry = max(1, int((enrolment.locked_until - now()).total_seconds()))
        raise two_factor_error(429, "ACCOUNT_TEMPORARILY_LOCKED", **{"x-retry-after": str(retry)})

    async def record_failure(
        self,
        conn: Connection,
        req: AuthRequest,
        challenge: Challenge,
        enrolment: Enrolment | None,
        method: str,
        reason: str,
    ) -> None:
        """Count a wrong code toward the lockout (at sign-in) and audit it, on ``conn``."""
        details: dict[str, Any] = {"method": method, "reason": reason, "sign_in": challenge.sign_in}
        locked_until = None
        if challenge.sign_in and enrolment is not None:
            count, locked_until = await self.store.record_failure(
                conn, enrolment.id, now(), MAX_FAILURES, LOCK_DURATION
            )
            details["failures"] = count
        user = challenge.user
        session = challenge.current.session if challenge.current else None
        await self.ctx.audit(
            conn, "two_factor_failed", req.client, session=session, user_id=user.id, resource_id=user.id, new=details
        )
        if locked_until is not None:
            await self.ctx.audit(
                conn,
                "two_factor_lockout",
                req.client,
                user_id=user.id,
                resource_id=user.id,
                new={"locked_until": locked_until.isoformat(), "failures": details["failures"]},
            )

    async def fail(
        self, req: AuthRequest, challenge: Challenge, enrolment: Enrolment | None, method: str, code: str
    ) -> AuthError:
        """Record a wrong code in its own transaction; the error to raise."""
        async with self.ctx.db.transaction() as conn:
            await self.record_failure(conn, req, challenge, enrolment, method, code)
        return two_factor_error(401, code)

    # -- enrolment helpers --------------------------------------------------------------------

    async def check_password(self, req: AuthRequest, user: UserRecord, password: str | None, step: str) -> None:
        """400 INVALID_PASSWORD unless ``password`` is the user's (users without one pass, as in
        Better Auth); a refusal is audited."""
        account = credential_account(await self.ctx.store.accounts_of(user.id))
        if account is None or not account.get("password"):
            return
        if password and await verify_password_async(account["password"], password):
            return
        await self.ctx.audit_alone(
            "two_factor_failed",
            req.client,
            user_id=user.id,
            resource_id=user.id,
            new={"method": "password", "reason": "INVALID_PASSWORD", "step": step},
        )
        raise auth_error(400, "INVALID_PASSWORD")

    async def rotate(self, conn: Connection, current: Current, client: ClientInfo) -> dict[str, Any]:
        """Replace the caller's session by a new one (same remember choice and active organization)."""
        ctx = self.ctx
        session = await ctx.create_session(conn, current.user.id, client, dont_remember=current.dont_remember)
        active = current.session.get("active_organization_id")
        if "active_organization_id" in session and session["active_organization_id"] != active:
            await ctx.store.set_active_organization(conn, session["token"], active)
            session["active_organization_id"] = active
        await ctx.store.delete_session(conn, current.session["token"])
        return session

    def totp_secret(self, enrolment: Enrolment, user: UserRecord) -> str:
        """The decrypted TOTP secret (400 TOTP_NOT_CONFIGURED when it was sealed under another secret)."""
        secret = codes.decrypt_secret(self.secret, enrolment.secret)
        if secret is None:
            # The app secret was rotated since the enrolment: it cannot be used any more.
            log.error("two-factor secret of user %s cannot be decrypted with the current secret", user.id)
            raise two_factor_error(400, "TOTP_NOT_CONFIGURED")
        return secret

    def uri(self, enrolment: Enrolment, user: UserRecord, issuer: str | None = None) -> str:
        """The ``otpauth://`` URI authenticator apps read (as a QR code or typed in)."""
        return codes.totp_uri(self.totp_secret(enrolment, user), issuer or self.issuer, user.email)
