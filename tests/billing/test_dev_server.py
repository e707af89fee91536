"""``tenantry dev`` without Stripe keys: the example's plans bought offline through the local Stripe
emulator, across restarts of the server and edits of the schema, on real processes and ports."""

from __future__ import annotations

import html
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from tenantry.app import app_tables
from tenantry.config import Settings
from tenantry.schema import load_schema
from tests.browser_harness import browser, expect, new_context
from tests.conftest import PrepareDatabase
from tests.test_cli import _clean_env, _copy_example, _start, _tenantry, runner, server_process

__all__ = ["browser", "server_process"]  # the fixtures, shared with the CLI and browser tests

TEAM_PLAN = """
      team:
        name: Team
        price_monthly: price_team_monthly
        limits: {projects: 1000}
"""


def dev_env(**extra: str) -> dict[str, str]:
    """The environment of a developer who has set no Stripe keys."""
    return {k: v for k, v in _clean_env(**extra).items() if not k.startswith("STRIPE_")}


@contextmanager
def signed_in(base: str) -> Iterator[httpx.Client]:
    """A client signed in through "Continue with Dev" (the local OpenID provider ``tenantry dev`` runs)."""
    with httpx.Client(base_url=base, headers={"origin": base}, timeout=30) as client:
        start = client.post("/api/auth/sign-in/social", json={"provider": "dev", "callbackURL": "/"})
        assert start.status_code == 200, start.text
        provider = httpx.get(start.json()["url"] + "&prompt=none&login_hint=dev@example.com")
        client.get(provider.headers["location"])
        yield client


def wait_for(check: Callable[[], Any], what: str, timeout: float = 45) -> Any:
    """Poll ``check`` until it returns something true (the server reloading after a schema edit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    return out.decode()


@pytest.mark.slow(25)
def test_the_example_upgrades_offline_and_keeps_its_customer_across_restarts(
    tmp_path: Path, prepare_database: PrepareDatabase, server_process: list[subprocess.Popen[bytes]]
) -> None:
    """The README's offline upgrade on the example as it ships, with the server restarted in between:
    the organization's Stripe customer, made before the restart, is still known to the emulator after it."""
    project = _copy_example(tmp_path)
    schema = load_schema(project / "schema.yaml")
    url = prepare_database(app_tables(schema, Settings(DATABASE_URL=prepare_database.database_url)))
    env = dev_env(DATABASE_URL=url)
    base = _start(server_process, project, env, "dev", "--no-reload")
    with signed_in(base) as browser:
        org = browser.post("/api/auth/organization/create", json={"name": "Acme", "slug": "acme"})
        assert org.status_code == 200, org.text
        # The example's Free plan: three projects.
        for name in ("One", "Two", "Three"):
            assert browser.post("/api/projects", json={"name": name}).status_code == 201
        refused = browser.post("/api/projects", json={"name": "Four"})
        assert refused.status_code == 402 and refused.json()["code"] == "PLAN_LIMIT_REACHED", refused.text
        plans = {p["id"]: p for p in browser.get("/api/billing").json()["plans"]}
        assert plans["pro"]["priceMonthly"] == "price_pro_monthly"
        # A checkout makes the organization's customer; the developer leaves without paying.
        first = browser.post("/api/billing/checkout", json={"plan": "pro"})
        assert first.status_code == 200, first.text
        page = httpx.get(first.json()["url"])
        assert page.status_code == 200
        assert "Pro" in page.text and "$10.00 per month" in page.text and "14-day free trial" in page.text
        assert "price_pro_monthly" not in page.text  # the plan's name and price, not Stripe's id
    assert "Stripe: local emulator" in stop(server_process.pop())
    state_dir = Path(url.removeprefix("sqlite:///")).parent if url.startswith("sqlite") else project
    state = json.loads((state_dir / ".tenantry" / "stripe-emulator.json").read_text())
    customers = [o for o in state["objects"].values() if o["object"] == "customer"]
    assert [c["metadata"] for c in customers] == [{"org_id": org.json()["id"]}]

    # Started again on the same database: the same customer, and the upgrade goes through.
    base = _start(server_process, project, env, "dev", "--no-reload")
    with signed_in(base) as browser:
        active = browser.post("/api/auth/organization/set-active", json={"organizationId": org.json()["id"]})
        assert active.status_code == 200, active.text
        checkout = browser.post("/api/billing/checkout", json={"plan": "pro"})
        assert checkout.status_code == 200, checkout.text  # not "No such customer"
        paid = httpx.post(checkout.json()["url"] + "/pay")
        assert paid.status_code == 303 and paid.headers["location"].startswith(f"{base}/settings/billing")
        summary = browser.get("/api/billing").json()
        assert summary["plan"]["id"] == "pro" and summary["status"] == "trialing", summary
        assert browser.post("/api/projects", json={"name": "Four"}).status_code == 201
    state = json.loads((state_dir / ".tenantry" / "stripe-emulator.json").read_text())
    assert len([o for o in state["objects"].values() if o["object"] == "customer"]) == 1
    assert [o["status"] for o in state["objects"].values() if o["object"] == "subscription"] == ["trialing"]


