"""The authentication tables: Better Auth's model (user, session, account, verification).

There is one user table: the schema's ``users`` entity. Better Auth's core user fields that the
schema does not declare (``emailVerified``, ``image`` …) are added to it; the fields the schema
declares beyond them (the seed's ``avatar_url``, ``org_id``, ``role``) are the user's additional
fields. Session, account and verification tables follow Better Auth's columns.

Names come in two presets. ``tenantry`` (default): ``auth_sessions``/``auth_accounts``/
``auth_verifications`` with snake_case columns. ``better-auth``: Better Auth's own
``session``/``account``/``verification`` and camelCase columns, so an existing Better Auth
PostgreSQL database can be served as it is (declare the users entity with ``table: user`` and
``id: text`` in the schema). Code always addresses columns by their snake_case *key*; only the
names in the database differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.db.tables import TableContributor, TableSet, db_name
from tenantry.db.types import GUID, SQLITE_NOW, UTCTimestamp
from tenantry.schema import Entity, Field, Schema
from tenantry.schema.naming import camel_case

Preset = Literal["tenantry", "better-auth"]

# Better Auth's core user fields, in the order its JSON lists them, with the schema field names
# that may already hold them.
USER_CORE: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "email": ("email",),
    "emailVerified": ("email_verified", "emailVerified"),
    "image": ("image",),
    "createdAt": ("created_at", "createdAt"),
    "updatedAt": ("updated_at", "updatedAt"),
}

_TABLE_NAMES: dict[Preset, dict[str, str]] = {
    # Prefixed so they never collide with an app's own entities ("accounts" is a common one).
    "tenantry": {"session": "auth_sessions", "account": "auth_accounts", "verification": "auth_verifications"},
    "better-auth": {"session": "session", "account": "account", "verification": "verification"},
}


@dataclass
class AuthTables:
    """Handles on the authentication tables, and how the schema's users map onto Better Auth's user."""

    users: sa.Table
    sessions: sa.Table
    accounts: sa.Table
    verifications: sa.Table
    user_entity: Entity | None
    user_columns: dict[str, sa.Column[Any]]  # Better Auth field (camelCase) -> column
    additional: tuple[Field, ...]  # schema fields beyond Better Auth's core, in schema order
    user_id_type: str

    @property
    def additional_writable(self) -> tuple[Field, ...]:
        """Additional fields a user may set at sign-up and update-user.

        References (the organization) and roles are managed by the server, never by the user
        (Better Auth's default ``input: true`` would let anyone make themselves admin).
        """
        return tuple(f for f in self.additional if not f.references and not f.server_managed and f.name != "role")


def _name(preset: Preset, snake: str) -> str:
    return camel_case(snake) if preset == "better-auth" else snake


def _col(preset: Preset, key: str, type_: Any, *args: Any, **kwargs: Any) -> sa.Column[Any]:
    return sa.Column(_name(preset, key), type_, *args, key=key, **kwargs)


def _id_type(id_type: str) -> Any:
    if id_type == "uuid":
        return GUID()
    if id_type == "serial":
        return sa.Integer()
    return sa.String(64)


def auth_tables(preset: Preset = "tenantry") -> TableContributor:
    """The contributor adding (or completing) the user table and adding the session tables."""

    def contribute(ts: TableSet, schema: Schema) -> None:
        entity = schema.system_entity("users")
        names = _TABLE_NAMES[preset]
        clash = [n for n in names.values() if n in ts.metadata.tables]
        if clash:
            raise ValueError(
                f"the schema defines table(s) {', '.join(clash)}, which authentication needs for itself; "
                "rename those entities (extended form: 'table: …')"
            )
        if entity is not None:
            users = ts.tables[entity.name]
            id_type = entity.id_type
            declared = {f.name: f for f in entity.fields}
        else:
            id_type = "uuid" if preset == "tenantry" else "text"
            users = sa.Table(
                "users" if preset == "tenantry" else "user",
                ts.metadata,
                sa.Column("id", _id_type(id_type), primary_key=True),
            )
            declared = {}
        user_columns: dict[str, sa.Column[Any]] = {"id": users.c.id}
        taken: set[str] = set()
        for ba_name, candidates in USER_CORE.items():
            found = next((c for c in candidates if c in declared), None)
            if found is not None:
                user_columns[ba_name] = users.c[found]
                taken.add(found)
                continue
            key = {"emailVerified": "email_verified", "createdAt": "created_at", "updatedAt": "updated_at"}.get(
                ba_name, ba_name
            )
            column = _user_column(preset, key, ts.dialect)
            users.append_column(column)
            user_columns[ba_name] = column
        if "email" not in declared:
            sa.Index(db_name("uq", users.name, "email"), users.c.email, unique=True)
        additional = tuple(f for f in (entity.fields if entity else ()) if f.name not in taken)

        user_fk = sa.ForeignKey(
            f"{users.name}.id", ondelete="CASCADE", name=conv(db_name("fk", names["session"], "user_id"))
        )
        sessions = sa.Table(
            names["session"],
            ts.metadata,
            _col(preset, "id", sa.String(64), primary_key=True),
            _col(preset, "expires_at", UTCTimestamp(), nullable=False),
            _col(preset, "token", sa.String(255), nullable=False, unique=True),
            _col(preset, "created_at", UTCTimestamp(), nullable=False),
            _col(preset, "updated_at", UTCTimestamp(), nullable=False),
            _col(preset, "ip_address", sa.Text(), nullable=True),
            _col(preset, "user_agent", sa.Text(), nullable=True),
            _col(preset, "user_id", _id_type(id_type), user_fk, nullable=False),
        )
        sa.Index(db_name(names["session"], _name(preset, "user_id"), "idx"), sessions.c.user_id)

        account_fk = sa.ForeignKey(
            f"{users.name}.id", ondelete="CASCADE", name=conv(db_name("fk", names["account"], "user_id"))
        )
        accounts = sa.Table(
            names["account"],
            ts.metadata,
            _col(preset, "id", sa.String(64), primary_key=True),
            _col(preset, "account_id", sa.Text(), nullable=False),
            _col(preset, "provider_id", sa.Text(), nullable=False),
            _col(preset, "user_id", _id_type(id_type), account_fk, nullable=False),
            _col(preset, "access_token", sa.Text(), nullable=True),
            _col(preset, "refresh_token", sa.Text(), nullable=True),
            _col(preset, "id_token", sa.Text(), nullable=True),
            _col(preset, "access_token_expires_at", UTCTimestamp(), nullable=True),
            _col(preset, "refresh_token_expires_at", UTCTimestamp(), nullable=True),
            _col(preset, "scope", sa.Text(), nullable=True),
            _col(preset, "password", sa.Text(), nullable=True),
            _col(preset, "created_at", UTCTimestamp(), nullable=False),
            _col(preset, "updated_at", UTCTimestamp(), nullable=False),
        )
        sa.Index(db_name(names["account"], _name(preset, "user_id"), "idx"), accounts.c.user_id)
        sa.Index(
            db_name("uq", names["account"], "provider_account"),
            accounts.c.provider_id,
            accounts.c.account_id,
            unique=True,
        )

        verifications = sa.Table(
            names["verification"],
            ts.metadata,
            _col(preset, "id", sa.String(64), primary_key=True),
            _col(preset, "identifier", sa.Text(), nullable=False),
            _col(preset, "value", sa.Text(), nullable=False),
            _col(preset, "expires_at", UTCTimestamp(), nullable=False),
            _col(preset, "created_at", UTCTimestamp(), nullable=False),
            _col(preset, "updated_at", UTCTimestamp(), nullable=False),
        )
        sa.Index(db_name(names["verification"], "identifier", "idx"), verifications.c.identifier)

        ts.extensions["auth"] = AuthTables(
            users=users,
            sessions=sessions,
            accounts=accounts,
            verifications=verifications,
            user_entity=entity,
            user_columns=user_columns,
            additional=additional,
            user_id_type=id_type,
        )

    return contribute


def _user_column(preset: Preset, key: str, dialect: str) -> sa.Column[Any]:
    if key == "email_verified":
        return _col(preset, key, sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false())
    if key in ("created_at", "updated_at"):
        now = sa.text(SQLITE_NOW) if dialect == "sqlite" else sa.text("CURRENT_TIMESTAMP")
        return _col(preset, key, UTCTimestamp(), nullable=False, server_default=now)
    if key == "email":
        return _col(preset, key, sa.String(320), nullable=False)
    return _col(preset, key, sa.Text(), nullable=True)  # name, image
