"""Adding a capability is one folder and one entry in the list: the test guestbook proves each part."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tenantry.app import app_tables, default_capabilities
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.core import Capabilities, Capability, CapabilityError
from tests.auth.helpers import BASE, ORIGIN, runtime, sign_up
from tests.core.guestbook import TABLE, Guestbook, GuestbookSettings

NO_VERIFICATION = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)


def with_guestbook(settings: Settings) -> list[Capability]:
    """The app's list plus the guestbook built from its part of ``settings`` (one entry)."""
    return [*default_capabilities(settings), Guestbook.from_settings(settings.part("guestbook", GuestbookSettings))]


async def test_a_new_capability_brings_its_table_route_setting_and_worker(make_client: Any) -> None:
    # Capabilities carry their part of the settings: the list is built from the app's settings.
    settings = Settings(auth=NO_VERIFICATION, parts={"guestbook": GuestbookSettings(GUESTBOOK_GREETING="Welcome")})
    capabilities = with_guestbook(settings)
    async with make_client(
        auth=NO_VERIFICATION, base_url=BASE, parts=settings.parts, capabilities=capabilities, TENANTRY_OPEN_API=False
    ) as client:
        guestbook = runtime(client).get(Guestbook)
        assert guestbook.settings.greeting == "Welcome"
        # Its worker runs with the app.
        assert guestbook.janitor.started == 1
        # Its route is served, before the CRUD API that would otherwise take /api/guestbook.
        anonymous = await client.get("/api/guestbook")
        assert anonymous.status_code == 401
        user = (await sign_up(client)).json()["user"]
        signed = await client.post("/api/guestbook", json={"message": "hi"}, headers=ORIGIN)
        assert signed.status_code == 201
        listed = (await client.get("/api/guestbook")).json()
        assert listed == {"greeting": "Welcome", "entries": [["hi", user["id"]]]}
        # Its subscriber hears of every project created, once its transaction committed.
        org = await client.post("/api/auth/organization/create", json={"name": "Acme", "slug": "acme"}, headers=ORIGIN)
        assert org.status_code == 200
        created = await client.post(
            "/api/projects", json={"name": "Apollo", "org_id": org.json()["id"]}, headers=ORIGIN
        )
        assert created.status_code == 201
        expected = [["hi", user["id"]], ["project Apollo created", user["id"]]]
        entries: list[Any] = []
        for _ in range(100):  # the app's own worker delivers it, woken by the commit
            entries = (await client.get("/api/guestbook")).json()["entries"]
            if entries == expected:
                break
            await asyncio.sleep(0.05)
        assert entries == expected
    assert guestbook.janitor.stopped == 1


def test_its_table_is_migrated_with_the_app() -> None:
    from tests.conftest import seed_schema

    settings = Settings()
    assert TABLE not in app_tables(seed_schema(), settings).tables
    assert TABLE in app_tables(seed_schema(), settings, capabilities=with_guestbook(settings)).tables


def test_its_setting_is_read_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUESTBOOK_GREETING", "From the environment")
    part = Settings().part("guestbook", GuestbookSettings)
    assert isinstance(part, GuestbookSettings) and part.greeting == "From the environment"


# -- ordering by name ----------------------------------------------------------------------------


def kind(name: str, after: tuple[str, ...] = (), before: tuple[str, ...] = (), requires: tuple[str, ...] = ()) -> Any:
    return type(name.title(), (Capability,), {"name": name, "after": after, "before": before, "requires": requires})()


def names(items: list[Capability]) -> list[str]:
    return list(Capabilities(items).names)


def test_order_follows_constraints_and_keeps_the_listed_order_otherwise() -> None:
    assert names([kind("a"), kind("b"), kind("c")]) == ["a", "b", "c"]
    assert names([kind("a", after=("c",)), kind("b"), kind("c")]) == ["b", "c", "a"]
    assert names([kind("a"), kind("b", before=("a",)), kind("c")]) == ["b", "a", "c"]
    # Constraints on capabilities that are absent are ignored.
    assert names([kind("a", after=("zzz",)), kind("b", before=("yyy",))]) == ["a", "b"]


def test_star_puts_a_capability_after_every_other_one() -> None:
    items = [kind("pages", after=("*", "api")), kind("api", after=("*",)), kind("a"), kind("b", after=("a",))]
    assert names(items) == ["a", "b", "api", "pages"]


def test_missing_requirements_cycles_and_duplicates_are_refused() -> None:
    with pytest.raises(CapabilityError, match="requires auth"):
        Capabilities([kind("billing", requires=("auth",))])
    with pytest.raises(CapabilityError, match="cycle"):
        Capabilities([kind("a", after=("b",)), kind("b", after=("a",))])
    with pytest.raises(CapabilityError, match="named twice"):
        Capabilities([kind("a"), kind("a")])


def test_the_apps_order_is_the_one_its_constraints_give() -> None:
    from tests.conftest import seed_schema

    settings = Settings()
    order = Capabilities(c for c in default_capabilities(settings) if c.enabled(seed_schema())).names
    assert order.index("mail") < order.index("auth") < order.index("tenancy") < order.index("audit")
    assert order.index("audit") < order.index("billing") and order.index("tenancy") < order.index("realtime")
    plugins = ("two-factor", "magic-link", "passkey", "api-key", "admin")
    assert all(order.index("auth") < order.index(p) for p in plugins)
    assert order.index("tenancy") < order.index("two-factor") and order.index("tenancy") < order.index("api-key")
    assert order[-2:] == ("api", "web")
