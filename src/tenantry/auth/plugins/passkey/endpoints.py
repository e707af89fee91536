"""Better Auth's passkey endpoints under ``/api/auth/passkey/*``.

Registration (a fresh session required): ``GET /generate-register-options`` then ``POST
/verify-registration {response, name?, createSession?}``. Sign-in (no session needed; with one,
only its passkeys are allowed): ``GET /generate-authenticate-options`` then ``POST
/verify-authentication {response}``. Management: ``GET /list-user-passkeys``, ``POST
/delete-passkey {id}``, ``POST /update-passkey {id, name}``. WebAuthn itself (options, attestation
and assertion checks, the signature counter) is the ``webauthn`` library's work.
"""

from __future__ import annotations

from string import ascii_lowercase, digits
from typing import TYPE_CHECKING, Any

from tenantry.auth.crypto import generate_id
from tenantry.auth.errors import auth_error, validation_error
from tenantry.auth.plugins.passkey import challenge
from tenantry.auth.plugins.passkey.service import DELETE, LIST, NAME_LENGTH, UPDATE, Passkeys, passkey_name
from tenantry.auth.plugins.passkey.settings import RelyingParty
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.validate import boolean, js_type, string
from tenantry.core.metrics import SIGN_IN_FAILURES
from tenantry.db.errors import IntegrityViolation

if TYPE_CHECKING:
    from types import ModuleType

USER_HANDLE_ALPHABET = ascii_lowercase + digits  # Better Auth: generateRandomString(32, "a-z", "0-9")
ATTACHMENTS = ("platform", "cross-platform")


def _ceremony() -> ModuleType:
    """``tenantry.auth.plugins.passkey.ceremony``, loaded by the first ceremony (see its docstring)."""
    from tenantry.auth.plugins.passkey import ceremony

    return ceremony


def _reported_transports(response: dict[str, Any]) -> str:
    """``response.transports`` joined by commas, as Better Auth stores them (strings only)."""
    inner = response.get("response")
    listed = inner.get("transports") if isinstance(inner, dict) else None
    if not isinstance(listed, list):
        return ""
    return ",".join(t for t in listed if isinstance(t, str) and t.isascii() and len(t) <= 32)[:200]


