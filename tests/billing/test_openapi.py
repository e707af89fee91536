"""Billing's endpoints in ``/api/openapi.json``: valid OpenAPI 3.1, and what they document is what they answer."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from tenantry.api.openapi import OpenApiPart, build_openapi
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.billing.helpers import SECRET, billing_schema, stripe
from tests.conftest import ClientFactory, seed_schema
from tests.tenancy.helpers import create_org, new_user


async def test_billing_paths_are_documented_and_answer_as_documented(
    make_client: ClientFactory,
) -> None:
    async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=stripe(SECRET)) as client:
        spec = (await client.get("/api/openapi.json")).json()
        validate(spec, cls=OpenAPIV31SpecValidator)
        paths = spec["paths"]
        assert set(paths["/api/billing"]) == {"get"}
        for action in ("checkout", "portal", "webhook"):
            assert set(paths[f"/api/billing/{action}"]) == {"post"}
        assert "billing" in {t["name"] for t in spec["tags"]}
        assert "projects" in {t["name"] for t in spec["tags"]}  # the entities' tags stay

        admin = await new_user(client, "admin@example.com")
        await create_org(client, admin, "Acme", slug="acme")
        summary = (await client.get("/api/billing", headers=admin.headers)).json()
        documented = spec["components"]["schemas"]["BillingSummary"]
        assert set(documented["required"]) <= set(summary)
        assert set(summary) <= set(documented["properties"])
        assert set(spec["components"]["schemas"]["BillingPlan"]["properties"]) == set(summary["plan"])
        # Each documented error answers with its documented status.
        checks = [
            ("get", "/api/billing", {}, 401),
            ("post", "/api/billing/checkout", admin.headers, 503),  # no Stripe key here
            ("post", "/api/billing/portal", admin.headers, 409),
            ("post", "/api/billing/webhook", {}, 400),
        ]
        for method, path, headers, status in checks:
            body = {"plan": "pro"} if path.endswith("checkout") else {}
            r = await client.request(method.upper(), path, json=body, headers=headers)
            assert r.status_code == status, (path, r.text)
            assert str(status) in paths[path][method]["responses"], (path, status)


def test_a_part_may_not_take_an_entitys_path() -> None:
    clash = OpenApiPart(paths={"/api/projects": {"get": {"responses": {"200": {"description": "x"}}}}})
    with pytest.raises(ValueError, match="/api/projects"):
        build_openapi(seed_schema(), parts=[clash])
