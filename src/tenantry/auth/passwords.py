"""Password hashing: argon2id for new hashes; Better Auth's scrypt hashes verified and upgraded.

Hashing runs in a worker thread (argon2 and scrypt release the GIL), so a sign-in never blocks
other requests on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet (2024): argon2id, m = 19 MiB, t = 2, p = 1.
ARGON2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)

# Better Auth (@better-auth/utils/password): scrypt N=16384, r=16, p=1, dkLen=64 of the
# NFKC-normalised password, salt = the 32-character hex string itself; stored as "saltHex:keyHex".
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 16384, 16, 1, 64
SCRYPT_MAXMEM = 64 * 1024 * 1024


@functools.cache
def _dummy_hash() -> str:
    """A hash to check refused sign-ins against, made on first use: hashing costs tens of
    milliseconds, which every worker would otherwise spend at start."""
    return ARGON2.hash("tenantry-timing-equaliser")


def hash_password(password: str) -> str:
    """A new argon2id hash."""
    return ARGON2.hash(password)


def _verify_scrypt(stored: str, password: str) -> bool:
    salt, _, key = stored.partition(":")
    if len(salt) != 32 or len(key) != 2 * SCRYPT_DKLEN:
        return False
    try:
        expected = bytes.fromhex(key)
    except ValueError:
        return False
    derived = hashlib.scrypt(
        unicodedata.normalize("NFKC", password).encode(),
        salt=salt.encode(),
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=SCRYPT_DKLEN,
        maxmem=SCRYPT_MAXMEM,
    )
    return hmac.compare_digest(derived, expected)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (argon2id, or a Better Auth scrypt hash)."""
    if stored.startswith("$argon2"):
        try:
            return ARGON2.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    return _verify_scrypt(stored, password)


def needs_rehash(stored: str) -> bool:
    """Scrypt hashes (from Better Auth) and argon2 hashes with older parameters are upgraded at sign-in."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return ARGON2.check_needs_rehash(stored)
    except InvalidHashError:
        return True


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored: str | None, password: str) -> bool:
    """Verify off the event loop. With no stored hash, spend the same time and return False,
    so an unknown e-mail cannot be told from a wrong password by timing."""
    if stored is None:
        await asyncio.to_thread(verify_password, _dummy_hash(), password)
        return False
    return await asyncio.to_thread(verify_password, stored, password)
