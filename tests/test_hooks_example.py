"""The worked example of docs/hooks.md, run as written against the seed's schema."""

from __future__ import annotations

import re
import types
from pathlib import Path

from tenantry.hooks import Hooks
from tests.auth.helpers import BASE, NO_VERIFICATION, sign_up

DOC = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def example_hooks() -> Hooks:
    code = re.search(r"```python\n(# hooks\.py\n.*?)```", DOC.read_text(), re.S)
    assert code is not None, "docs/hooks.md lost its worked example"
    module = types.ModuleType("docs_hooks_example")
    exec(compile(code.group(1), str(DOC), "exec"), module.__dict__)
    hooks = Hooks()
    assert hooks.add_module(module) == 5
    return hooks


async def test_the_documented_hooks_work(make_client) -> None:
    async with make_client(
        auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False, hooks=example_hooks()
    ) as client:
        token = (await sign_up(client)).json()["token"]
        client.cookies.clear()
        auth = {"authorization": f"Bearer {token}"}
        assert (
            await client.post("/api/organizations", json={"name": "Acme", "slug": "acme"}, headers=auth)
        ).status_code == 201
        first = await client.post("/api/projects", json={"name": "  Apollo "}, headers=auth)
        assert first.status_code == 201, first.text
        assert first.json()["name"] == "Apollo" and first.json()["description"] == "Apollo — created by the team"
        clash = await client.post("/api/projects", json={"name": "apollo"}, headers=auth)
        assert (clash.status_code, clash.json()["code"]) == (409, "REJECTED_BY_HOOK")
        assert clash.json()["message"] == 'A project called "apollo" already exists in this organization'
        renamed = await client.patch(f"/api/projects/{first.json()['id']}", json={"name": "Apollo"}, headers=auth)
        assert renamed.status_code == 200  # its own name is no clash
        project = first.json()["id"]
        assert (
            await client.patch(f"/api/projects/{project}", json={"status": "archived"}, headers=auth)
        ).status_code == 200
        frozen = await client.patch(f"/api/projects/{project}", json={"description": "x"}, headers=auth)
        assert (frozen.status_code, frozen.json()["code"]) == (400, "REJECTED_BY_HOOK")
        assert (
            await client.patch(f"/api/projects/{project}", json={"status": "active"}, headers=auth)
        ).status_code == 200
