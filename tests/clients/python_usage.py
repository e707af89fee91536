"""The generated Python client (package ``typed_client``, from tests/clients/schemas.py) in use: every
operation, blocking and awaited, against a live server, and usages the type checker must refuse.

test_python_client.py generates the package, checks this file with it under ``mypy --strict``
(so each ``# type: ignore[...]`` below must still be an error, or the unused ignore fails the
check) and then runs ``run_sync`` and ``run_async``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from typed_client import (
    AsyncClient,
    Client,
    Event,
    NotFoundError,
    Page,
    ReferencedByError,
    UniqueViolationError,
    ValidationFailedError,
    Widget,
    WidgetCondition,
)

REF = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")


def names(rows: list[Widget]) -> list[str]:
    return [r["name"] for r in rows]


def run_sync(base: str, token: str, org_id: str, user_id: str) -> None:
    """Every operation of the blocking client, as a signed-in user with an organization."""
    with Client(base, token=token) as api:
        # The seed's calling shape: list(org_id), create({...}); the server fills org_id and created_by.
        assert [o["id"] for o in api.organizations.list()] == [org_id]
        project = api.projects.create({"name": "Apollo"})
        assert (project["org_id"], project["created_by"], project["status"]) == (org_id, user_id, "active")
        assert [p["id"] for p in api.projects.list(org_id)] == [project["id"]]

        # Every field type written as Python values and read back as the API shows them.
        w1 = api.widgets.create(
            {
                "name": "w1",
                "notes": "first",
                "ref": REF,
                "count": 3,
                "big": 9007199254740993,
                "price": Decimal("12.5"),
                "ratio": 0.5,
                "active": False,
                "starts_at": dt.datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=dt.UTC),
                "day": dt.date(2026, 2, 28),
                "meta": {"a": [1, None, "x"]},
                "size": "large",
                "serial_no": "S-1",
            }
        )
        assert (w1["big"], w1["price"], w1["starts_at"], w1["day"]) == (
            "9007199254740993",
            "12.5000",
            "2026-03-04T05:06:07.891Z",
            "2026-02-28",
        )
        assert (w1["ref"], w1["meta"], w1["size"], w1["active"], w1["ratio"]) == (
            str(REF),
            {"a": [1, None, "x"]},
            "large",
            False,
            0.5,
        )
        w2, w3 = api.widgets.create_many(
            [{"name": "w2", "count": 5, "big": "42"}, {"name": "w3", "count": 7, "size": "medium", "price": "1.25"}]
        )
        assert (w2["size"], w2["active"], w3["price"]) == ("small", True, "1.2500")

        # Filters of each operator family, or, sort, equality, search, fields, joins, paging.
        assert names(api.widgets.list(filter=[("count", "$gte", 5)], sort=[("count", "DESC")])) == ["w3", "w2"]
        assert names(api.widgets.list(filter=[("count", "$between", (3, 5))], sort=["name"])) == ["w1", "w2"]
        assert names(api.widgets.list(filter=[("size", "$in", ["large", "medium"])], sort=["name"])) == ["w1", "w3"]
        assert names(api.widgets.list(filter=[("name", "$contL", "W3")])) == ["w3"]
        assert names(api.widgets.list(filter=[("notes", "$isnull")], sort=["name"])) == ["w2", "w3"]
        assert names(api.widgets.list(filter=[("active", "$eq", False)])) == ["w1"]
        when: WidgetCondition = ("starts_at", "$lt", dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
        assert names(api.widgets.list(filter=[when])) == ["w1"]
        assert names(api.widgets.list(filter=[("price", "$gt", Decimal("2"))])) == ["w1"]
        assert names(api.widgets.list(filter=[("big", "$eq", 42)])) == ["w2"]
        assert names(api.widgets.list(filter=[("day", "$eq", dt.date(2026, 2, 28))])) == ["w1"]
        assert names(api.widgets.list(filter=[("name", "$eq", "w1")], or_=[("name", "$eq", "w2")], sort=["name"])) == [
            "w1",
            "w2",
        ]
        assert names(api.widgets.list(where={"size": "medium"})) == ["w3"]
        assert names(api.widgets.list(search={"count": {"$lt": 4}})) == ["w1"]
        narrow = api.widgets.list(fields=["name"], filter=[("name", "$eq", "w1")])
        assert set(narrow[0]) == {"id", "name"}
        page = api.widgets.list(page=1, limit=2, sort=["name"])
        assert (names(page["data"]), page["total"], page["pageCount"]) == (["w1", "w2"], 3, 2)
        rest = api.widgets.list(offset=2, limit=2, sort=["name"])
        assert (names(rest["data"]), rest["page"]) == (["w3"], 2)

        part = api.parts.create({"label": "p1", "widget_id": w1["id"]})
        with_parts = api.widgets.get(w1["id"], join=["parts"])
        assert [p["label"] for p in with_parts.get("parts", [])] == ["p1"]
        joined = api.parts.list(join=["widget", "widget.organization"])
        widget = joined[0].get("widget")
        assert widget is not None and widget["name"] == "w1"
        assert api.parts.list(filter=[("widget.name", "$eq", "w1")])[0]["id"] == part["id"]
        assert set(api.widgets.get(w2["id"], fields=["count"])) == {"id", "count"}

        # Updates (PATCH and PUT), with a chosen idempotency key and with none.
        assert api.widgets.update(w2["id"], {"count": 6}, idempotency_key="update-w2")["count"] == 6
        assert api.widgets.replace(w2["id"], {"notes": None, "size": "large"}, idempotency_key=False)["size"] == "large"

        # Typed errors, by code.
        try:
            api.widgets.create({"name": "w1"})
            raise AssertionError("a second w1 was created")
        except UniqueViolationError as exc:
            assert (exc.status, exc.code, exc.fields) == (409, "UNIQUE_VIOLATION", ["name"])
        try:
            api.widgets.update(w1["id"], {"count": "many"})  # type: ignore[typeddict-item]
            raise AssertionError("a count of 'many' was accepted")
        except ValidationFailedError as exc:
            assert [e["field"] for e in exc.errors] == ["count"]
        try:
            api.widgets.delete(w1["id"])
            raise AssertionError("a widget with parts was deleted")
        except ReferencedByError as exc:
            assert exc.referenced_by == ["parts"]

        api.parts.delete(part["id"])
        api.widgets.delete(w1["id"])
        try:
            api.widgets.get(w1["id"])
            raise AssertionError("a deleted widget was found")
        except NotFoundError as exc:
            assert exc.code == "NOT_FOUND"

        # An entity that always paginates and deletes softly.
        event = api.events.create({"title": "launch"})
        listed: Page[Event] = api.events.list()
        assert listed["total"] == 1
        api.events.delete(event["id"])
        assert api.events.list()["total"] == 0
        assert api.events.list(include_deleted=True)["data"][0]["deleted_at"] is not None
        assert api.events.recover(event["id"])["deleted_at"] is None


async def run_async(base: str, token: str, org_id: str) -> None:
    """Every operation of the asyncio client."""
    async with AsyncClient(base, token=token) as api:
        assert [p["id"] for p in await api.projects.list(org_id)] == []
        w1 = await api.widgets.create({"name": "a1", "count": 1, "price": 2})
        a2, a3 = await api.widgets.create_many([{"name": "a2", "count": 2}, {"name": "a3", "count": 3}])
        assert names(await api.widgets.list(filter=[("count", "$gt", 1)], sort=[("name", "DESC")])) == ["a3", "a2"]
        page = await api.widgets.list(page=2, limit=2, sort=["name"])
        assert (names(page["data"]), page["total"]) == (["a3"], 3)
        assert (await api.widgets.get(w1["id"]))["price"] == "2.0000"
        assert (await api.widgets.update(a2["id"], {"notes": "x"}))["notes"] == "x"
        assert (await api.widgets.replace(a3["id"], {"active": False}))["active"] is False
        await api.widgets.delete(a3["id"])
        try:
            await api.widgets.get(a3["id"])
            raise AssertionError("a deleted widget was found")
        except NotFoundError:
            pass
        event = await api.events.create({"title": "t"})
        await api.events.delete(event["id"])
        assert (await api.events.recover(event["id"]))["title"] == "t"


def refused_usages(api: Client) -> None:
    """Never called: each line must stay a type error (``warn_unused_ignores`` under ``--strict``)."""
    api.widgets.list(filter=[("nope", "$eq", "x")])  # type: ignore[list-item]
    api.widgets.list(filter=[("count", "$contL", "3")])  # type: ignore[list-item]
    api.widgets.list(filter=[("count", "$eq", "3")])  # type: ignore[list-item]
    api.widgets.list(filter=[("meta", "$eq", "x")])  # type: ignore[list-item]
    api.widgets.list(filter=[("active", "$gt", True)])  # type: ignore[list-item]
    api.widgets.list(filter=[("size", "$eq", "huge")])  # type: ignore[list-item]
    api.widgets.list(join=["nope"])  # type: ignore[list-item]
    api.widgets.list(sort=["meta"])  # type: ignore[list-item]
    api.widgets.list(sort=["parts.label"])  # type: ignore[list-item]
    api.widgets.list(fields=["nope"])  # type: ignore[list-item]
    api.widgets.list(limit="5")  # type: ignore[call-overload]
    api.widgets.create({"count": 1})  # type: ignore[typeddict-item]
    api.widgets.create({"name": "x", "created_at": "now"})  # type: ignore[typeddict-unknown-key]
    api.widgets.update("id", {"serial_no": "S-2"})  # type: ignore[typeddict-unknown-key]
    page: Page[Widget] = api.widgets.list()  # type: ignore[assignment]
    rows: list[Widget] = api.widgets.list(page=1)  # type: ignore[assignment]
    print(page, rows)
