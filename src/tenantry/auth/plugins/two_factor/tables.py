"""The two-factor table (Better Auth's ``twoFactor`` model) and the organizations' requirement flag.

One row per user: the TOTP secret (encrypted), the backup codes (hashed), whether the enrolment
was confirmed with a first code (``verified``), the failure counter and lock of the account
lockout, and the time step of the last accepted TOTP code (ours: it refuses a code used twice).
Named as the presets name tables: ``twoFactor`` with camelCase columns in ``better-auth``,
``auth_two_factors`` with snake_case columns in ``tenantry``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.auth.tables import AuthTables, Preset, column_name, id_column_type, preset_column
from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import UTCTimestamp

TABLE_NAMES: dict[Preset, str] = {"tenantry": "auth_two_factors", "better-auth": "twoFactor"}
REQUIRE_KEY = "require_two_factor"


@dataclass(frozen=True)
class TwoFactorTables:
    """The plugin's table and, with organizations, the organizations table carrying the requirement."""

    two_factors: sa.Table
    users: sa.Table
    organizations: sa.Table | None


def two_factor_tables(ts: TableSet, preset: Preset, auth: AuthTables) -> TwoFactorTables:
    """Add the ``twoFactor`` table, and the ``require_two_factor`` flag when organizations exist."""
    ba = preset == "better-auth"
    name = TABLE_NAMES[preset]
    users = auth.users
    fk_name = f"{name}_userId_fkey" if ba else db_name("fk", name, "user_id")
    boolean = sa.Boolean(create_constraint=False)
    table = sa.Table(
        name,
        ts.metadata,
        preset_column(preset, "id", sa.Text() if ba else sa.String(64), primary_key=True),
        preset_column(preset, "secret", sa.Text(), nullable=False),
        preset_column(preset, "backup_codes", sa.Text(), nullable=False),
        preset_column(
            preset,
            "user_id",
            id_column_type(auth.user_id_type, preset),
            sa.ForeignKey(f"{users.name}.id", ondelete="CASCADE", name=conv(fk_name)),
            nullable=False,
        ),
        # Better Auth's DDL has no database defaults here (its adapter fills them in); rows are
        # always written whole, and a missing value reads as Better Auth's default.
        preset_column(preset, "verified", boolean, nullable=True, server_default=None if ba else sa.true()),
        preset_column(
            preset,
            "failed_verification_count",
            sa.Integer(),
            nullable=True,
            server_default=None if ba else sa.text("0"),
        ),
        preset_column(preset, "locked_until", UTCTimestamp(), nullable=True),
        preset_column(preset, "last_totp_step", sa.BigInteger(), nullable=True),
    )
    user_column = column_name(preset, "user_id")
    # One enrolment per user (Better Auth looks it up by user and checks in code only).
    sa.Index(db_name(name, user_column, "idx"), table.c.user_id, unique=not ba)
    if ba:
        # Better Auth indexes the (encrypted) secret too; kept so its database needs no migration.
        sa.Index(db_name(name, "secret", "idx"), table.c.secret)
    organizations = None
    tenancy = ts.extensions.get("tenancy")
    if tenancy is not None:
        organizations = tenancy.organizations
        if REQUIRE_KEY not in organizations.c:
            organizations.append_column(
                preset_column(preset, REQUIRE_KEY, boolean, nullable=False, server_default=sa.false())
            )
    return TwoFactorTables(two_factors=table, users=users, organizations=organizations)
