"""The ``tenantry`` command, run in-process (Typer's runner) and as real server processes."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tenantry.billing import billing_config
from tenantry.cli import app, summarize_changes
from tenantry.schema import load_schema
from tests.deploy.nodes import worker_pids

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "saas"
runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project made by ``tenantry init``, as the working directory."""
    result = runner.invoke(app, ["init", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path / "proj")
    for key in ("TENANTRY_SCHEMA", "TENANTRY_ENV", "DATABASE_URL", "TENANTRY_SECRET", "TENANTRY_AUTO_MIGRATE"):
        # setenv first so teardown removes whatever the commands set in-process (``serve`` sets
        # TENANTRY_ENV=production with setdefault), not only what existed before.
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    return tmp_path / "proj"


def test_init_scaffolds_a_project(project: Path) -> None:
    text = (project / "schema.yaml").read_text()
    schema = load_schema(project / "schema.yaml")
    # Its own name (the folder's), the example's entities and plans, nothing about where it came from.
    assert schema.title == "proj" and "Service Name: proj\n" in text
    assert list(schema.entities) == list(load_schema(EXAMPLE / "schema.yaml").entities)
    assert list(billing_config(schema).plans) == ["free", "pro"]
    assert "guide" not in text.lower() and "seed" not in text.lower() and "my-saas-api" not in text
    assert (project / "hooks.py").exists() and (project / ".env.example").exists()
    assert ".tenantry/" in (project / ".gitignore").read_text().splitlines()
    assert (project / "migrations" / "env.py").exists() and (project / "migrations" / "versions").is_dir()
    again = runner.invoke(app, ["init", str(project)])
    assert again.exit_code == 0 and "kept" in again.output


def test_init_takes_a_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "x"), "--name", "Acme CRM"])
    assert result.exit_code == 0, result.output
    assert load_schema(tmp_path / "x" / "schema.yaml").title == "acme-crm"
    assert load_schema(_init_in(tmp_path, "My Shop 2") / "schema.yaml").title == "my-shop-2"


def test_init_skips_what_is_not_a_template_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed package holds the template's bytecode beside it (``__pycache__``): not copied."""
    import tenantry.cli

    templates = tmp_path / "templates"
    shutil.copytree(tenantry.cli.TEMPLATES, templates)
    (templates / "__pycache__").mkdir(exist_ok=True)
    (templates / "__pycache__" / "hooks.cpython-311.pyc").write_bytes(b"\0")
    monkeypatch.setattr(tenantry.cli, "TEMPLATES", templates)
    made = _init_in(tmp_path, "shop")
    assert (made / "schema.yaml").is_file() and not (made / "__pycache__").exists()


def test_an_app_loads_optional_libraries_only_when_it_uses_them(tmp_path: Path) -> None:
    """Building the example app (plans, plugins, social sign-in code) imports none of the libraries
    a deployment may never use, nor Alembic or the command line: workers start without them."""
    script = f"""
import sys
from tenantry.app import create_app
from tenantry.config import Settings
from tenantry.schema import load_schema
settings = Settings(DATABASE_URL="sqlite:///{tmp_path / "app.db"}", TENANTRY_ENV="development")
create_app(load_schema("{EXAMPLE / "schema.yaml"}"), settings)
lazy = ("stripe", "posthog", "webauthn", "authlib", "aiosmtplib", "segno", "joserfc", "alembic", "typer",
        "socketio", "engineio", "redis", "requests", "httpx")
print(",".join(m for m in lazy if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout


def test_the_command_line_loads_no_app_before_a_command_needs_it() -> None:
    """``tenantry --help`` (and any command before it runs) imports neither the app, its
    capabilities, nor the libraries they load: the capabilities' own groups are listed all the same."""
    script = """
import sys
sys.argv = ["tenantry", "--help"]
from tenantry.cli import main
try:
    main()
except SystemExit as exc:
    assert exc.code == 0, exc.code
heavy = ("tenantry.app", "tenantry.config", "tenantry.schema", "tenantry.auth", "tenantry.realtime",
         "pydantic", "sqlalchemy", "alembic", "starlette", "asyncpg")
print("LOADED:" + ",".join(m for m in heavy if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "LOADED:\n" in done.stdout, done.stdout[-300:]
    assert re.search(r"│ admin +Platform superusers", done.stdout), done.stdout


def test_the_supervising_node_loads_no_app_nor_server() -> None:
    """What ``tenantry serve`` binds with, and what a node of several workers runs (it only watches
    them), load neither the app nor uvicorn: each worker loads them itself."""
    script = """
