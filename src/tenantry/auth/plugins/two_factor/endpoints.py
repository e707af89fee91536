"""The ``/two-factor/*`` endpoints of Better Auth's ``twoFactor()`` plugin, as ``twoFactorClient()`` calls them.

Enrolment (with a session): ``enable`` (password) answers the TOTP URI and ten backup codes but
turns nothing on; ``verify-totp`` with a first code does, and rotates the session. At sign-in (the
``two_factor`` cookie): ``verify-totp``, ``send-otp`` + ``verify-otp``, ``verify-backup-code``
create the session. ``get-totp-uri``, ``generate-backup-codes`` and ``disable`` need the password.
Each handler reads its body and calls ``TwoFactorService``, which holds the logic.
"""

from __future__ import annotations

from tenantry.auth.errors import validation_error
from tenantry.auth.plugins.two_factor import service as steps
from tenantry.auth.plugins.two_factor.service import TwoFactorService, Verified
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.validate import boolean, string


def _verified(verified: Verified) -> Reply:
    return Reply.of({"token": verified.token, "user": verified.user}, verified.cookies)


def _code(req: AuthRequest) -> tuple[str, bool]:
    code = string(req.body, "code")
    trust = bool(boolean(req.body, "trustDevice"))
    assert code is not None
    return code, trust


class TwoFactorEndpoints:
    """The handlers, bound to one app's two-factor service."""

    def __init__(self, service: TwoFactorService) -> None:
        self.s = service

    def all(self) -> tuple[Endpoint, ...]:
        return (
            Endpoint("POST", steps.ENABLE, self.enable),
            Endpoint("POST", steps.TOTP_URI, self.get_totp_uri),
            Endpoint("POST", steps.VERIFY_TOTP, self.verify_totp),
            Endpoint("POST", steps.SEND_OTP, self.send_otp),
            Endpoint("POST", steps.VERIFY_OTP, self.verify_otp),
            Endpoint("POST", steps.VERIFY_BACKUP_CODE, self.verify_backup_code),
            Endpoint("POST", steps.GENERATE_BACKUP_CODES, self.generate_backup_codes),
            Endpoint("POST", steps.DISABLE, self.disable),
        )

    # -- enrolment ----------------------------------------------------------------------------

    async def enable(self, req: AuthRequest) -> Reply:
        """``{password, issuer?, method?}`` -> ``{method, totpURI, backupCodes}``; active once verified."""
        current = await req.session()
        password = string(req.body, "password")
        issuer = string(req.body, "issuer", required=False)
        method = string(req.body, "method", required=False) or "totp"
        if method not in ("totp", "otp"):
            raise validation_error("body.method", 'Invalid option: expected one of "otp"|"totp"')
        enabled = await self.s.enable(current, req.client, password, issuer=issuer, method=method)
        if enabled.method == "otp":
            return Reply.of({"method": "otp"}, enabled.cookies)
        return Reply({"method": "totp", "totpURI": enabled.totp_uri, "backupCodes": enabled.backup_codes})

    async def get_totp_uri(self, req: AuthRequest) -> Reply:
        current = await req.session()
        password = string(req.body, "password")
        return Reply({"totpURI": await self.s.totp_uri(current, req.client, password)})

    async def generate_backup_codes(self, req: AuthRequest) -> Reply:
        """Ten new codes replacing all the old ones."""
        current = await req.session()
        password = string(req.body, "password")
        backup = await self.s.generate_backup_codes(current, req.client, password)
        return Reply({"status": True, "backupCodes": backup})

    async def disable(self, req: AuthRequest) -> Reply:
        """Turn two-factor off (password): the enrolment and this device's trust go, the session rotates."""
        current = await req.session()
        password = string(req.body, "password")
        return Reply.of({"status": True}, await self.s.disable(current, req.client, password))

    # -- verification -------------------------------------------------------------------------

    async def verify_totp(self, req: AuthRequest) -> Reply:
        code, trust = _code(req)
        return _verified(await self.s.verify_totp(await req.optional_session(), req.client, code, trust))

    async def send_otp(self, req: AuthRequest) -> Reply:
        """Mail a six-digit code (valid 3 minutes, replacing any earlier one) to the challenged user."""
        await self.s.send_otp(await req.optional_session(), req.client)
        return Reply({"status": True})

    async def verify_otp(self, req: AuthRequest) -> Reply:
        code, trust = _code(req)
        return _verified(await self.s.verify_otp(await req.optional_session(), req.client, code, trust))

    async def verify_backup_code(self, req: AuthRequest) -> Reply:
        """A backup code, once: it is removed from the list in the transaction that signs in."""
        code, trust = _code(req)
        no_session = bool(boolean(req.body, "disableSession"))
        current = await req.optional_session()
        verified = await self.s.verify_backup_code(current, req.client, code, trust, no_session=no_session)
        return _verified(verified)
