"""Our ``/api/auth`` error codes against Better Auth's own tables, read from the pinned npm packages
(``error-codes.mjs``): a code both have means the same message, and an error raised with a Better
Auth message but no code (as Better Auth raises some) gets Better Auth's code for that message."""

from __future__ import annotations

import json
import shutil
import subprocess

from tenantry.auth.errors import BASE_ERROR_CODES, AuthError, register_error_codes
from tenantry.auth.plugins.admin import ADMIN_ERROR_CODES
from tenantry.auth.plugins.api_key.errors import API_KEY_ERROR_CODES
from tenantry.auth.plugins.passkey import ERROR_CODES as PASSKEY_ERROR_CODES
from tenantry.auth.plugins.two_factor.errors import ERROR_CODES as TWO_FACTOR_ERROR_CODES
from tenantry.tenancy.errors import ORGANIZATION_ERROR_CODES
from tests.compat.live import HERE, require_node

OURS = {
    "base": BASE_ERROR_CODES,
    "organization": ORGANIZATION_ERROR_CODES,
    "admin": ADMIN_ERROR_CODES,
    "two-factor": TWO_FACTOR_ERROR_CODES,
    "passkey": PASSKEY_ERROR_CODES,
    "api-key": API_KEY_ERROR_CODES,
}


def better_auth_tables() -> dict[str, dict[str, str]]:
    """``{table: {code: message}}`` as the installed Better Auth packages declare them."""
    node = shutil.which("node") or "node"
    result = subprocess.run([node, str(HERE / "error-codes.mjs")], cwd=HERE, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    tables: dict[str, dict[str, str]] = json.loads(result.stdout)
    return tables


def test_our_error_codes_are_better_auths() -> None:
    require_node()
    theirs = better_auth_tables()
    for name, ours in OURS.items():
        shared = ours.keys() & theirs[name].keys()
        assert len(shared) > 5, (name, sorted(theirs[name]))
        assert {c: ours[c] for c in shared} == {c: theirs[name][c] for c in shared}, name
    # As installing the plugins does: their messages raised without a code then get their codes.
    for table in OURS.values():
        register_error_codes(table)
    for name, declared in theirs.items():
        for code, message in declared.items():
            if code in OURS.get(name, {}):
                assert AuthError(400, None, message).code == code, (name, message)
    # A message Better Auth has no code for gets the one derived from its words.
    assert AuthError(400, None, "Email is the same").code == "EMAIL_IS_THE_SAME"