import sys
from tenantry.server import NodeOptions, bind
from tenantry.server.__main__ import exec_argv, parse
from tenantry.server.node import Supervisor
heavy = ("tenantry.app", "tenantry.config", "uvicorn", "pydantic", "sqlalchemy", "starlette", "typer")
print("LOADED:" + ",".join(m for m in heavy if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "LOADED:\n", done.stdout


def test_capability_command_groups_are_all_listed() -> None:
    """Every capability and plugin offering commands is in ``CAPABILITY_COMMANDS``, with its group's own help."""
    from tenantry.app import CAPABILITIES
    from tenantry.auth.plugins import PLUGINS
    from tenantry.cli import CAPABILITY_COMMANDS, CliHost

    offered = {}
    for kind in (*CAPABILITIES, *(factory() for factory in PLUGINS.values())):
        group = kind.commands(CliHost())
        if group is not None:
            offered[kind.name] = (f"{kind.__module__}:{kind.__qualname__}", group.info.help)
    assert offered == CAPABILITY_COMMANDS


def _init_in(tmp_path: Path, folder: str) -> Path:
    result = runner.invoke(app, ["init", str(tmp_path / folder)])
    assert result.exit_code == 0, result.output
    return tmp_path / folder


@pytest.mark.slow(8)
def test_init_hint_works_without_an_activated_virtualenv(
    tmp_path: Path, server_process: list[subprocess.Popen[bytes]]
) -> None:
    """``tenantry init``'s "Next:" commands, typed as printed in a shell whose PATH has no virtualenv."""
    env = _clean_env(PATH="/usr/bin:/bin")
    env.pop("VIRTUAL_ENV", None)
    made = subprocess.run(
        [_tenantry(), "init", "My App"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stdout + made.stderr
    hint = made.stdout[made.stdout.index("Next:") :].splitlines()
    assert hint[1].strip() == "cd 'My App'"
    command = hint[2].strip()
    assert command == f"{_tenantry()} dev", hint  # the full path: plain `tenantry` is not on this PATH
    # Run exactly that, in that folder (on a free port, without the file watcher).
    base = _start(server_process, tmp_path / "My App", env, *shlex.split(command)[1:], "--no-reload", command=command)
    assert "my-app" in httpx.get(f"{base}/api/openapi.json").json()["info"]["title"]


def test_schema_check(project: Path) -> None:
    ok = runner.invoke(app, ["schema", "check"])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output and "/api/projects" in ok.output
    bad = project / "bad.yaml"
    bad.write_text("projects:\n  - name: strin\n  - org_id: uuid (references orgs)\n")
    result = runner.invoke(app, ["schema", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2: field 'name': unknown type 'strin'" in result.output
    assert f"{bad}:3: field 'org_id' references unknown entity 'orgs'" in result.output
    assert "2 problems in the schema" in result.output


def test_openapi_and_routes(project: Path) -> None:
    result = runner.invoke(app, ["openapi"])
    assert result.exit_code == 0
    spec = json.loads(result.stdout)
    assert spec["openapi"] == "3.1.0" and "/api/projects/{id}" in spec["paths"]
    assert "/api/billing/checkout" in spec["paths"]  # the seed bills (organizations with subscriptions)
    routes = runner.invoke(app, ["routes"])
    assert routes.exit_code == 0 and "/api/organizations/bulk" in routes.output


def test_migrations_from_the_command_line(project: Path) -> None:
    made = runner.invoke(app, ["migrate", "make", "-m", "initial"])
    assert made.exit_code == 0, made.output
    assert "Created" in made.output
    status = runner.invoke(app, ["migrate", "status"])
    assert status.exit_code == 1 and "1 pending" in status.output
    up = runner.invoke(app, ["migrate", "up"])
    assert up.exit_code == 0, up.output
    status = runner.invoke(app, ["migrate", "status"])
    assert status.exit_code == 0 and "Up to date" in status.output
    nothing = runner.invoke(app, ["migrate", "make", "-m", "again"])
    assert nothing.exit_code == 0 and "No changes" in nothing.output
    schema = project / "schema.yaml"
    schema.write_text(schema.read_text().replace("  - avatar_url: string (nullable)\n", ""))
    refused = runner.invoke(app, ["migrate", "make", "-m", "drop avatar"])
    assert refused.exit_code == 1 and "drop column users.avatar_url" in refused.output
    allowed = runner.invoke(app, ["migrate", "make", "-m", "drop avatar", "--allow-destructive"])
    assert allowed.exit_code == 0, allowed.output
    down = runner.invoke(app, ["migrate", "down"])
    assert down.exit_code == 0, down.output


def _refused_serve(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``tenantry serve ARGS`` as a real process (it becomes the node, which checks before serving)."""
    argv = [_tenantry(), "serve", *args, "--host", "127.0.0.1", "--port", str(_free_port())]
    return subprocess.run(
        argv, cwd=project, env=_clean_env(**env), capture_output=True, text=True, timeout=120, check=False
    )


def test_serve_refuses_unsafe_starts(project: Path) -> None:
    # The node checks the settings and the database beside the app it builds: each refusal is
    # explained once, plainly (no traceback of the app's build), and the node exits with its status.
    no_secret = _refused_serve(project)
    assert no_secret.returncode == 2 and "TENANTRY_SECRET" in no_secret.stderr, no_secret
    assert "Traceback" not in no_secret.stderr + no_secret.stdout
    no_mail = _refused_serve(project, TENANTRY_SECRET="x" * 40)
    assert no_mail.returncode == 2 and "TENANTRY_MAIL_BACKEND" in no_mail.stderr, no_mail
    unmigrated = _refused_serve(project, TENANTRY_SECRET="x" * 40, TENANTRY_MAIL_BACKEND="file")
    assert unmigrated.returncode == 1 and "does not match the schema" in unmigrated.stderr, unmigrated
    assert "Traceback" not in unmigrated.stderr + unmigrated.stdout
    # Nothing was served meanwhile, and the banner (shown once the check passes) never was.
    assert "Tenantry production" not in unmigrated.stdout


def test_missing_schema_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TENANTRY_SCHEMA", raising=False)
    result = runner.invoke(app, ["schema", "check"])
    assert result.exit_code == 2 and "No schema file found" in result.output


# -- real processes ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    # A start takes a few seconds, more on a machine busy with parallel tests: the wait ends as soon as it answers.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{proc.stdout.read().decode() if proc.stdout else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server at {url} not ready in {timeout}s")


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _tenantry() -> str:
    return str(Path(sys.executable).parent / "tenantry")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_") and k != "DATABASE_URL"}
    env.update(extra)
    return env


def _copy_example(tmp_path: Path) -> Path:
    target = tmp_path / "saas"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("*.db*", "__pycache__", ".tenantry"))
    return target


def _start(
    procs: list[subprocess.Popen[bytes]], cwd: Path, env: dict[str, str], *args: str, command: str | None = None
) -> str:
    """Start ``tenantry ARGS --port P`` in ``cwd``; returns its base URL once /api/health answers.

    ``command``: the program as a shell line (its first word is run), instead of this environment's ``tenantry``.
    """
    port = _free_port()
    program = shlex.split(command)[0] if command else _tenantry()
    proc = subprocess.Popen(
        [program, *args, "--port", str(port)], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    procs.append(proc)
    base = f"http://127.0.0.1:{port}"
    _wait_ready(f"{base}/api/health", proc)
    return base


def test_dev_serves_the_example_app(tmp_path: Path, server_process: list[subprocess.Popen[bytes]]) -> None:
    """The README's first Quickstart command, in a copy of the example project."""
    project = _copy_example(tmp_path)
    env = _clean_env(TENANTRY_TRUSTED_PROXIES="127.0.0.1")
    base = _start(server_process, project, env, "dev", "--no-reload")
    # Through a trusted proxy (here, this host): its request id is the request's, and its
    # X-Forwarded-For names the client, both believed by the app (the server rewrites nothing first).
    proxied = {"x-request-id": "edge-42", "x-forwarded-for": "203.0.113.7"}
    created = httpx.post(f"{base}/api/organizations", json={"name": "Acme Corp", "slug": "Acme"}, headers=proxied)
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "edge-42"
    assert created.json()["slug"] == "acme"  # the example project's hook lower-cases slugs
    docs = httpx.get(f"{base}/api/docs")
    assert docs.status_code == 200 and "<title>Orbit — API docs</title>" in docs.text
    assert "No errors yet." in httpx.get(f"{base}/dev/errors").text  # kept locally: no SENTRY_DSN
    assert "organizations" in httpx.get(f"{base}/").text
    assert (project / "tenantry.db").exists()
    # "Continue with Dev": the local OpenID provider `tenantry dev` starts, through the real OAuth flow.
    with httpx.Client(base_url=base, headers={"origin": base}) as browser:
        start = browser.post("/api/auth/sign-in/social", json={"provider": "dev", "callbackURL": "/"})
        assert start.status_code == 200, start.text
        provider = httpx.get(start.json()["url"] + "&prompt=none&login_hint=dev@example.com")
        assert provider.status_code in (302, 303), provider.text
        back = browser.get(provider.headers["location"])
        assert back.status_code == 302 and back.headers["location"] == f"{base}/"
        me = browser.get("/api/auth/get-session").json()
        assert me["user"]["email"] == "dev@example.com" and me["user"]["emailVerified"] is True
    # Before the banner, one line for the tables made on the first start, not one per table and index.
    proc = server_process.pop()
    proc.terminate()
    output = proc.communicate(timeout=20)[0].decode()
    created = re.search(r"Created (\d+) tables, (\d+) indexes and 2 triggers \(--verbose lists them\)", output)
    assert created and int(created[1]) > 10 and int(created[2]) > 10, output
    assert "applied" not in output and output.index("Created") < output.index("Tenantry development"), output
    assert "Orbit — Tenantry development" in output, output  # the banner names the app as its pages do


def test_schema_changes_are_summarised() -> None:
    applied = [
        "create table projects",
        "create index ix_projects_org_id on projects",
        "create unique index uq_projects_slug on projects",
        "add column projects.due",
        "create trigger trg_audit_logs_no_update on audit_logs (rejects UPDATE)",
    ]
    assert summarize_changes(applied) == (
        "Created 1 table, 2 indexes and 1 trigger",
        ["add column projects.due"],
    )
    assert summarize_changes(["add column projects.due"]) == (None, ["add column projects.due"])
    assert summarize_changes(["create table a", "create table b"])[0] == "Created 2 tables"


@pytest.mark.slow(20)
def test_serve_runs_migrated_app_with_workers(tmp_path: Path, server_process: list[subprocess.Popen[bytes]]) -> None:
    project = _copy_example(tmp_path)
    env = _clean_env(
        TENANTRY_SECRET="s" * 48,
        TENANTRY_MAIL_BACKEND="file",
        TENANTRY_MAIL_FILE=str(tmp_path / "mail.jsonl"),
        TENANTRY_METRICS_TOKEN="metrics-token-for-the-test",
    )
    made = subprocess.run([_tenantry(), "migrate", "make", "-m", "initial"], cwd=project, env=env, capture_output=True)
    assert made.returncode == 0, made.stdout + made.stderr
    base = _start(server_process, project, env, "serve", "--migrate", "--workers", "2", "--host", "127.0.0.1")
    # The command became the node process (same pid), which supervises without the app: none of
    # the app's compiled libraries is mapped in it, while every worker has them.
    node = server_process[-1].pid
    workers = worker_pids(node)
    assert len(workers) == 2
    for pid, serves in ((node, False), *((w, True) for w in workers)):
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert all((lib in maps) is serves for lib in ("asyncpg", "pydantic_core")), (pid, serves)
    # Production has no open API: until authentication is configured, the CRUD API refuses callers.
    refused = httpx.get(f"{base}/api/organizations")
    assert refused.status_code == 401
    assert refused.json()["code"] == "UNAUTHORIZED"
    # Ready: the database at the head revision, the workers running.
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["migrations"] == "ok", ready.text
    # Whichever worker answers a scrape counts the requests of both (multiprocess mode).
    for _ in range(20):
        assert httpx.get(f"{base}/healthz").status_code == 200
    scraped = httpx.get(f"{base}/metrics", headers={"authorization": "Bearer metrics-token-for-the-test"})
    assert scraped.status_code == 200
    healthz = [
        s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
        if s.name == "tenantry_http_requests_total" and s.labels.get("route") == "/healthz"
    ]
    assert sum(healthz) == 20
    # No proxy is trusted unless configured (uvicorn's own default trusted 127.0.0.1): a made-up
    # X-Forwarded-For per attempt is no way around the sign-in limit of 3 per 10 s per address,
    # which each of the two workers counts on its own (no Redis here), so 7 attempts reach it.
    body = {"email": "nobody@example.com", "password": "wrong-password"}
    statuses = [
        httpx.post(f"{base}/api/auth/sign-in/email", json=body, headers={"x-forwarded-for": f"203.0.113.{i}"})
        for i in range(7)
    ]
    assert 429 in [r.status_code for r in statuses], [r.status_code for r in statuses]


@pytest.mark.slow(8)
def test_a_checking_worker_killed_while_starting_is_replaced_by_one_that_checks(
    tmp_path: Path, server_process: list[subprocess.Popen[bytes]]
) -> None:
    # The first worker runs the start-up check and reports it; the others wait for its verdict. Killed
    # before it could, its replacement must check in its place, or no worker would ever serve.
    project = _copy_example(tmp_path)
    env = _clean_env(TENANTRY_SECRET="s" * 48, TENANTRY_MAIL_BACKEND="file", TENANTRY_MAIL_FILE=str(tmp_path / "m"))
    made = subprocess.run([_tenantry(), "migrate", "make", "-m", "initial"], cwd=project, env=env, capture_output=True)
    assert made.returncode == 0, made.stdout + made.stderr
    port = _free_port()
    argv = [_tenantry(), "serve", "--migrate", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    node = subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server_process.append(node)
    deadline = time.monotonic() + 60
    while len(workers := worker_pids(node.pid)) < 2:
        assert node.poll() is None and time.monotonic() < deadline, "the node did not start its workers"
        time.sleep(0.005)
    os.kill(workers[0], signal.SIGKILL)  # the first started, the one that checks: still importing the app
    _wait_ready(f"http://127.0.0.1:{port}/readyz", node)
    assert workers[0] not in worker_pids(node.pid) and len(worker_pids(node.pid)) == 2
    node.terminate()
    assert node.wait(30) == 0
    assert node.stdout is not None
    assert b"starting another" in node.stdout.read()


def test_ctrl_c_while_the_node_loads_the_app_stops_it_quietly(tmp_path: Path) -> None:
    # Ctrl-C reaches every process of the terminal's group: the node (still importing the app) and
    # whatever it started. Nothing was served: no traceback, the shell's status for SIGINT.
    project = _copy_example(tmp_path)
    env = _clean_env(TENANTRY_SECRET="s" * 48, TENANTRY_MAIL_BACKEND="file", TENANTRY_MAIL_FILE=str(tmp_path / "m"))
    port = _free_port()
    argv = [_tenantry(), "serve", "--migrate", "--host", "127.0.0.1", "--port", str(port)]
    node = subprocess.Popen(
        argv,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # A terminal's default: this test runner may have been started with SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        # Listening: the command has become the node, which is loading the app.
        while not _accepts_connections(port):
            assert node.poll() is None and time.monotonic() < deadline, "serve never became the node"
            time.sleep(0.005)
        time.sleep(0.1)  # into the app's import (half a second or more)
        os.killpg(node.pid, signal.SIGINT)
        output, _ = node.communicate(timeout=30)
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
    assert node.returncode == 130, output.decode(errors="replace")
    assert b"Traceback" not in output and b"KeyboardInterrupt" not in output, output.decode(errors="replace")


def test_sigterm_while_forked_workers_load_the_app_stops_the_node_at_once(tmp_path: Path) -> None:
    # The supervisor forks its workers: each must stop on SIGTERM as a worker does, not run the
    # supervisor's own handler (inherited through the fork), which would leave it loading and
    # serving until the supervisor killed it after the grace period (exit status 1).
    project = _copy_example(tmp_path)
    env = _clean_env(TENANTRY_SECRET="s" * 48, TENANTRY_MAIL_BACKEND="file", TENANTRY_MAIL_FILE=str(tmp_path / "m"))
    port = _free_port()
    argv = [_tenantry(), "serve", "--migrate", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    node = subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while len(worker_pids(node.pid)) < 2:
            assert node.poll() is None and time.monotonic() < deadline, "the workers never started"
            time.sleep(0.005)
        time.sleep(0.1)  # into the workers' import of the app (half a second or more)
        node.terminate()
        output, _ = node.communicate(timeout=10)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert node.returncode == 0, output.decode(errors="replace")
    assert b"Traceback" not in output and b"killing it" not in output, output.decode(errors="replace")


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


_CHECK_SCRIPT = """
import sys
from tenantry.server.check import CheckRequest
from tenantry.cli import check_before_serving
verdict = check_before_serving(CheckRequest(migrate=False, host="127.0.0.1", port=8000, workers=1))
print("VERDICT", verdict.status, "ALEMBIC" if "alembic" in sys.modules else "NO-ALEMBIC")
"""


def test_a_start_after_a_passed_check_skips_the_comparison_and_still_sees_changes(project: Path) -> None:
    """The node's check remembers what it passed: the next start with the same code and database
    answers without Alembic, and a change made by hand in between is caught by the full comparison."""
    assert runner.invoke(app, ["migrate", "make", "-m", "initial"]).exit_code == 0
    assert runner.invoke(app, ["migrate", "up"]).exit_code == 0
    env = _clean_env(TENANTRY_SCHEMA=str(project / "schema.yaml"), TENANTRY_SECRET="x" * 40)
    env |= {"TENANTRY_ENV": "production", "TENANTRY_MAIL_BACKEND": "file"}

    def check() -> str:
        done = subprocess.run(
            [sys.executable, "-c", _CHECK_SCRIPT], cwd=project, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return " ".join((done.stdout + done.stderr).split())

    assert "VERDICT 0 ALEMBIC" in check()  # the first: compared in full, and remembered
    assert "VERDICT 0 NO-ALEMBIC" in check()
    with sqlite3.connect(project / "tenantry.db") as db:
        db.execute("ALTER TABLE projects ADD COLUMN added_by_hand INTEGER")
    changed = check()
    assert "VERDICT 1 ALEMBIC" in changed and "does not match the schema" in changed, changed


def test_serve_reads_its_own_options_as_the_command_does() -> None:
    """A plain ``tenantry serve`` starts without Typer (``tenantry.server.command``): it must know
    exactly the command's options, with the same defaults, and leave anything else to the command."""
    import typer.main

    from tenantry.server.command import ServeRequest, parser, read_plain

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    theirs = {
        tuple(sorted([*param.opts, *param.secondary_opts])): param.default
        for param in serve.params
        if param.param_type_name == "option" and param.name != "help"
    }
    by_dest: dict[str, list[str]] = {}
    for action in parser()._actions:
        by_dest.setdefault(action.dest, []).extend(action.option_strings)
    ours = {tuple(sorted(names)): getattr(ServeRequest(), dest) for dest, names in by_dest.items()}
    assert ours == theirs
    assert read_plain(["--port", "9000", "--workers=2", "--no-proxy-headers", "--grace", "1.5", "--migrate"]) == (
        ServeRequest(port=9000, workers=2, proxy_headers=False, grace=1.5, migrate=True)
    )
    assert read_plain(["-s", "x.yaml"]) == ServeRequest(schema=Path("x.yaml"))
    for unusual in (
        ["--help"],
        ["-h"],
        ["--bogus"],
        ["--workers", "0"],
        ["--grace", "-1"],
        ["--port", "x"],
        ["--port", "70000"],
        ["--wor", "2"],
        ["extra"],
    ):
        assert read_plain(unusual) is None, unusual


def test_a_plain_serve_becomes_the_node_without_the_command_line_library(project: Path) -> None:
    script = """
import os, sys
import tenantry.server.__main__ as node
def run_node(options, sock):
    loaded = [m for m in ("typer", "pydantic", "rich", "tenantry.cli", "tenantry.app") if m in sys.modules]
    print("NODE", os.environ["TENANTRY_SCHEMA"].endswith("schema.yaml"), options.workers, "LOADED:" + ",".join(loaded))
    return 0
node.run_node = run_node
sys.argv = ["tenantry", "serve", "--host", "127.0.0.1", "--port", "0", "--workers", "2"]
from tenantry.entry import main
main()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=project, env=_clean_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "NODE True 2 LOADED:", done.stdout
    # A schema with a mistake: the command answers, with file and line.
    (project / "schema.yaml").write_text((project / "schema.yaml").read_text() + "\nbroken: [\n")
    refused = subprocess.run(
        [_tenantry(), "serve", "--port", "0"],
        cwd=project,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1 and "schema.yaml:" in refused.stderr, refused


def test_example_hooks_are_the_template_hooks() -> None:
    template = ROOT / "src" / "tenantry" / "templates" / "project" / "hooks.py"
    assert (EXAMPLE / "hooks.py").read_text() == template.read_text()


def test_admin_create_superuser_list_and_demote(project: Path) -> None:
    assert runner.invoke(app, ["migrate", "make", "-m", "initial"]).exit_code == 0
    assert runner.invoke(app, ["migrate", "up"]).exit_code == 0
    # Not a terminal and no password: refused rather than waiting for input.
    blind = runner.invoke(app, ["admin", "create-superuser", "--email", "root@example.com"])
    assert blind.exit_code == 2 and "No password given" in blind.output
    short = runner.invoke(app, ["admin", "create-superuser", "--email", "root@example.com", "--password", "short"])
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    made = runner.invoke(
        app, ["admin", "create-superuser", "--email", "Root@Example.com", "--password", "Super-Secret-99"]
    )
    assert made.exit_code == 0, made.output
    assert "Created superuser root@example.com" in made.output
    # Again, for scripts: promotes (here: keeps) the existing user without asking for anything.
    again = runner.invoke(app, ["admin", "create-superuser", "--email", "root@example.com", "--no-input"])
    assert again.exit_code == 0 and "Promoted superuser root@example.com" in again.output
    prompted = runner.invoke(
        app, ["admin", "create-superuser", "--email", "ops@example.com"], input="Ops-Secret-123\nOps-Secret-123\n"
    )
    assert prompted.exit_code == 2  # stdin is no terminal under the runner: never prompts blindly
    listed = runner.invoke(app, ["admin", "list"])
    assert listed.exit_code == 0 and "root@example.com" in listed.output
    demoted = runner.invoke(app, ["admin", "demote", "--email", "root@example.com"])
    assert demoted.exit_code == 0 and "Demoted root@example.com" in demoted.output
    assert "No superusers yet" in runner.invoke(app, ["admin", "list"]).output
    unknown = runner.invoke(app, ["admin", "demote", "--email", "root@example.com"])
    assert unknown.exit_code == 1 and "not a superuser" in unknown.output


def test_serve_refuses_a_database_ahead_of_its_code(project: Path) -> None:
    assert runner.invoke(app, ["migrate", "make", "-m", "initial"]).exit_code == 0
    assert runner.invoke(app, ["migrate", "up"]).exit_code == 0
    # A newer version of the project migrated the database one revision further.
    with sqlite3.connect(project / "tenantry.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'f00dfeed1234'")
    env = {"TENANTRY_SECRET": "x" * 40, "TENANTRY_MAIL_BACKEND": "file"}
    for args in ([], ["--migrate"], ["--migrate", "--workers", "2"]):
        refused = _refused_serve(project, *args, **env)
        assert refused.returncode == 1, refused
        output = " ".join((refused.stdout + refused.stderr).split())  # Rich wraps at the terminal's width
        assert "This code is older than the database; not starting." in output
        assert "f00dfeed1234" in output and "a newer version of this project migrated it" in output
