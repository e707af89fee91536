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