@pytest.mark.slow(30)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_schema_errors_are_shown_in_the_browser_and_plans_added_while_running_can_be_bought(
    tmp_path: Path,
    database_url: str,
    server_process: list[subprocess.Popen[bytes]],
    browser: Browser,
) -> None:
    """With the file watcher on: a broken schema is served as its problems (a page that reloads itself
    once they are fixed, a 503 JSON error for the API), and a plan added in the same edit is on sale."""
    project = _copy_example(tmp_path)
    path = project / "schema.yaml"
    good = path.read_text()
    base = _start(server_process, project, dev_env(), "dev")
    ctx = new_context(browser, base)
    page = ctx.new_page()
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()

    path.write_text(good.replace("  - status: enum(active, archived)", "  - status: enumm(active, archived)"))
    bad = wait_for(
        lambda: (r := httpx.get(f"{base}/login", headers={"accept": "text/html"})).status_code == 503 and r,
        "the error page",
    )
    # The terminal's text, line for line.
    checked = runner.invoke(_cli(), ["schema", "check", str(path)])
    assert checked.exit_code == 1
    expected = [line for line in checked.output.splitlines() if line.startswith(str(path))]
    shown = html.unescape(bad.text)
    assert expected and all(line in shown for line in expected), (expected, shown)
    assert re.search(rf"{re.escape(str(path))}:\d+: field 'status'", shown)
    assert bad.headers["content-security-policy"].startswith("default-src 'none'; script-src 'nonce-")
    api = httpx.get(f"{base}/api/projects")
    assert api.status_code == 503 and api.headers["content-type"] == "application/json"
    assert api.json()["code"] == "SCHEMA_INVALID" and api.json()["problems"] == expected

    page.goto("/login")
    problems = page.locator("#schema-problems")
    expect(problems).to_contain_text("field 'status'")
    ctx_errors: list[str] = []
    page.on("console", lambda m: ctx_errors.append(m.text) if m.type == "error" else None)

    # Fixed, with a plan added: the page comes back by itself, and the new plan can be bought.
    path.write_text(good.replace("        features: [exports]\n", "        features: [exports]\n" + TEAM_PLAN))
    expect(problems).to_have_count(0, timeout=45_000)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    assert not [e for e in ctx_errors if "Content Security Policy" in e], ctx_errors
    ctx.close()
    with signed_in(base) as client:
        org = client.post("/api/auth/organization/create", json={"name": "Acme", "slug": "acme"})
        assert org.status_code == 200, org.text
        checkout = client.post("/api/billing/checkout", json={"plan": "team"})
        assert checkout.status_code == 200, checkout.text  # not "No such price"
        assert "Team" in httpx.get(checkout.json()["url"]).text
        assert httpx.post(checkout.json()["url"] + "/pay").status_code == 303
        assert client.get("/api/billing").json()["plan"]["id"] == "team"
    # The emulator's state file, written by that checkout, is not a change to reload for.
    time.sleep(1.5)  # longer than the file watcher's debounce
    output = stop(server_process.pop())
    assert "schema.yaml" in output and "stripe-emulator" not in output, output


def _cli() -> Any:
    from tenantry.cli import app

    return app


def test_schema_check_reports_billing_mistakes_with_their_lines(tmp_path: Path) -> None:
    project = _copy_example(tmp_path)
    schema = project / "schema.yaml"
    text = schema.read_text()
    start = text.index("settings:")
    lines = len(text[:start].splitlines())
    schema.write_text(text[:start] + "settings:\n  billing:\n    plans:\n      pro:\n        trial_days: lots\n")
    result = subprocess.run(
        [_tenantry(), "schema", "check", str(schema)], env=_clean_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())  # Rich wraps long lines
    assert f"schema.yaml:{lines + 3}:" in output and "no 'free' plan" in output
    assert f"schema.yaml:{lines + 5}:" in output and "'trial_days' must be a whole number" in output
