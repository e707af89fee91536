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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.db.tables import TableContributor, TableSet, db_name
from tenantry.db.types import GUID, SQLITE_NOW, UTCTimestamp
from tenantry.schema import Entity, Field, Schema
from tenantry.schema.naming import camel_case

if TYPE_CHECKING:
    from tenantry.auth.plugin import AuthPlugin, PluginField

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
    plugins: tuple[AuthPlugin, ...] = ()
    # Plugins' columns on the user and session tables, in plugin order.
    plugin_user_fields: tuple[PluginField, ...] = field(default=())
    plugin_session_fields: tuple[PluginField, ...] = field(default=())
    preset: Preset = "tenantry"

    def plugin(self, plugin_id: str) -> AuthPlugin | None:
        """The enabled plugin ``plugin_id``, if it is enabled."""
        return next((p for p in self.plugins if p.id == plugin_id), None)

    @property
    def additional_writable(self) -> tuple[Field, ...]:
        """Additional fields a user may set at sign-up and update-user.

        References (the organization) and roles are managed by the server, never by the user
        (Better Auth's default ``input: true`` would let anyone make themselves admin).
        """
        return tuple(f for f in self.additional if not f.references and not f.server_managed and f.name != "role")


# Better Auth's names of the admin plugin's platform-role field on the user: ``role``, or
# ``platformRole`` when the schema's users already have a ``role`` (their organization role).
PLATFORM_ROLE_FIELDS = ("role", "platformRole")


def platform_role_column(tables: AuthTables) -> sa.Column[Any] | None:
    """The users' platform-role column (the admin plugin's), or None without that plugin."""
    for f in tables.plugin_user_fields:
        if f.name in PLATFORM_ROLE_FIELDS:
            return tables.users.c[f.key]
    return None


def column_name(preset: Preset, snake: str) -> str:
    """A column's name in the database: snake_case, or camelCase in the ``better-auth`` preset."""
    return camel_case(snake) if preset == "better-auth" else snake


def preset_column(preset: Preset, key: str, type_: Any, *args: Any, **kwargs: Any) -> sa.Column[Any]:
    """A column addressed by its snake_case ``key`` whatever its name in the preset."""
    return sa.Column(column_name(preset, key), type_, *args, key=key, **kwargs)


def id_column_type(id_type: str, preset: Preset = "tenantry") -> Any:
    """The column type of an id (and of the foreign keys to it)."""
    if id_type == "uuid":
        return GUID()
    if id_type == "serial":
        return sa.Integer()
    return sa.Text() if preset == "better-auth" else sa.String(64)


class _Style:
    """The DDL details of a preset. ``better-auth`` repeats Better Auth's own DDL exactly (text
    columns, its default constraint names and timestamp defaults), so that migrations find nothing
    to change in a database Better Auth created."""

    def __init__(self, preset: Preset, dialect: str) -> None:
        self.preset = preset
        self.ba = preset == "better-auth"
        self.now = sa.text(SQLITE_NOW) if dialect == "sqlite" else sa.text("CURRENT_TIMESTAMP")

    def text_id(self) -> Any:
        return sa.Text() if self.ba else sa.String(64)

    def token(self) -> Any:
        return sa.Text() if self.ba else sa.String(255)

    def created(self) -> Any:
        return self.now if self.ba else None

    def unique(self, table: str, column: str) -> sa.UniqueConstraint:
        name = f"{table}_{column}_key" if self.ba else db_name("uq", table, column)
        return sa.UniqueConstraint(column_name(self.preset, column), name=conv(name))


