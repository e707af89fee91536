"""An Apso `.apsorc` project served unchanged: Apso's routes, serial ids, the always-paginated envelope."""

from __future__ import annotations

from pathlib import Path

from tenantry.schema import load_schema

FIXTURE = Path(__file__).resolve().parents[1] / "schema" / "fixtures" / "apsorc.v2.json"


async def test_apsorc_service_behaves_like_apso(make_client) -> None:
    schema = load_schema(FIXTURE)
    async with make_client(schema) as client:
        r = await client.post("/api/Workspaces", json={"name": "Main"})
        assert r.status_code == 201, r.text
        workspace = r.json()
        assert workspace["id"] == 1  # Apso's default primary key is serial
        for i in range(7):
            r = await client.post(
                "/api/workspaceusers",  # routes match case-insensitively, as Express does for Apso
                json={"email": f"u{i}@example.com", "invite_code": f"c{i}", "status": "Active", "workspaceId": 1},
            )
            assert r.status_code == 201, r.text
            assert r.json()["role"] == "Admin"  # the enum's declared default
        page = (await client.get("/api/WorkspaceUsers")).json()
        # Apso controllers: alwaysPaginate with a page size of 5.
        assert (page["count"], page["total"], page["page"], page["pageCount"]) == (5, 7, 1, 2)
        second = (await client.get("/api/WorkspaceUsers", params={"page": 2})).json()
        assert [u["email"] for u in second["data"]] == ["u5@example.com", "u6@example.com"]
        joined = (await client.get("/api/WorkspaceUsers/3", params={"join": "workspace"})).json()
        assert joined["workspace"]["name"] == "Main"
        back = (await client.get("/api/Workspaces/1", params={"join": "workspaceUsers||email"})).json()
        assert len(back["workspaceUsers"]) == 7
        bad = await client.get("/api/WorkspaceUsers/abc")
        assert bad.status_code == 400 and bad.json()["code"] == "INVALID_ID"


async def test_unknown_body_keys_are_dropped_as_nestjsx_whitelists_them(make_client) -> None:
    async with make_client(load_schema(FIXTURE)) as client:
        r = await client.post("/api/Workspaces", json={"name": "Main", "colour": "red", "owner": {"x": 1}})
        assert r.status_code == 201, r.text
        assert set(r.json()) == {"id", "name", "created_at", "updated_at"}  # only real fields come back
        r = await client.patch("/api/Workspaces/1", json={"name": "Renamed", "nickname": "ws"})
        assert r.status_code == 200 and r.json()["name"] == "Renamed" and "nickname" not in r.json()
        r = await client.post("/api/Workspaces/bulk", json={"bulk": [{"name": "B", "extra": 1}]})
        assert r.status_code == 201 and "extra" not in r.json()[0]
        # A known field with a bad value still refuses the whole write: nothing is half written.
        r = await client.patch("/api/Workspaces/1", json={"name": None, "nickname": "ws"})
        assert r.status_code == 400 and r.json()["code"] == "VALIDATION_FAILED"
        bulk = {"bulk": [{"name": "C", "junk": True}, {"name": 5}]}
        assert (await client.post("/api/Workspaces/bulk", json=bulk)).status_code == 400
        page = (await client.get("/api/Workspaces", params={"sort": "id,ASC"})).json()
        assert [w["name"] for w in page["data"]] == ["Renamed", "B"]
        # Ids stay the server's: a serial id in a create body is dropped like any key the DTO lacks.
        r = await client.post("/api/Workspaces", json={"id": 7, "name": "X"})
        assert r.status_code == 201 and r.json()["id"] == 3
