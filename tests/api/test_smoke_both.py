"""The seed's own API calls (Step 2 of the guide), on both databases."""

from __future__ import annotations


async def test_seed_curl_calls(make_client) -> None:
    async with make_client() as client:
        # curl https://…/organizations
        r = await client.get("/api/organizations")
        assert r.status_code == 200
        assert r.json() == []
        # curl -X POST …/organizations -H "Content-Type: application/json" -d '{"name": "Acme Corp", "slug": "acme"}'
        r = await client.post("/api/organizations", json={"name": "Acme Corp", "slug": "acme"})
        assert r.status_code == 201, r.text
        org = r.json()
        assert org["name"] == "Acme Corp" and org["slug"] == "acme"
        # curl …/organizations/[id]
        r = await client.get(f"/api/organizations/{org['id']}")
        assert r.status_code == 200
        assert r.json() == org