def auth_tables(preset: Preset = "tenantry", plugins: Sequence[AuthPlugin] = ()) -> TableContributor:
    """The contributor adding (or completing) the user table and adding the session tables, then
    the enabled plugins' columns and tables."""

    def contribute(ts: TableSet, schema: Schema) -> None:
        entity = schema.system_entity("users")
        names = _TABLE_NAMES[preset]
        style = _Style(preset, ts.dialect)
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
                sa.Column("id", id_column_type(id_type, preset), primary_key=True),
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
            column = _user_column(style, key)
            users.append_column(column)
            user_columns[ba_name] = column
        if "email" not in declared:
            users.append_constraint(style.unique(users.name, "email"))
        additional = tuple(f for f in (entity.fields if entity else ()) if f.name not in taken)
        user_id = id_column_type(id_type, preset)

        def user_fk(table: str) -> sa.ForeignKey:
            name = f"{table}_userId_fkey" if style.ba else db_name("fk", table, "user_id")
            return sa.ForeignKey(f"{users.name}.id", ondelete="CASCADE", name=conv(name))

        sessions = sa.Table(
            names["session"],
            ts.metadata,
            preset_column(preset, "id", style.text_id(), primary_key=True),
            preset_column(preset, "expires_at", UTCTimestamp(), nullable=False),
            preset_column(preset, "token", style.token(), nullable=False),
            preset_column(preset, "created_at", UTCTimestamp(), nullable=False, server_default=style.created()),
            preset_column(preset, "updated_at", UTCTimestamp(), nullable=False),
            preset_column(preset, "ip_address", sa.Text(), nullable=True),
            preset_column(preset, "user_agent", sa.Text(), nullable=True),
            preset_column(preset, "user_id", user_id, user_fk(names["session"]), nullable=False),
            style.unique(names["session"], "token"),
        )
        sa.Index(db_name(names["session"], column_name(preset, "user_id"), "idx"), sessions.c.user_id)

        accounts = sa.Table(
            names["account"],
            ts.metadata,
            preset_column(preset, "id", style.text_id(), primary_key=True),
            preset_column(preset, "account_id", sa.Text(), nullable=False),
            preset_column(preset, "provider_id", sa.Text(), nullable=False),
            preset_column(preset, "user_id", user_id, user_fk(names["account"]), nullable=False),
            preset_column(preset, "access_token", sa.Text(), nullable=True),
            preset_column(preset, "refresh_token", sa.Text(), nullable=True),
            preset_column(preset, "id_token", sa.Text(), nullable=True),
            preset_column(preset, "access_token_expires_at", UTCTimestamp(), nullable=True),
            preset_column(preset, "refresh_token_expires_at", UTCTimestamp(), nullable=True),
            preset_column(preset, "scope", sa.Text(), nullable=True),
            preset_column(preset, "password", sa.Text(), nullable=True),
            preset_column(preset, "created_at", UTCTimestamp(), nullable=False, server_default=style.created()),
            preset_column(preset, "updated_at", UTCTimestamp(), nullable=False),
        )
        sa.Index(db_name(names["account"], column_name(preset, "user_id"), "idx"), accounts.c.user_id)
        if not style.ba:
            # One account per provider identity (Better Auth checks this in code only).
            sa.Index(
                db_name("uq", names["account"], "provider_account"),
                accounts.c.provider_id,
                accounts.c.account_id,
                unique=True,
            )

        verifications = sa.Table(
            names["verification"],
            ts.metadata,
            preset_column(preset, "id", style.text_id(), primary_key=True),
            preset_column(preset, "identifier", sa.Text(), nullable=False),
            preset_column(preset, "value", sa.Text(), nullable=False),
            preset_column(preset, "expires_at", UTCTimestamp(), nullable=False),
            preset_column(preset, "created_at", UTCTimestamp(), nullable=False, server_default=style.created()),
            preset_column(preset, "updated_at", UTCTimestamp(), nullable=False, server_default=style.created()),
        )
        sa.Index(db_name(names["verification"], "identifier", "idx"), verifications.c.identifier)

        from tenantry.auth.plugin import plugin_column

        user_fields = tuple(f for p in plugins for f in p.user_fields_for(frozenset(declared)))
        session_fields = tuple(f for p in plugins for f in p.session_fields)
        for spec in user_fields:
            if spec.key in declared:
                raise ValueError(
                    f"the users entity declares '{spec.key}', which authentication needs for itself; rename that field"
                )
            users.append_column(plugin_column(preset, spec))
        for spec in session_fields:
            sessions.append_column(plugin_column(preset, spec))
        ts.extensions["auth"] = AuthTables(
            users=users,
            sessions=sessions,
            accounts=accounts,
            verifications=verifications,
            user_entity=entity,
            user_columns=user_columns,
            additional=additional,
            user_id_type=id_type,
            plugins=tuple(plugins),
            plugin_user_fields=user_fields,
            plugin_session_fields=session_fields,
            preset=preset,
        )

    return contribute


def _user_column(style: _Style, key: str) -> sa.Column[Any]:
    preset = style.preset
    if key == "email_verified":
        default = None if style.ba else sa.false()
        return preset_column(preset, key, sa.Boolean(create_constraint=False), nullable=False, server_default=default)
    if key in ("created_at", "updated_at"):
        return preset_column(preset, key, UTCTimestamp(), nullable=False, server_default=style.now)
    if key == "email":
        return preset_column(preset, key, sa.Text() if style.ba else sa.String(320), nullable=False)
    if key == "name" and style.ba:
        return preset_column(preset, key, sa.Text(), nullable=False)
    return preset_column(preset, key, sa.Text(), nullable=True)  # name, image
