"""People with organizations, and the audit log and event outbox as stored, for the audit and events tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tenantry.auth import Authentication
from tenantry.tenancy import Tenancy
from tests.auth.helpers import ORIGIN, PASSWORD, runtime, sql

AUDIT_COLUMNS = (
    "id",
    "user_id",
    "org_id",
    "action",
    "resource_type",
    "resource_id",
    "old_values",
    "new_values",
    "ip_address",
    "user_agent",
    "created_at",
)


@dataclass
class Person:
    """A signed-up user acting with a bearer token (so one client can be several people)."""

    id: str
    email: str
    token: str
    org_id: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", **ORIGIN}


async def person(client: httpx.AsyncClient, email: str, *, org: str | None = None) -> Person:
    """Sign up ``email`` (the app must sign in at once) and, with ``org``, create that organization as its admin."""
    body = {"email": email, "password": PASSWORD, "name": email.split("@")[0].title()}
    r = await client.post("/api/auth/sign-up/email", json=body, headers=ORIGIN)
    assert r.status_code == 200, r.text
    client.cookies.clear()
    data = r.json()
    who = Person(data["user"]["id"], data["user"]["email"], data["token"])
    if org is not None:
        created = await client.post("/api/organizations", json={"name": org.title(), "slug": org}, headers=who.headers)
        assert created.status_code == 201, created.text
        who.org_id = created.json()["id"]
    return who


async def join(client: httpx.AsyncClient, who: Person, org_id: str, role: str, *, activate: bool = True) -> None:
    """Make ``who`` a member of ``org_id`` with ``role`` (and, with ``activate``, its active organization)."""
    rt = runtime(client)
    assert rt.get(Tenancy) is not None
    async with rt.db.transaction() as conn:
        await rt.get(Tenancy).members.add(conn, org_id, who.id, role)
    if activate:
        await sql(
            client,
            f"UPDATE {rt.get(Authentication).ctx.tables.sessions.name} SET active_organization_id = ? WHERE token = ?",
            rt.get(Authentication).ctx.store.org_id_in(org_id),
            who.token,
        )
        who.org_id = org_id


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def audit_rows(client: httpx.AsyncClient, table: str = "audit_logs") -> list[dict[str, Any]]:
    """Every audit row as stored, oldest first (ids are time-ordered), JSON columns parsed, ids as text."""
    rows = await sql(client, f"SELECT {', '.join(AUDIT_COLUMNS)} FROM {table} ORDER BY created_at, id")
    out = []
    for row in rows:
        item = dict(zip(AUDIT_COLUMNS, row, strict=True))
        for key in ("id", "user_id", "org_id", "resource_id"):
            item[key] = None if item[key] is None else str(item[key])
        item["old_values"] = _json(item["old_values"])
        item["new_values"] = _json(item["new_values"])
        out.append(item)
    return out


async def actions(client: httpx.AsyncClient) -> list[str]:
    return [r["action"] for r in await audit_rows(client)]


async def outbox(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every domain event as stored, in id order, with its deliveries by subscriber.

    ``delivered``: no delivery of the event is pending any more. Events of a capability's own work
    (``$mail.requested``) are left out: they are not domain events.
    """
    columns = ("id", "topic", "entity", "row_id", "org_id", "payload")
    rows = await sql(client, f"SELECT {', '.join(columns)} FROM outbox_events ORDER BY id")
    delivery_columns = ("subscriber", "status", "attempts", "last_error")
    deliveries: dict[str, dict[str, dict[str, Any]]] = {}
    for event_id, *values in await sql(
        client, f"SELECT event_id, {', '.join(delivery_columns)} FROM outbox_deliveries ORDER BY subscriber"
    ):
        delivery = dict(zip(delivery_columns, values, strict=True))
        deliveries.setdefault(str(event_id), {})[delivery["subscriber"]] = delivery
    out = []
    for row in rows:
        item = dict(zip(columns, row, strict=True))
        if item["topic"].startswith("$"):
            continue
        item["id"] = str(item["id"])
        item["payload"] = _json(item["payload"])
        item["deliveries"] = deliveries.get(item["id"], {})
        item["delivered"] = all(d["status"] != "pending" for d in item["deliveries"].values())
        out.append(item)
    return out


async def eventually(check: Callable[[], Any], within: float = 20.0) -> None:
    """Wait until ``check()`` (sync or async) is truthy; fail after ``within`` seconds.

    The limit is generous on purpose: a check that holds returns at once, and a loaded CI machine
    has taken over 5 s to finish a delivery that takes milliseconds alone."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
