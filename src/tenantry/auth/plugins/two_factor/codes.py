"""The secrets of two-factor: TOTP (RFC 6238), the encrypted secret, hashed backup codes, e-mailed codes.

- TOTP: SHA-1, 6 digits, 30 s steps (what every authenticator app and Better Auth use); a code is
  accepted one step early or late for clock drift, and the step it matched is reported so the
  caller can refuse the same code twice.
- The TOTP secret is stored encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from the
  app secret: a copy of the database alone does not give the codes away.
- Backup codes are stored as keyed hashes (HMAC-SHA256 under another derived key), never
  readable again: they are shown once, when made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
import time
from functools import lru_cache
from urllib.parse import quote

import orjson
import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DIGITS = 6
PERIOD = 30
DRIFT_STEPS = 1  # codes of the previous and next step are accepted too
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = string.ascii_letters + string.digits
_ENVELOPE = "v1:"


@lru_cache(maxsize=8)
def _derive(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from the app secret (each purpose gets its own)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"tenantry two-factor {purpose}".encode())
    return hkdf.derive(secret.encode())


def encrypt_secret(app_secret: str, totp_secret: str) -> str:
    """``v1:`` + base64url(nonce ‖ AES-GCM ciphertext) of the base32 TOTP secret."""
    nonce = os.urandom(12)
    sealed = AESGCM(_derive(app_secret, "totp-secret")).encrypt(nonce, totp_secret.encode(), None)
    return _ENVELOPE + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(app_secret: str, stored: str) -> str | None:
    """The TOTP secret, or None when the value was not sealed with this app secret (or was altered)."""
    if not stored.startswith(_ENVELOPE):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[len(_ENVELOPE) :])
        plain = AESGCM(_derive(app_secret, "totp-secret")).decrypt(raw[:12], raw[12:], None)
    except (ValueError, InvalidTag):
        return None
    return plain.decode()


def new_totp_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended key length)."""
    return pyotp.random_base32(32)


def totp_uri(totp_secret: str, issuer: str, account: str) -> str:
    """``otpauth://totp/<issuer>:<account>?secret=…&issuer=…&digits=6&period=30`` (Better Auth's order)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    return (
        f"otpauth://totp/{label}?secret={totp_secret}&issuer={quote(issuer, safe='')}&digits={DIGITS}&period={PERIOD}"
    )


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // PERIOD)


def match_totp(totp_secret: str, code: str, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (within the drift allowance), or None when it matches none."""
    candidate = code.strip().replace(" ", "")
    if len(candidate) != DIGITS or not candidate.isdigit():
        return None
    otp = pyotp.TOTP(totp_secret, digits=DIGITS, interval=PERIOD)
    step = current_step(now)
    found = None
    # Every candidate step is computed and compared in constant time: no early exit to time.
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        if hmac.compare_digest(otp.generate_otp(step + offset), candidate):
            found = step + offset
    return found


def totp_code(totp_secret: str, now: float | None = None) -> str:
    """The current code (the web test and the server-side ``generateTOTP`` use it)."""
    return str(pyotp.TOTP(totp_secret, digits=DIGITS, interval=PERIOD).at(now if now is not None else time.time()))


def new_backup_codes() -> list[str]:
    """Ten codes like ``TqC3B-3fbba`` (Better Auth's shape: 10 letters and digits, dash in the middle)."""
    codes = []
    for _ in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def hash_code(app_secret: str, code: str) -> str:
    """The keyed hash stored for a backup code (or an e-mailed code)."""
    key = _derive(app_secret, "codes")
    return base64.urlsafe_b64encode(hmac.new(key, code.strip().encode(), hashlib.sha256).digest()).decode().rstrip("=")


def seal_backup_codes(app_secret: str, codes: list[str]) -> str:
    """The column value: a JSON list of the codes' hashes."""
    return seal_hashes([hash_code(app_secret, c) for c in codes])


def seal_hashes(hashes: list[str]) -> str:
    """The column value for hashes already made (what is left after one code was used)."""
    return orjson.dumps(hashes).decode()


def open_backup_codes(stored: str) -> list[str]:
    """The stored hashes (an unreadable value counts as none left)."""
    try:
        value = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return []
    return [h for h in value if isinstance(h, str)] if isinstance(value, list) else []


def new_otp() -> str:
    """A six-digit e-mailed code."""
    return "".join(secrets.choice(string.digits) for _ in range(DIGITS))


def trust_token(app_secret: str, user_id: str, trust_id: str) -> str:
    """Better Auth's trust-device binding: base64url (unpadded) HMAC-SHA256 of ``userId!trustId``."""
    digest = hmac.new(app_secret.encode(), f"{user_id}!{trust_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
