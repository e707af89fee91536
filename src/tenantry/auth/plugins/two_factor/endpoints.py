"""The ``/two-factor/*`` endpoints of Better Auth's ``twoFactor()`` plugin, as ``twoFactorClient()`` calls them.

Enrolment (with a session): ``enable`` (password) answers the TOTP URI and ten backup codes but
turns nothing on; ``verify-totp`` with a first code does, and rotates the session. At sign-in (the
``two_factor`` cookie): ``verify-totp``, ``send-otp`` + ``verify-otp``, ``verify-backup-code``
create the session. ``get-totp-uri``, ``generate-backup-codes`` and ``disable`` need the password.
"""

from __future__ import annotations

import datetime as dt
import hmac

from tenantry.auth.crypto import generate_id
from tenantry.auth.errors import validation_error
from tenantry.auth.plugins.two_factor import codes
from tenantry.auth.plugins.two_factor.errors import two_factor_error
from tenantry.auth.plugins.two_factor.service import OTP_ATTEMPTS, OTP_EXPIRES_IN, TwoFactorService, now
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.validate import boolean, string

BACKUP_CODE_RETRIES = 3  # a concurrent use of another code changed the list: read it again


class TwoFactorEndpoints:
    """The handlers, bound to one app's two-factor service."""

    def __init__(self, service: TwoFactorService) -> None:
        self.s = service

    def all(self) -> tuple[Endpoint, ...]:
        return (
            Endpoint("POST", "/two-factor/enable", self.enable),
            Endpoint("POST", "/two-factor/get-totp-uri", self.get_totp_uri),
            Endpoint("POST", "/two-factor/verify-totp", self.verify_totp),
            Endpoint("POST", "/two-factor/send-otp", self.send_otp),
            Endpoint("POST", "/two-factor/verify-otp", self.verify_otp),
            Endpoint("POST", "/two-factor/verify-backup-code", self.verify_backup_code),
            Endpoint("POST", "/two-factor/generate-backup-codes", self.generate_backup_codes),
            Endpoint("POST", "/two-factor/disable", self.disable),
        )

    # -- enrolment ----------------------------------------------------------------------------

    async def enable(self, req: AuthRequest) -> Reply:
        """``{password, issuer?, method?}`` -> ``{method, totpURI, backupCodes}``; active once verified."""
        s, ctx = self.s, self.s.ctx
        current = await req.session()
        password = string(req.body, "password")
        issuer = string(req.body, "issuer", required=False)
        method = string(req.body, "method", required=False) or "totp"
        if method not in ("totp", "otp"):
            raise validation_error("body.method", 'Invalid option: expected one of "otp"|"totp"')
        user = current.user
        await s.check_password(req, user, password, "enable")
        if method == "otp":
            # E-mailed codes need no secret: on at once (Better Auth's ``method: "otp"``).
            if ctx.mailer is None:
                raise two_factor_error(400, "OTP_NOT_CONFIGURED")
            async with ctx.db.transaction() as conn:
                await ctx.store.update_user(conn, user.id, {"twoFactorEnabled": True})
                session = await s.rotate(conn, current, req.client)
                await ctx.audit(conn, "two_factor_enable", req.client, session=session, new={"method": "otp"})
            return Reply({"method": "otp"}, set_session=(session["token"], current.dont_remember))
        existing = await s.store.of_user(user.id)
        if existing is not None and existing.verified:
            raise two_factor_error(400, "TOTP_ALREADY_ENABLED")
        secret = codes.new_totp_secret()
        backup = codes.new_backup_codes()
        async with ctx.db.transaction() as conn:
            await s.store.start(
                conn, user.id, codes.encrypt_secret(s.secret, secret), codes.seal_backup_codes(s.secret, backup)
            )
            await ctx.audit(
                conn, "two_factor_enrolment", req.client, session=current.session, resource_id=user.id, new={}
            )
        uri = codes.totp_uri(secret, issuer or s.issuer, user.email)
        return Reply({"method": "totp", "totpURI": uri, "backupCodes": backup})

    async def get_totp_uri(self, req: AuthRequest) -> Reply:
        s = self.s
        current = await req.session()
        password = string(req.body, "password")
        enrolment = await s.store.of_user(current.user.id)
        if enrolment is None:
            raise two_factor_error(400, "TOTP_NOT_ENABLED")
        await s.check_password(req, current.user, password, "get-totp-uri")
        return Reply({"totpURI": s.uri(enrolment, current.user)})

    async def generate_backup_codes(self, req: AuthRequest) -> Reply:
        """Ten new codes replacing all the old ones."""
        s, ctx = self.s, self.s.ctx
        current = await req.session()
        password = string(req.body, "password")
        user = current.user
        if not user.plugin.get("twoFactorEnabled"):
            raise two_factor_error(400, "TWO_FACTOR_NOT_ENABLED")
        await s.check_password(req, user, password, "generate-backup-codes")
        enrolment = await s.store.of_user(user.id)
        if enrolment is None:
            raise two_factor_error(400, "TWO_FACTOR_NOT_ENABLED")
        backup = codes.new_backup_codes()
        async with ctx.db.transaction() as conn:
            await s.store.replace_backup_codes(conn, enrolment.id, None, codes.seal_backup_codes(s.secret, backup))
            await ctx.audit(
                conn, "two_factor_backup_codes", req.client, session=current.session, resource_id=user.id, new={}
            )
        return Reply({"status": True, "backupCodes": backup})

    async def disable(self, req: AuthRequest) -> Reply:
        """Turn two-factor off (password): the enrolment and this device's trust go, the session rotates."""
        s, ctx = self.s, self.s.ctx
        current = await req.session()
        password = string(req.body, "password")
        user = current.user
        await s.check_password(req, user, password, "disable")
        cookies: list[str] = []
        trust = s.cookies.read(req.request, s.cookies.trust_device)
        async with ctx.db.transaction() as conn:
            await ctx.store.update_user(conn, user.id, {"twoFactorEnabled": False})
            await s.store.delete(conn, user.id)
            session = await s.rotate(conn, current, req.client)
            if trust:
                trust_id = trust.partition("!")[2]
                if trust_id.startswith("trust-device-"):
                    await ctx.store.consume_verification(conn, trust_id)
                cookies.append(s.cookies.expire(s.cookies.trust_device))
            await ctx.audit(conn, "two_factor_disable", req.client, session=session, resource_id=user.id, new={})
        return Reply({"status": True}, set_session=(session["token"], current.dont_remember), cookies=cookies)

    # -- verification -------------------------------------------------------------------------

    async def verify_totp(self, req: AuthRequest) -> Reply:
        s, ctx = self.s, self.s.ctx
        code = string(req.body, "code")
        trust = bool(boolean(req.body, "trustDevice"))
        assert code is not None
        challenge = await s.challenge(req)
        user = challenge.user
        enrolment = await s.enrolment(challenge, "TOTP_NOT_ENABLED")
        step = codes.match_totp(s.totp_secret(enrolment, user), code)
        if step is None:
            raise await s.fail(req, challenge, enrolment, "totp", "INVALID_CODE")
        reply = None
        async with ctx.db.transaction() as conn:
            # A code is good once: the same step (or an earlier one) again is a replay.
            if await s.store.use_totp_step(conn, enrolment.id, step):
                if challenge.sign_in:
                    await s.store.reset_failures(conn, enrolment.id)
                current = challenge.current
                if current is not None and not enrolment.verified:
                    # The first code confirms the enrolment: two-factor is on from now.
                    await s.store.confirm(conn, enrolment.id)
                    updated = await ctx.store.update_user(conn, user.id, {"twoFactorEnabled": True})
                    assert updated is not None
                    # Better Auth rotates the session when this turns two-factor on (not for a
                    # user who already had e-mailed codes on).
                    rotated = None
                    if not user.plugin.get("twoFactorEnabled"):
                        rotated = await s.rotate(conn, current, req.client)
                    session = rotated or current.session
                    await ctx.audit(conn, "two_factor_enable", req.client, session=session, new={"method": "totp"})
                    reply = Reply(
                        {"token": session["token"], "user": ctx.shapes.user_json(updated)},
                        set_session=(rotated["token"], current.dont_remember) if rotated else None,
                    )
                else:
                    reply = await s.finish(conn, req, challenge, "totp", trust)
        if reply is None:
            raise await s.fail(req, challenge, enrolment, "totp", "INVALID_CODE")
        return reply

    async def send_otp(self, req: AuthRequest) -> Reply:
        """Mail a six-digit code (valid 3 minutes, replacing any earlier one) to the challenged user."""
        s, ctx = self.s, self.s.ctx
        if ctx.mailer is None:
            raise two_factor_error(400, "OTP_NOT_CONFIGURED")
        challenge = await s.challenge(req)
        user = challenge.user
        otp = codes.new_otp()
        identifier = f"2fa-otp-{challenge.key}"
        async with ctx.db.transaction() as conn:
            await ctx.store.consume_verification(conn, identifier)
            expires = now() + dt.timedelta(seconds=OTP_EXPIRES_IN)
            await ctx.store.create_verification(conn, identifier, f"{codes.hash_code(s.secret, otp)}:0", expires)
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
            await ctx.audit(
                conn, "two_factor_otp_sent", req.client, session=session, user_id=user.id, resource_id=user.id
            )
        return Reply({"status": True})

    async def verify_otp(self, req: AuthRequest) -> Reply:
        s, ctx = self.s, self.s.ctx
        code = string(req.body, "code")
        trust = bool(boolean(req.body, "trustDevice"))
        assert code is not None
        challenge = await s.challenge(req)
        user = challenge.user
        enrolment = await s.store.of_user(user.id) if challenge.sign_in else None
        s.check_lock(challenge, enrolment)
        identifier = f"2fa-otp-{challenge.key}"
        outcome = "wrong"
        reply = None
        async with ctx.db.transaction() as conn:
            consumed = await ctx.store.consume_verification(conn, identifier)
            if consumed is None or consumed[1] < now():
                outcome = "expired"
            else:
                stored, _, counter = consumed[0].rpartition(":")
                attempts = int(counter) if counter.isdigit() else OTP_ATTEMPTS
                if attempts >= OTP_ATTEMPTS:
                    outcome = "exhausted"
                elif hmac.compare_digest(stored, codes.hash_code(s.secret, code)):
                    outcome = "ok"
                    if enrolment is not None:
                        await s.store.reset_failures(conn, enrolment.id)
                    current = challenge.current
                    if current is not None and not user.plugin.get("twoFactorEnabled"):
                        # A code mailed to a signed-in user turns e-mailed two-factor on (Better Auth).
                        updated = await ctx.store.update_user(conn, user.id, {"twoFactorEnabled": True})
                        assert updated is not None
                        session = await s.rotate(conn, current, req.client)
                        await ctx.audit(conn, "two_factor_enable", req.client, session=session, new={"method": "otp"})
                        reply = Reply(
                            {"token": session["token"], "user": ctx.shapes.user_json(updated)},
                            set_session=(session["token"], current.dont_remember),
                        )
                    else:
                        reply = await s.finish(conn, req, challenge, "otp", trust)
                else:
                    # Put the code back with one more wrong try counted, and count toward the lockout.
                    await ctx.store.create_verification(conn, identifier, f"{stored}:{attempts + 1}", consumed[1])
                    await s.record_failure(conn, req, challenge, enrolment, "otp", "INVALID_CODE")
        if outcome == "expired":
            raise two_factor_error(400, "OTP_HAS_EXPIRED")
        if outcome == "exhausted":
            raise two_factor_error(400, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE")
        if reply is None:
            raise two_factor_error(401, "INVALID_CODE")
        return reply

    async def verify_backup_code(self, req: AuthRequest) -> Reply:
        """A backup code, once: it is removed from the list in the transaction that signs in."""
        s, ctx = self.s, self.s.ctx
        code = string(req.body, "code")
        trust = bool(boolean(req.body, "trustDevice"))
        no_session = bool(boolean(req.body, "disableSession"))
        assert code is not None
        challenge = await s.challenge(req)
        user = challenge.user
        enrolment = await s.enrolment(challenge, "BACKUP_CODES_NOT_ENABLED")
        wanted = codes.hash_code(s.secret, code)
        for _ in range(BACKUP_CODE_RETRIES):
            stored = codes.open_backup_codes(enrolment.backup_codes)
            # Compare with every stored hash in constant time, not stopping at the match.
            matches = [hmac.compare_digest(h, wanted) for h in stored]
            if not any(matches):
                break
            remaining = [h for h, hit in zip(stored, matches, strict=True) if not hit]
            async with ctx.db.transaction() as conn:
                sealed = codes.seal_hashes(remaining)
                if await s.store.replace_backup_codes(conn, enrolment.id, enrolment.backup_codes, sealed):
                    if challenge.sign_in:
                        await s.store.reset_failures(conn, enrolment.id)
                    session = challenge.current.session if challenge.current else None
                    await ctx.audit(
                        conn,
                        "two_factor_backup_code",
                        req.client,
                        session=session,
                        user_id=user.id,
                        resource_id=user.id,
                        new={"remaining": len(remaining)},
                    )
                    if no_session and challenge.current is None:
                        # Better Auth's disableSession: the code is used up, no session is made.
                        return Reply({"token": None, "user": ctx.shapes.user_json(user)})
                    return await s.finish(conn, req, challenge, "backup_code", trust)
            # Another request changed the list in between: read it again.
            fresh = await s.store.of_user(user.id)
            if fresh is None:
                break
            enrolment = fresh
        raise await s.fail(req, challenge, enrolment, "backup_code", "INVALID_BACKUP_CODE")
