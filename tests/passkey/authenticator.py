"""A software WebAuthn authenticator: what a browser hands the page after ``navigator.credentials``.

It keeps EC P-256 credentials (ES256), answers ``create`` with a ``none`` attestation and ``get``
with a signed assertion, as JSON in the shape ``@simplewebauthn/browser`` posts (base64url fields).
The tests can make it lie: another challenge or origin, a counter that goes back.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# Flags of authenticatorData: user present, user verified, backup eligible/state, attested data.
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes.fromhex("0123456789abcdef0123456789abcdef")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Credential:
    """One passkey held by the authenticator."""

    id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    counter: int = 0

    @property
    def id_b64(self) -> str:
        return b64url(self.id)

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


@dataclass
class Authenticator:
    """A platform authenticator for the relying party ``rp_id`` at ``origin``."""

    rp_id: str
    origin: str
    credentials: list[Credential] = field(default_factory=list)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return orjson.dumps(data)

    def _auth_data(self, flags: int, counter: int, attested: bytes = b"", rp_id: str | None = None) -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", counter) + attested

    def create(
        self,
        options: dict[str, Any],
        *,
        challenge: str | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        again: Credential | None = None,
    ) -> dict[str, Any]:
        """A new credential for ``options`` (from ``generate-register-options``): the registration
        response. ``again`` registers an existing credential once more instead."""
        if again is None:
            user_handle = base64.urlsafe_b64decode(options["user"]["id"] + "==")
            key = ec.generate_private_key(ec.SECP256R1())
            credential = Credential(id=os.urandom(16), key=key, user_handle=user_handle)
            self.credentials.append(credential)
        else:
            credential = again
        client_data = self._client_data("webauthn.create", challenge or options["challenge"], origin)
        attested = AAGUID + struct.pack(">H", len(credential.id)) + credential.id + credential.cose_key()
        auth_data = self._auth_data(UP | UV | BE | BS | AT, credential.counter, attested, rp_id)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": credential.id_b64,
            "rawId": credential.id_b64,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        credential: Credential | None = None,
        *,
        challenge: str | None = None,
        origin: str | None = None,
        counter: int | None = None,
    ) -> dict[str, Any]:
        """An assertion for ``options`` (from ``generate-authenticate-options``) by ``credential``
        (default: the newest); the counter moves on by one unless ``counter`` is given."""
        credential = credential or self.credentials[-1]
        credential.counter = credential.counter + 1 if counter is None else counter
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        auth_data = self._auth_data(UP | UV | BE | BS, credential.counter)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": credential.id_b64,
            "rawId": credential.id_b64,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
