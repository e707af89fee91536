"""Better Auth's JSON for users and sessions, and reading the user's additional fields from input."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from tenantry.auth.errors import validation_error
from tenantry.auth.store import UserRecord, iso
from tenantry.auth.tables import AuthTables
from tenantry.db.codecs import Converter, field_output_converter, field_to_db
from tenantry.validation import python_type


def _plugin_json(value: Any) -> Any:
    return iso(value) if isinstance(value, dt.datetime) else value


class UserShapes:
    """Converts users between the database, Better Auth's JSON and request bodies."""

    def __init__(self, tables: AuthTables, dialect: str) -> None:
        self.tables = tables
        self.dialect = dialect
        self._out: list[tuple[str, Converter | None]] = [
            (f.name, field_output_converter(f, dialect)) for f in tables.additional
        ]
        writable = tables.additional_writable
        self._writable = {f.name: f for f in writable}
        fields: dict[str, Any] = {f.name: (python_type(f) | None, None) for f in writable}
        self._input: type[BaseModel] = create_model(
            "UserAdditionalFields", __config__=ConfigDict(extra="ignore"), **fields
        )

    def session_user_json(self, user: UserRecord, session: dict[str, Any]) -> dict[str, Any]:
        """The user of a session, with the seed's view of its active organization when there are any:
        ``org_id`` and ``role`` there, and ``organization`` (id, name, slug)."""
        out = self.user_json(user)
        if "active_organization_id" in session:
            role = session.get("role")
            org = session.get("organization") if role else None
            out["org_id"] = org["id"] if org else None
            out["role"] = role
            out["organization"] = org
        return out

    def user_json(self, user: UserRecord) -> dict[str, Any]:
        """``{name, email, emailVerified, image, createdAt, updatedAt, <additional…>, id}`` in that order."""
        core = user.core
        out: dict[str, Any] = {
            "name": core["name"],
            "email": core["email"],
            "emailVerified": core["emailVerified"],
            "image": core["image"],
            "createdAt": iso(core["createdAt"]),
            "updatedAt": iso(core["updatedAt"]),
        }
        for name, convert in self._out:
            value = user.additional.get(name)
            out[name] = convert(value) if convert is not None else value
        for spec in self.tables.plugin_user_fields:
            if spec.returned:
                out[spec.name] = _plugin_json(user.plugin.get(spec.name))
        out["id"] = user.id
        return out

    def session_json(self, session: dict[str, Any]) -> dict[str, Any]:
        out = {
            "expiresAt": iso(session["expires_at"]),
            "token": session["token"],
            "createdAt": iso(session["created_at"]),
            "updatedAt": iso(session["updated_at"]),
            "ipAddress": session["ip_address"],
            "userAgent": session["user_agent"],
            "userId": session["user_id"],
        }
        if "active_organization_id" in session:  # the organization plugin's session field
            out["activeOrganizationId"] = session["active_organization_id"]
        for spec in self.tables.plugin_session_fields:
            if spec.returned:
                out[spec.name] = _plugin_json(session.get(spec.key))
        out["id"] = session["id"]
        return out

    def additional_input(self, body: dict[str, Any]) -> dict[str, Any]:
        """The writable additional fields present in ``body``, validated and in database form.

        Unknown keys are ignored (as Better Auth does); a value of the wrong type is a 400.
        """
        present = {k: v for k, v in body.items() if k in self._writable}
        if not present:
            return {}
        try:
            validated = self._input.model_validate(present).model_dump(exclude_unset=True)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            name = str(first["loc"][0]) if first["loc"] else "body"
            raise validation_error(f"body.{name}", first["msg"]) from None
        return {name: field_to_db(self._writable[name], self.dialect, value) for name, value in validated.items()}
