"""The passkey table: Better Auth's ``passkey`` model, one row per registered WebAuthn credential.

Columns (Better Auth's names): ``id``, ``name``, ``publicKey`` (the COSE public key, standard
base64), ``userId``, ``credentialID`` (base64url), ``counter`` (the authenticator's signature
counter), ``deviceType`` (``singleDevice``/``multiDevice``), ``backedUp``, ``transports``
(comma-separated), ``createdAt``, ``aaguid``. The ``tenantry`` preset names the table
``auth_passkeys`` with snake_case columns; ``better-auth`` names it ``passkey`` with Better Auth's
own column names and DDL, so a Better Auth database is served unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.auth.tables import AuthTables, Preset, id_column_type
from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import SQLITE_NOW, UTCTimestamp

TABLE_NAMES: dict[Preset, str] = {"tenantry": "auth_passkeys", "better-auth": "passkey"}

# Column key -> Better Auth's column name (camel_case would spell credentialID "credentialId").
BETTER_AUTH_COLUMNS = {
    "id": "id",
    "name": "name",
    "public_key": "publicKey",
    "user_id": "userId",
    "credential_id": "credentialID",
    "counter": "counter",
    "device_type": "deviceType",
    "backed_up": "backedUp",
    "transports": "transports",
    "created_at": "createdAt",
    "aaguid": "aaguid",
}
EXTENSION = "passkey"


@dataclass(frozen=True)
class PasskeyTables:
    """The passkey table and the preset it was named by."""

    passkeys: sa.Table
    preset: Preset


def passkey_tables(ts: TableSet, preset: Preset, auth: AuthTables) -> PasskeyTables:
    """Add the passkey table to ``ts`` (its rows go with their user: ``ON DELETE CASCADE``)."""
    ba = preset == "better-auth"
    name = TABLE_NAMES[preset]

    def column(key: str, type_: Any, *args: Any, **kwargs: Any) -> sa.Column[Any]:
        return sa.Column(BETTER_AUTH_COLUMNS[key] if ba else key, type_, *args, key=key, **kwargs)

    text_id = sa.Text() if ba else sa.String(64)
    fk_name = f"{name}_userId_fkey" if ba else db_name("fk", name, "user_id")
    user_fk = sa.ForeignKey(f"{auth.users.name}.id", ondelete="CASCADE", name=conv(fk_name))
    now = sa.text(SQLITE_NOW) if ts.dialect == "sqlite" else sa.text("CURRENT_TIMESTAMP")
    table = sa.Table(
        name,
        ts.metadata,
        column("id", text_id, primary_key=True),
        column("name", sa.Text(), nullable=True),
        column("public_key", sa.Text(), nullable=False),
        column("user_id", id_column_type(auth.user_id_type, preset), user_fk, nullable=False),
        column("credential_id", sa.Text(), nullable=False),
        column("counter", sa.Integer() if ba else sa.BigInteger(), nullable=False),
        column("device_type", sa.Text(), nullable=False),
        column("backed_up", sa.Boolean(create_constraint=False), nullable=False),
        column("transports", sa.Text(), nullable=True),
        # Better Auth leaves createdAt optional; Tenantry always sets it.
        column("created_at", UTCTimestamp(), nullable=ba, server_default=None if ba else now),
        column("aaguid", sa.Text(), nullable=True),
    )
    user_col = BETTER_AUTH_COLUMNS["user_id"] if ba else "user_id"
    sa.Index(db_name(name, user_col, "idx"), table.c.user_id)
    if ba:
        # Better Auth's own DDL: a plain index (uniqueness is checked in code).
        sa.Index(db_name(name, "credentialID", "idx"), table.c.credential_id)
    else:
        # One row per credential: a second registration of the same authenticator is refused.
        sa.Index(db_name("uq", name, "credential_id"), table.c.credential_id, unique=True)
    return PasskeyTables(passkeys=table, preset=preset)
