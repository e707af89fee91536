"""The two-factor logic the endpoints, the pages and the sign-in hook share.

Enrolment (with a session): ``enable`` (password) answers the TOTP URI and ten backup codes but
turns nothing on; ``verify_totp`` with a first code does, and rotates the session.
``generate_backup_codes``, ``totp_uri`` and ``disable`` need the password too.

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
from dataclasses import dataclass, field
from typing import Any

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.crypto import generate_id
from tenantry.auth.errors import AuthError, auth_error
from tenantry.auth.passwords import verify_password_async
from tenantry.auth.plugin import SecondStep
from tenantry.auth.plugins.two_factor import codes
from tenantry.auth.plugins.two_factor.cookies import TRUST_DEVICE_MAX_AGE, TWO_FACTOR_MAX_AGE, TwoFactorCookies
from tenantry.auth.plugins.two_factor.errors import two_factor_error
from tenantry.auth.plugins.two_factor.store import Enrolment, TwoFactorStore
from tenantry.auth.service import AuthContext, ClientInfo, Current
from tenantry.auth.services.email_password import credential_account
from tenantry.auth.store import UserRecord
from tenantry.core.metrics import SIGN_IN_FAILURES
from tenantry.db import Connection

log = logging.getLogger("tenantry.auth.two_factor")

ENABLE = "/two-factor/enable"
TOTP_URI = "/two-factor/get-totp-uri"
VERIFY_TOTP = "/two-factor/verify-totp"
SEND_OTP = "/two-factor/send-otp"
VERIFY_OTP = "/two-factor/verify-otp"
VERIFY_BACKUP_CODE = "/two-factor/verify-backup-code"
GENERATE_BACKUP_CODES = "/two-factor/generate-backup-codes"
DISABLE = "/two-factor/disable"
BACKUP_CODE_RETRIES = 3  # a concurrent use of another code changed the list: read it again

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


@dataclass
class Enabled:
    """``enable``: e-mailed codes are on at once (the session rotated); TOTP waits for a first code."""

    method: str
    totp_uri: str | None = None
    backup_codes: list[str] | None = None
    cookies: CookieChanges = field(default_factory=CookieChanges)


@dataclass
class Verified:
    """A correct code: the session it leaves the caller with (its token; None when no session was
    wanted), the user as Better Auth shows it, and the cookies to set."""

    token: str | None
    user: dict[str, Any]
    cookies: CookieChanges = field(default_factory=CookieChanges)


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

    async def challenge(self, current: Current | None, client: ClientInfo) -> Challenge:
        """The caller's session, else the pending sign-in of the ``two_factor`` cookie (401 otherwise)."""
        if current is not None:
            return Challenge(current.user, current)
        identifier = self.cookies.read(client.cookies, self.cookies.two_factor)
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
        self, conn: Connection, client: ClientInfo, challenge: Challenge, method: str, trust_device: bool
    ) -> Verified:
        """The answer to a correct code: at sign-in the session (and the trusted-device cookie)."""
        ctx, user = self.ctx, challenge.user
        if challenge.current is not None:
            await ctx.audit(
                conn, "two_factor_verify", client, session=challenge.current.session, new={"method": method}
            )
            return Verified(challenge.current.session["token"], ctx.shapes.user_json(user))
        assert challenge.identifier is not None
        consumed = await ctx.store.consume_verification(conn, challenge.identifier)
        if consumed is None or consumed[0] != str(user.id) or consumed[1] < now():
            # Used by a concurrent request, or expired since the challenge was read.
            raise two_factor_error(401, "INVALID_TWO_FACTOR_COOKIE")
        # "Keep me signed in" was chosen at the password step; Better Auth carries it in this cookie.
        dont_remember = ctx.cookies.dont_remember(client.cookies)
        session = await ctx.sign_in(
            conn,
            user.id,
            client,
            method="email",
            dont_remember=dont_remember,
            details={"second_factor": method, "trust_device": trust_device},
        )
        cookies = [self.cookies.expire(self.cookies.two_factor)]
        if trust_device:
            cookies.append(await self.trust_device(conn, user))
        token = session["token"]
        return Verified(token, ctx.shapes.user_json(user), CookieChanges.new_session(token, dont_remember, cookies))

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

    async def second_factor(self, client: ClientInfo, user: UserRecord, dont_remember: bool) -> SecondStep | None:
        """After a correct password: None to sign in (no two-factor, or a trusted device), else the
        ``twoFactorRedirect`` answer with the ``two_factor`` cookie and no session."""
        if not user.plugin.get("twoFactorEnabled"):
            return None
        extra: list[str] = []
        raw = self.cookies.read(client.cookies, self.cookies.trust_device)
        if raw:
            if await self.trusted(raw, user):
                return None
            extra.append(self.cookies.expire(self.cookies.trust_device))
        identifier = f"2fa-{generate_id(20)}"
        async with self.ctx.db.transaction() as conn:
            expires = now() + dt.timedelta(seconds=TWO_FACTOR_MAX_AGE)
            await self.ctx.store.create_verification(conn, identifier, str(user.id), expires)
            await self.ctx.audit(
                conn, "two_factor_challenge", client, user_id=user.id, resource_id=user.id, new={"method": "email"}
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
        return SecondStep({"twoFactorRedirect": True, "twoFactorMethods": methods}, cookies)

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
        client: ClientInfo,
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
            conn, "two_factor_failed", client, session=session, user_id=user.id, resource_id=user.id, new=details
        )
        if locked_until is not None:
            await self.ctx.audit(
                conn,
                "two_factor_lockout",
                client,
                user_id=user.id,
                resource_id=user.id,
                new={"locked_until": locked_until.isoformat(), "failures": details["failures"]},
            )

    async def fail(
        self, client: ClientInfo, challenge: Challenge, enrolment: Enrolment | None, method: str, code: str
    ) -> AuthError:
        """Record a wrong code in its own transaction; the error to raise."""
        async with self.ctx.db.transaction() as conn:
            await self.record_failure(conn, client, challenge, enrolment, method, code)
        if challenge.sign_in:
            # The second step of a sign-in failed (``method``: totp, otp, backup-code).
            SIGN_IN_FAILURES.labels(method=f"two-factor-{method}", reason=code).inc()
        return two_factor_error(401, code)

    # -- enrolment helpers --------------------------------------------------------------------

    async def check_password(self, client: ClientInfo, user: UserRecord, password: str | None, step: str) -> None:
        """400 INVALID_PASSWORD unless ``password`` is the user's (users without one pass, as in
        Better Auth); a refusal is audited."""
        account = credential_account(await self.ctx.store.accounts_of(user.id))
        if account is None or not account.get("password"):
            return
        if password and await verify_password_async(account["password"], password):
            return
        await self.ctx.audit_alone(
            "two_factor_failed",
            client,
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

    # -- enrolment ----------------------------------------------------------------------------

    async def enable(
        self, current: Current, client: ClientInfo, password: str | None, *, issuer: str | None = None, method: str
    ) -> Enabled:
        """Start TOTP (``method`` "totp": the URI and ten backup codes; on once a first code is
        verified), or turn e-mailed codes on at once ("otp"). Needs the user's password."""
        ctx, user = self.ctx, current.user
        await self.check_password(client, user, password, "enable")
        if method == "otp":
            # E-mailed codes need no secret: on at once (Better Auth's ``method: "otp"``).
            if ctx.mailer is None:
                raise two_factor_error(400, "OTP_NOT_CONFIGURED")
            async with ctx.db.transaction() as conn:
                await ctx.store.update_user(conn, user.id, {"twoFactorEnabled": True})
                session = await self.rotate(conn, current, client)
                await ctx.audit(conn, "two_factor_enable", client, session=session, new={"method": "otp"})
            return Enabled("otp", cookies=CookieChanges.new_session(session["token"], current.dont_remember))
        existing = await self.store.of_user(user.id)
        if existing is not None and existing.verified:
            raise two_factor_error(400, "TOTP_ALREADY_ENABLED")
        secret = codes.new_totp_secret()
        backup = codes.new_backup_codes()
        async with ctx.db.transaction() as conn:
            await self.store.start(
                conn, user.id, codes.encrypt_secret(self.secret, secret), codes.seal_backup_codes(self.secret, backup)
            )
            await ctx.audit(conn, "two_factor_enrolment", client, session=current.session, resource_id=user.id, new={})
        return Enabled("totp", codes.totp_uri(secret, issuer or self.issuer, user.email), backup)

    async def totp_uri(self, current: Current, client: ClientInfo, password: str | None) -> str:
        """The ``otpauth://`` URI of the caller's enrolment again (password needed)."""
        enrolment = await self.store.of_user(current.user.id)
        if enrolment is None:
            raise two_factor_error(400, "TOTP_NOT_ENABLED")
        await self.check_password(client, current.user, password, "get-totp-uri")
        return self.uri(enrolment, current.user)

    async def generate_backup_codes(self, current: Current, client: ClientInfo, password: str | None) -> list[str]:
        """Ten new backup codes replacing all the old ones (password needed)."""
        ctx, user = self.ctx, current.user
        if not user.plugin.get("twoFactorEnabled"):
            raise two_factor_error(400, "TWO_FACTOR_NOT_ENABLED")
        await self.check_password(client, user, password, "generate-backup-codes")
        enrolment = await self.store.of_user(user.id)
        if enrolment is None:
            raise two_factor_error(400, "TWO_FACTOR_NOT_ENABLED")
        backup = codes.new_backup_codes()
        async with ctx.db.transaction() as conn:
            await self.store.replace_backup_codes(
                conn, enrolment.id, None, codes.seal_backup_codes(self.secret, backup)
            )
            await ctx.audit(
                conn, "two_factor_backup_codes", client, session=current.session, resource_id=user.id, new={}
            )
        return backup

    async def disable(self, current: Current, client: ClientInfo, password: str | None) -> CookieChanges:
        """Turn two-factor off (password needed): the enrolment and this device's trust go, the session rotates."""
        ctx, user = self.ctx, current.user
        await self.check_password(client, user, password, "disable")
        others: list[str] = []
        trust = self.cookies.read(client.cookies, self.cookies.trust_device)
        async with ctx.db.transaction() as conn:
            await ctx.store.update_user(conn, user.id, {"twoFactorEnabled": False})
            await self.store.delete(conn, user.id)
            session = await self.rotate(conn, current, client)
            if trust:
                trust_id = trust.partition("!")[2]
                if trust_id.startswith("trust-device-"):
                    await ctx.store.consume_verification(conn, trust_id)
                others.append(self.cookies.expire(self.cookies.trust_device))
            await ctx.audit(conn, "two_factor_disable", client, session=session, resource_id=user.id, new={})
        return CookieChanges.new_session(session["token"], current.dont_remember, others)

    # -- verification -------------------------------------------------------------------------

    async def verify_totp(self, current: Current | None, client: ClientInfo, code: str, trust: bool) -> Verified:
        """A TOTP code: confirms a pending enrolment (two-factor is on from then), or finishes the
        challenge (at sign-in: the session, and the device trusted when asked)."""
        ctx = self.ctx
        challenge = await self.challenge(current, client)
        user = challenge.user
        enrolment = await self.enrolment(challenge, "TOTP_NOT_ENABLED")
        step = codes.match_totp(self.totp_secret(enrolment, user), code)
        if step is None:
            raise await self.fail(client, challenge, enrolment, "totp", "INVALID_CODE")
        verified = None
        async with ctx.db.transaction() as conn:
            # A code is good once: the same step (or an earlier one) again is a replay.
            if await self.store.use_totp_step(conn, enrolment.id, step):
                if challenge.sign_in:
                    await self.store.reset_failures(conn, enrolment.id)
                signed_in = challenge.current
                if signed_in is not None and not enrolment.verified:
                    # The first code confirms the enrolment: two-factor is on from now.
                    await self.store.confirm(conn, enrolment.id)
                    updated = await ctx.store.update_user(conn, user.id, {"twoFactorEnabled": True})
                    assert updated is not None
                    # Better Auth rotates the session when this turns two-factor on (not for a
                    # user who already had e-mailed codes on).
                    rotated = None
                    if not user.plugin.get("twoFactorEnabled"):
                        rotated = await self.rotate(conn, signed_in, client)
                    session = rotated or signed_in.session
                    await ctx.audit(conn, "two_factor_enable", client, session=session, new={"method": "totp"})
                    changes = (
                        CookieChanges.new_session(rotated["token"], signed_in.dont_remember)
                        if rotated
                        else CookieChanges()
                    )
                    verified = Verified(session["token"], ctx.shapes.user_json(updated), changes)
                else:
                    verified = await self.finish(conn, client, challenge, "totp", trust)
        if verified is None:
            raise await self.fail(client, challenge, enrolment, "totp", "INVALID_CODE")
        return verified

    async def send_otp(self, current: Current | None, client: ClientInfo) -> None:
        """Mail a six-digit code (valid 3 minutes, replacing any earlier one) to the challenged user."""
        ctx = self.ctx
        if ctx.mailer is None:
            raise two_factor_error(400, "OTP_NOT_CONFIGURED")
        challenge = await self.challenge(current, client)
        user = challenge.user
        otp = codes.new_otp()
        identifier = f"2fa-otp-{challenge.key}"
        async with ctx.db.transaction() as conn:
            await ctx.store.consume_verification(conn, identifier)
            expires = now() + dt.timedelta(seconds=OTP_EXPIRES_IN)
            await ctx.store.create_verification(conn, identifier, f"{codes.hash_code(self.secret, otp)}:0", expires)
            await ctx.mail(
                conn,
                template="two_factor_otp",
                to=user.email,
                url=f"{ctx.base_url}/two-factor?method=otp",
                user=user,
                dedupe_key=f"two-factor-otp:{generate_id()}",
                extra={"otp": otp, "expires_in": OTP_EXPIRES_IN},
            )
            session = challenge.current.session if challenge.current else None
            await ctx.audit(conn, "two_factor_otp_sent", client, session=session, user_id=user.id, resource_id=user.id)

    async def verify_otp(self, current: Current | None, client: ClientInfo, code: str, trust: bool) -> Verified:
        """An e-mailed code (five wrong tries use it up). For a signed-in user without two-factor
        it turns e-mailed codes on; otherwise it finishes the challenge."""
        ctx = self.ctx
        challenge = await self.challenge(current, client)
        user = challenge.user
        enrolment = await self.store.of_user(user.id) if challenge.sign_in else None
        self.check_lock(challenge, enrolment)
        identifier = f"2fa-otp-{challenge.key}"
        outcome = "wrong"
        verified = None
        async with ctx.db.transaction() as conn:
            consumed = await ctx.store.consume_verification(conn, identifier)
            if consumed is None or consumed[1] < now():
                outcome = "expired"
            else:
                stored, _, counter = consumed[0].rpartition(":")
                attempts = int(counter) if counter.isdigit() else OTP_ATTEMPTS
                if attempts >= OTP_ATTEMPTS:
                    outcome = "exhausted"
                elif hmac.compare_digest(stored, codes.hash_code(self.secret, code)):
                    outcome = "ok"
                    if enrolment is not None:
                        await self.store.reset_failures(conn, enrolment.id)
                    signed_in = challenge.current
                    if signed_in is not None and not user.plugin.get("twoFactorEnabled"):
                        # A code mailed to a signed-in user turns e-mailed two-factor on (Better Auth).
                        updated = await ctx.store.update_user(conn, user.id, {"twoFactorEnabled": True})
                        assert updated is not None
                        session = await self.rotate(conn, signed_in, client)
                        await ctx.audit(conn, "two_factor_enable", client, session=session, new={"method": "otp"})
                        changes = CookieChanges.new_session(session["token"], signed_in.dont_remember)
                        verified = Verified(session["token"], ctx.shapes.user_json(updated), changes)
                    else:
                        verified = await self.finish(conn, client, challenge, "otp", trust)
                else:
                    # Put the code back with one more wrong try counted, and count toward the lockout.
                    await ctx.store.create_verification(conn, identifier, f"{stored}:{attempts + 1}", consumed[1])
                    await self.record_failure(conn, client, challenge, enrolment, "otp", "INVALID_CODE")
        if outcome == "expired":
            raise two_factor_error(400, "OTP_HAS_EXPIRED")
        if outcome == "exhausted":
            raise two_factor_error(400, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE")
        if verified is None:
            raise two_factor_error(401, "INVALID_CODE")
        return verified

    async def verify_backup_code(
        self, current: Current | None, client: ClientInfo, code: str, trust: bool, *, no_session: bool = False
    ) -> Verified:
        """A backup code, once: it is removed from the list in the transaction that signs in
        (``no_session``: used up at sign-in without making a session, Better Auth's disableSession)."""
        ctx = self.ctx
        challenge = await self.challenge(current, client)
        user = challenge.user
        enrolment = await self.enrolment(challenge, "BACKUP_CODES_NOT_ENABLED")
        wanted = codes.hash_code(self.secret, code)
        for _ in range(BACKUP_CODE_RETRIES):
            stored = codes.open_backup_codes(enrolment.backup_codes)
            # Compare with every stored hash in constant time, not stopping at the match.
            matches = [hmac.compare_digest(h, wanted) for h in stored]
            if not any(matches):
                break
            remaining = [h for h, hit in zip(stored, matches, strict=True) if not hit]
            async with ctx.db.transaction() as conn:
                sealed = codes.seal_hashes(remaining)
                if await self.store.replace_backup_codes(conn, enrolment.id, enrolment.backup_codes, sealed):
                    if challenge.sign_in:
                        await self.store.reset_failures(conn, enrolment.id)
                    session = challenge.current.session if challenge.current else None
                    await ctx.audit(
                        conn,
                        "two_factor_backup_code",
                        client,
                        session=session,
                        user_id=user.id,
                        resource_id=user.id,
                        new={"remaining": len(remaining)},
                    )
                    if no_session and challenge.current is None:
                        return Verified(None, ctx.shapes.user_json(user))
                    return await self.finish(conn, client, challenge, "backup_code", trust)
            # Another request changed the list in between: read it again.
            fresh = await self.store.of_user(user.id)
            if fresh is None:
                break
            enrolment = fresh
        raise await self.fail(client, challenge, enrolment, "backup_code", "INVALID_BACKUP_CODE")
