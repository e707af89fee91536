"""Signed-in users as bearer tokens, so one HTTP client can act as several people at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tenantry.auth import Authentication
from tenantry.mail import list_outbox
from tests.auth.helpers import ORIGIN, PASSWORD, runtime, sql

ORG = "/api/auth/organization"


@dataclass
class User:
    """A signed-up user and the session token it acts with."""

    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", **ORIGIN}


async def new_user(
    client: httpx.AsyncClient, email: str, *, verified: bool = True, name: str | None = None, **extra: Any
) -> User:
    """Sign up (the app must sign in at once: no required verification) and forget the cookie."""
    body = {"email": email, "password": PASSWORD, "name": name or email.split("@")[0].title(), **extra}
    r = await client.post("/api/auth/sign-up/email", json=body, headers=ORIGIN)
    assert r.status_code == 200, r.text
    client.cookies.clear()
    data = r.json()
    assert data["token"], data
    if verified and not data["user"]["emailVerified"]:
        await set_verified(client, data["user"]["id"])
    return User(data["user"]["id"], data["user"]["email"], data["token"])


async def set_verified(client: httpx.AsyncClient, user_id: str) -> None:
    await sql(client, "UPDATE users SET email_verified = ? WHERE id = ?", True, user_key(client, user_id))


def user_key(client: httpx.AsyncClient, user_id: str) -> Any:
    return runtime(client).get(Authentication).ctx.store.user_id_in(user_id)


async def call(
    client: httpx.AsyncClient, user: User | None, path: str, body: dict[str, Any] | None = None, **query: Any
) -> httpx.Response:
    """POST ``body`` (when given) or GET ``query`` to ``/api/auth/organization/<path>`` as ``user``."""
    headers = user.headers if user is not None else ORIGIN
    if body is not None:
        return await client.post(f"{ORG}/{path}", json=body, headers=headers)
    return await client.get(f"{ORG}/{path}", params=query, headers=headers)


async def ok(
    client: httpx.AsyncClient, user: User | None, path: str, body: dict[str, Any] | None = None, **q: Any
) -> Any:
    r = await call(client, user, path, body, **q)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


async def fails(
    client: httpx.AsyncClient, user: User | None, path: str, body: dict[str, Any] | None = None, **q: Any
) -> tuple[int, str | None]:
    """``(status, code)`` of a refused call."""
    r = await call(client, user, path, body, **q)
    assert r.status_code >= 400, (path, r.text)
    return r.status_code, r.json().get("code")


async def session_of(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    r = await client.get("/api/auth/get-session", headers=user.headers)
    data: dict[str, Any] = r.json()
    return data


async def create_org(client: httpx.AsyncClient, user: User, name: str, **extra: Any) -> dict[str, Any]:
    org: dict[str, Any] = await ok(client, user, "create", {"name": name, **extra})
    return org


async def invitation_mails(client: httpx.AsyncClient, to: str) -> list[Any]:
    rt = runtime(client)
    return [m for m in await list_outbox(rt.db, rt.tables, to=to) if m.template == "invitation"]


async def join(client: httpx.AsyncClient, admin: User, org: dict[str, Any], user: User, role: str) -> dict[str, Any]:
    """Invite ``user`` into ``org`` with ``role`` and accept: the new membership."""
    invitation = await ok(
        client, admin, "invite-member", {"email": user.email, "role": role, "organizationId": org["id"]}
    )
    accepted = await ok(client, user, "accept-invitation", {"invitationId": invitation["id"]})
    member: dict[str, Any] = accepted["member"]
    return member
