"""The WebAuthn ceremonies themselves (options, attestation and assertion checks): the ``webauthn`` library's work.

Kept apart from the endpoints, which load this module on the first passkey ceremony: the library
(with its CBOR and ASN.1 parsers) is an eighth of a worker's memory, and most requests never need it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
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

from tenantry.auth.plugins.passkey.settings import RelyingParty
from tenantry.auth.plugins.passkey.store import Passkey

# What a malformed response makes the library raise besides its own exceptions.
MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError, IndexError)
# The library spells these in snake case; Better Auth stores SimpleWebAuthn's camel case.
DEVICE_TYPES = {CredentialDeviceType.SINGLE_DEVICE: "singleDevice", CredentialDeviceType.MULTI_DEVICE: "multiDevice"}


class CeremonyFailed(Exception):
    """The authenticator's response does not verify (or is not a WebAuthn response at all)."""


@dataclass(frozen=True)
class Registered:
    """A verified new credential, in the forms Better Auth stores."""

    credential_id: str  # base64url
    public_key: str  # base64
    sign_count: int
    device_type: str
    backed_up: bool
    aaguid: str


def registration_options(
    rp: RelyingParty,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    exclude: list[Passkey],
    attachment: str | None,
) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` as JSON, for a new passkey of this user."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        exclude_credentials=_descriptors(exclude),
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment(attachment) if attachment else None,
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return _json(options)


def authentication_options(rp: RelyingParty, allow: list[Passkey]) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptions`` as JSON, allowing ``allow`` (any discoverable passkey when empty)."""
    options = generate_authentication_options(
        rp_id=rp.id, allow_credentials=_descriptors(allow), user_verification=UserVerificationRequirement.PREFERRED
    )
    return _json(options)


def verify_registration(rp: RelyingParty, response: dict[str, Any] | str, challenge: str) -> Registered:
    """The credential an attestation ``response`` to ``challenge`` registers, or ``CeremonyFailed``."""
    try:
        verified = verify_registration_response(
            credential=response,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_verification=False,
        )
    except MALFORMED as exc:
        raise CeremonyFailed(str(exc)) from exc
    return Registered(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=base64.b64encode(verified.credential_public_key).decode(),
        sign_count=verified.sign_count,
        device_type=DEVICE_TYPES[verified.credential_device_type],
        backed_up=verified.credential_backed_up,
        aaguid=verified.aaguid,
    )


def verify_authentication(rp: RelyingParty, response: dict[str, Any], challenge: str, passkey: Passkey) -> int:
    """The new signature counter of a valid assertion by ``passkey``, or ``CeremonyFailed``.

    The library refuses a counter that did not grow (a cloned authenticator).
    """
    try:
        verified = verify_authentication_response(
            credential=response,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=base64.b64decode(passkey.public_key),
            credential_current_sign_count=passkey.counter,
            require_user_verification=False,
        )
    except MALFORMED as exc:
        raise CeremonyFailed(str(exc)) from exc
    return int(verified.new_sign_count)


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


def _json(options: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(options_to_json(options))
    return data
