"""Better Auth's passkey endpoints under ``/api/auth/passkey/*``.

Registration (a fresh session required): ``GET /generate-register-options`` then ``POST
/verify-registration {response, name?, createSession?}``. Sign-in (no session needed; with one,
only its passkeys are allowed): ``GET /generate-authenticate-options`` then ``POST
/verify-authentication {response}``. Management: ``GET /list-user-passkeys``, ``POST
/delete-passkey {id}``, ``POST /update-passkey {id, name}``. WebAuthn itself (options, attestation
and assertion checks, the signature counter) is the ``webauthn`` library's work.
"""

from __future__ import annotations

import base64
from string import ascii_lowercase, digits
from typing import Any

import orjson
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tenantry.auth.crypto import generate_id
from tenantry.auth.errors import auth_error, validation_error
from tenantry.auth.plugins.passkey import challenge
from tenantry.auth.plugins.passkey.service import DELETE, LIST, NAME_LENGTH, UPDATE, Passkeys, passkey_name
from tenantry.auth.plugins.passkey.settings import RelyingParty
from tenantry.auth.plugins.passkey.store import Passkey
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.validate import boolean, js_type, string
from tenantry.core.metrics import SIGN_IN_FAILURES
from tenantry.db.errors import IntegrityViolation

USER_HANDLE_ALPHABET = ascii_lowercase + digits  # Better Auth: generateRandomString(32, "a-z", "0-9")
# What a malformed response makes the library raise besides its own exceptions.
MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError, IndexError)
ATTACHMENTS = ("platform", "cross-platform")
# The library spells these in snake case; Better Auth stores SimpleWebAuthn's camel case.
DEVICE_TYPES = {CredentialDeviceType.SINGLE_DEVICE: "singleDevice", CredentialDeviceType.MULTI_DEVICE: "multiDevice"}


def _transports(stored: str | None) -> list[AuthenticatorTransport] | None:
    """The stored comma-separated transports the library knows (others are left out, not refused)."""
    known = {t.value for t in AuthenticatorTransport}
    found = [AuthenticatorTransport(t) for t in (stored or "").split(",") if t in known]
    return found or None


def _descriptors(passkeys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id), transports=_transports(p.transports))
        for p in passkeys
    ]


def _options_json(options: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(options_to_json(options))
    return data


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
        options = generate_registration_options(
            rp_id=self.rp.id,
            rp_name=self.rp.name,
            # A random user handle per ceremony, as Better Auth does: sign-in finds the user by credential.
            user_id=generate_id(32, USER_HANDLE_ALPHABET).encode(),
            user_name=req.query.get("name") or label,
            user_display_name=label,
            exclude_credentials=_descriptors(await self.store.of_user(user.id)),
            authenticator_selection=AuthenticatorSelectionCriteria(
                authenticator_attachment=AuthenticatorAttachment(attachment) if attachment else None,
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
        body = _options_json(options)
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
        try:
            verified = verify_registration_response(
                credential=response,
                expected_challenge=base64url_to_bytes(pending.challenge),
                expected_rp_id=self.rp.id,
                expected_origin=list(self.rp.origins),
                require_user_verification=False,
            )
        except MALFORMED:
            # Better Auth answers 500 here; a response that does not verify is the client's doing.
            raise auth_error(400, "FAILED_TO_VERIFY_REGISTRATION") from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if await self.store.by_credential(credential_id) is not None:
            raise auth_error(400, "PREVIOUSLY_REGISTERED")
        session = None
        try:
            async with ctx.db.transaction() as conn:
                passkey = await self.store.create(
                    conn,
                    user_id=current.user.id,
                    name=name or None,
                    public_key=base64.b64encode(verified.credential_public_key).decode(),
                    credential_id=credential_id,
                    counter=verified.sign_count,
                    device_type=DEVICE_TYPES[verified.credential_device_type],
                    backed_up=verified.credential_backed_up,
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
        options = generate_authentication_options(
            rp_id=self.rp.id,
            allow_credentials=_descriptors(passkeys),
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        body = _options_json(options)
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
        try:
            verified = verify_authentication_response(
                credential=response,
                expected_challenge=base64url_to_bytes(pending.challenge),
                expected_rp_id=self.rp.id,
                expected_origin=list(self.rp.origins),
                credential_public_key=base64.b64decode(passkey.public_key),
                # The library refuses a counter that did not grow (a cloned authenticator).
                credential_current_sign_count=passkey.counter,
                require_user_verification=False,
            )
        except MALFORMED as exc:
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
            if not await self.store.advance_counter(conn, passkey.id, passkey.counter, verified.new_sign_count):
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