class PasskeyEndpoints:
    """The handlers, sharing the relying party and the passkey store."""

    def __init__(self, passkeys: Passkeys, rp: RelyingParty) -> None:
        self.passkeys = passkeys
        self.store = passkeys.store
        self.rp = rp

    def endpoints(self) -> tuple[Endpoint, ...]:
        return (
            Endpoint("GET", "/passkey/generate-register-options", self.generate_register_options),
            Endpoint("POST", "/passkey/verify-registration", self.verify_registration),
            Endpoint("GET", "/passkey/generate-authenticate-options", self.generate_authenticate_options),
            # Earlier Better Auth clients asked for sign-in options with a POST.
            Endpoint("POST", "/passkey/generate-authenticate-options", self.generate_authenticate_options),
            Endpoint("POST", "/passkey/verify-authentication", self.verify_authentication),
            Endpoint("GET", LIST, self.list_user_passkeys),
            Endpoint("POST", DELETE, self.delete_passkey),
            Endpoint("POST", UPDATE, self.update_passkey),
        )

    # -- registration -------------------------------------------------------------------------

    async def generate_register_options(self, req: AuthRequest) -> Reply:
        current = await req.session(fresh=True)
        user = current.user
        attachment = req.query.get("authenticatorAttachment")
        if attachment is not None and attachment not in ATTACHMENTS:
            raise validation_error(
                "query.authenticatorAttachment", 'Invalid option: expected one of "platform"|"cross-platform"'
            )
        label = user.email or str(user.id)
        body = _ceremony().registration_options(
            self.rp,
            # A random user handle per ceremony, as Better Auth does: sign-in finds the user by credential.
            user_handle=generate_id(32, USER_HANDLE_ALPHABET).encode(),
            user_name=req.query.get("name") or label,
            display_name=label,
            exclude=await self.store.of_user(user.id),
            attachment=attachment,
        )
        body["extensions"] = {"credProps": True}  # as @simplewebauthn/server asks
        cookie = await challenge.remember(req, "registration", body["challenge"], str(user.id))
        return Reply(body, cookies=[cookie])

    async def verify_registration(self, req: AuthRequest) -> Reply:
        ctx = req.ctx
        current = await req.session(fresh=True)
        response = req.body.get("response")
        name = string(req.body, "name", required=False)
        name = name.strip() if name else None
        if name is not None and len(name) > NAME_LENGTH:
            raise validation_error("body.name", f"Too big: expected string to have <={NAME_LENGTH} characters")
        create_session = boolean(req.body, "createSession")
        pending = await challenge.consume(req, "registration")
        if pending.user_id != str(current.user.id):
            raise auth_error(401, "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY")
        if not isinstance(response, (dict, str)):
            raise auth_error(400, "FAILED_TO_VERIFY_REGISTRATION")
        ceremony = _ceremony()
        try:
            verified = ceremony.verify_registration(self.rp, response, pending.challenge)
        except ceremony.CeremonyFailed:
            # Better Auth answers 500 here; a response that does not verify is the client's doing.
            raise auth_error(400, "FAILED_TO_VERIFY_REGISTRATION") from None
        if await self.store.by_credential(verified.credential_id) is not None:
            raise auth_error(400, "PREVIOUSLY_REGISTERED")
        session = None
        try:
            async with ctx.db.transaction() as conn:
                passkey = await self.store.create(
                    conn,
                    user_id=current.user.id,
                    name=name or None,
                    public_key=verified.public_key,
                    credential_id=verified.credential_id,
                    counter=verified.sign_count,
                    device_type=verified.device_type,
                    backed_up=verified.backed_up,
                    transports=_reported_transports(response) if isinstance(response, dict) else "",
                    aaguid=verified.aaguid,
                )
                await ctx.audit(
                    conn,
                    "passkey_register",
                    req.client,
                    session=current.session,
                    resource_type="passkey",
                    resource_id=passkey.id,
                    new=passkey.audit_summary(),
                )
                if create_session:
                    session = await ctx.create_session(conn, current.user.id, req.client)
        except IntegrityViolation:
            # The same authenticator registered by a concurrent request.
            raise auth_error(400, "PREVIOUSLY_REGISTERED") from None
        if session is None:
            return Reply(passkey.json())
        body = {
            **passkey.json(),
            "session": ctx.shapes.session_json(session),
            "user": ctx.shapes.user_json(current.user),
        }
        return Reply(body, set_session=(session["token"], False))

    # -- sign-in ------------------------------------------------------------------------------

    async def generate_authenticate_options(self, req: AuthRequest) -> Reply:
        current = await req.optional_session()
        # Signed in: only this user's passkeys (Better Auth's re-authentication). Otherwise the
        # browser offers whichever discoverable passkey the user picks for this site.
        passkeys = await self.store.of_user(current.user.id) if current is not None else []
        body = _ceremony().authentication_options(self.rp, passkeys)
        if not passkeys:
            body.pop("allowCredentials", None)
        user_id = str(current.user.id) if current is not None else ""
        cookie = await challenge.remember(req, "authentication", body["challenge"], user_id)
        return Reply(body, cookies=[cookie])

    async def verify_authentication(self, req: AuthRequest) -> Reply:
        ctx = req.ctx
        response = req.body.get("response")
        if not isinstance(response, dict):
            received = "undefined" if "response" not in req.body else js_type(response)
            raise validation_error("body.response", f"Invalid input: expected record, received {received}")
        pending = await challenge.consume(req, "authentication")
        credential_id = response.get("id")
        passkey = await self.store.by_credential(credential_id) if isinstance(credential_id, str) else None
        if passkey is None:
            raise auth_error(401, "PASSKEY_NOT_FOUND")
        ceremony = _ceremony()
        try:
            new_count = ceremony.verify_authentication(self.rp, response, pending.challenge, passkey)
        except ceremony.CeremonyFailed as exc:
            failed = {"method": "passkey", "passkey_id": passkey.id, "reason": "AUTHENTICATION_FAILED"}
            await ctx.audit_alone(
                "sign_in_failed", req.client, user_id=passkey.user_id, resource_id=passkey.user_id, new=failed
            )
            SIGN_IN_FAILURES.labels(method="passkey", reason="AUTHENTICATION_FAILED").inc()
            raise auth_error(400, "AUTHENTICATION_FAILED") from exc
        user = await ctx.store.user_by_id(passkey.user_id)
        if user is None:
            raise auth_error(401, "PASSKEY_NOT_FOUND")
        async with ctx.db.transaction() as conn:
            # Conditional on the counter read above: two sign-ins with one assertion cannot both pass.
            if not await self.store.advance_counter(conn, passkey.id, passkey.counter, new_count):
                raise auth_error(400, "AUTHENTICATION_FAILED")
            session = await ctx.sign_in(conn, user.id, req.client, method="passkey", details={"passkey_id": passkey.id})
        body = {"session": ctx.shapes.session_json(session), "user": ctx.shapes.user_json(user)}
        return Reply(body, set_session=(session["token"], False))

    # -- management ---------------------------------------------------------------------------

    async def list_user_passkeys(self, req: AuthRequest) -> Reply:
        return Reply(await self.passkeys.of_user(await req.session()))

    async def delete_passkey(self, req: AuthRequest) -> Reply:
        current = await req.session()
        passkey_id = string(req.body, "id")
        assert passkey_id is not None
        await self.passkeys.delete(current, req.client, passkey_id)
        return Reply({"status": True})

    async def update_passkey(self, req: AuthRequest) -> Reply:
        current = await req.session()  # 401 before any complaint about the body
        name = string(req.body, "name")
        assert name is not None
        name = passkey_name(name)
        passkey_id = string(req.body, "id")
        assert passkey_id is not None
        return Reply({"passkey": await self.passkeys.rename(current, req.client, passkey_id, name)})
