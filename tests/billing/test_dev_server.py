"""``tenantry dev`` without Stripe keys: the local Stripe emulator, and upgrade → paid → limit lifted offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.billing.helpers import BILLING_SETTINGS
from tests.test_cli import _clean_env, _copy_example, _start, _tenantry, server_process

__all__ = ["server_process"]  # the fixture, shared with the CLI tests


def test_dev_starts_the_stripe_emulator_and_checkout_works_offline(
    tmp_path: Path, server_process: list[subprocess.Popen[bytes]]
) -> None:
    project = _copy_example(tmp_path)
    schema = project / "schema.yaml"
    schema.write_text(schema.read_text() + BILLING_SETTINGS)
    env = {k: v for k, v in _clean_env().items() if not k.startswith("STRIPE_")}
    base = _start(server_process, project, env, "dev", "--no-reload")
    with httpx.Client(base_url=base, headers={"origin": base}, timeout=30) as browser:
        # Signed in through "Continue with Dev" (the local OpenID provider), with an organization.
        start = browser.post("/api/auth/sign-in/social", json={"provider": "dev", "callbackURL": "/"})
        provider = httpx.get(start.json()["url"] + "&prompt=none&login_hint=dev@example.com")
        browser.get(provider.headers["location"])
        org = browser.post("/api/auth/organization/create", json={"name": "Acme", "slug": "acme"})
        assert org.status_code == 200, org.text
        for name in ("One", "Two"):
            assert browser.post("/api/projects", json={"name": name}).status_code == 201
        refused = browser.post("/api/projects", json={"name": "Three"})
        assert refused.status_code == 402 and refused.json()["code"] == "PLAN_LIMIT_REACHED"

        checkout = browser.post("/api/billing/checkout", json={"plan": "pro"})
        assert checkout.status_code == 200, checkout.text
        url = checkout.json()["url"]
        assert httpx.get(url).status_code == 200
        paid = httpx.post(url + "/pay")
        assert paid.status_code == 303 and paid.headers["location"].startswith(f"{base}/settings/billing")

        state = browser.get("/api/billing").json()
        assert state["plan"]["id"] == "pro" and state["status"] == "trialing", state
        assert browser.post("/api/projects", json={"name": "Three"}).status_code == 201


def test_schema_check_reports_billing_mistakes_with_their_lines(tmp_path: Path) -> None:
    project = _copy_example(tmp_path)
    schema = project / "schema.yaml"
    lines = len(schema.read_text().splitlines())
    schema.write_text(
        schema.read_text() + "\nsettings:\n  billing:\n    plans:\n      pro:\n        trial_days: lots\n"
    )
    result = subprocess.run(
        [_tenantry(), "schema", "check", str(schema)], env=_clean_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())  # Rich wraps long lines
    assert f"schema.yaml:{lines + 4}:" in output and "no 'free' plan" in output
    assert f"schema.yaml:{lines + 6}:" in output and "'trial_days' must be a whole number" in output
