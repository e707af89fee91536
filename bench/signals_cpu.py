"""What logs, metrics and traces cost a signed-in get, in one process: the app with them off and with
them on (or with each alone), served alternately, in CPU time and (under callgrind) in instructions per request.

    .venv/bin/python bench/signals_cpu.py [--requests 400] [--rounds 3] [--database sqlite|postgresql]
    valgrind --tool=callgrind --dump-instr=no .venv/bin/python bench/signals_cpu.py --database postgresql

Two apps as ``tenantry serve`` builds them in production (the API closed, row-level security on
PostgreSQL) share one process and one database: "off" (no access log, no tracing) and "on" (JSON
access lines to stderr, a metrics token, traces sampled at ``TENANTRY_TRACES_SAMPLE_RATE``, default
0.1, exported by OTLP/HTTP to a receiver in a process of its own so its work is not counted). Ten
users of ten organizations read one of their projects, a random user per request; each round runs
``--requests`` gets through each app in random order, with garbage collection off while measuring.
``SIGNALS_CPU_CONFIGS`` names the apps, the first being the one the others are compared with
(default ``off,on``): ``logs``, ``metrics`` (a scrape token; the metrics middleware runs in every
app), ``traces`` and ``logs_traces`` have those signals alone, ``untraced`` tracing on with nothing
sampled, and ``off2`` is a second "off", whose difference from the first is the measurement's own
spread. ``SIGNALS_CPU_PATH=session`` measures ``bench/auth.py``'s request instead: get-session with
a session cookie.

Why one process: instruction counts of separate processes running the *same* configuration have
differed by up to 56 k per request (about 5 %), more than the difference measured; alternating
within one process takes that out. Under callgrind (found by ``callgrind_control``), each round's
instructions are dumped per app and summed here; otherwise it prints CPU time per request, which
this machine's neighbours move by +-25 % from round to round (read its medians only). The dumps
are read from the working directory, callgrind's default place (no ``--callgrind-out-file``).
Stderr carries the "on" app's access lines: send it to a file (``2>/dev/null``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import glob
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop
from asgi_lifespan import LifespanManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import in_process_main  # noqa: E402
from cpu import BASE, PASSWORD, call, create_projects, production_settings, scope_of  # noqa: E402
from tenantry.app import app_tables, create_app  # noqa: E402
from tenantry.config import Settings  # noqa: E402
from tenantry.db.migrations import sync_schema  # noqa: E402
from tenantry.schema import Schema, load_schema  # noqa: E402

OTLP_PORT = 8824
USERS = 10
_METRICS = {"TENANTRY_METRICS_TOKEN": "signals-cpu-bench-metrics-token-0123456789"}
_TRACES = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{OTLP_PORT}",
    "TENANTRY_TRACES_SAMPLE_RATE": os.environ.get("TENANTRY_TRACES_SAMPLE_RATE", "0.1"),
}
_ALL_CONFIGS: dict[str, dict[str, str]] = {
    "off": {"TENANTRY_ACCESS_LOG": "false"},
    "off2": {"TENANTRY_ACCESS_LOG": "false"},  # a second "off": the spread between two identical apps
    "on": {"TENANTRY_ACCESS_LOG": "true", **_METRICS, **_TRACES},
    # The parts alone: where the cost goes.
    "logs": {"TENANTRY_ACCESS_LOG": "true"},
    "traces": {"TENANTRY_ACCESS_LOG": "false", **_TRACES},
    "metrics": {"TENANTRY_ACCESS_LOG": "false", **_METRICS},
    "logs_traces": {"TENANTRY_ACCESS_LOG": "true", **_TRACES},
    "untraced": {"TENANTRY_ACCESS_LOG": "false", **_TRACES, "TENANTRY_TRACES_SAMPLE_RATE": "0"},
}
# What each request is: a signed-in get of a project, or ("session") get-session with a cookie.
PATH = os.environ.get("SIGNALS_CPU_PATH", "get")
_CHOSEN = os.environ.get("SIGNALS_CPU_CONFIGS", "off,on").split(",")
if unknown := [name for name in _CHOSEN if name not in _ALL_CONFIGS]:
    raise SystemExit(f"SIGNALS_CPU_CONFIGS: no configuration {', '.join(unknown)} (known: {', '.join(_ALL_CONFIGS)})")
# The first named is the reference the others are compared with.
CONFIGS = {name: _ALL_CONFIGS[name] for name in _CHOSEN}


def build(name: str, schema: Schema, database_url: str) -> tuple[Any, Settings]:
    """The app of configuration ``name`` (its settings read from the environment, as a server's are)."""
    for key in {k for c in CONFIGS.values() for k in c}:
        os.environ.pop(key, None)
    os.environ.update(CONFIGS[name])
    settings = production_settings(database_url)
    return create_app(schema, settings), settings


def callgrind_dump(label: str) -> bool:
    """Ask callgrind to write this process's counts since the last dump (False when not under it)."""
    tool = shutil.which("callgrind_control")
    if tool is None:
        return False
    done = subprocess.run([tool, "-d", label, str(os.getpid())], capture_output=True, text=True, check=False)
    return done.returncode == 0 and "Error" not in done.stdout


def dumped_instructions(pid: int) -> dict[str, list[int]]:
    """The instructions of each labelled dump this process wrote, by label."""
    found: dict[str, list[int]] = {}
    for path in glob.glob(f"callgrind.out.{pid}.*"):
        label, total = "", 0
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger:"):
                label = line.rsplit(" ", 1)[-1]
            elif line.startswith("summary:"):
                total = int(line.split()[1])
        if label in CONFIGS:
            found.setdefault(label, []).append(total)
    return found


async def run(database_url: str, requests: int, rounds: int) -> None:
    os.environ |= {
        "TENANTRY_LOG_FORMAT": "json",
        "TENANTRY_RATE_LIMIT": "off",
        "TENANTRY_MAIL_BACKEND": "file",
        "TENANTRY_MAIL_FILE": str(Path(tempfile.mkdtemp()) / "mail.jsonl"),
    }
    receiver = start_receiver()
    try:
        schema = load_schema(ROOT / "tests" / "seed_schema.yaml")
        apps = {name: build(name, schema, database_url) for name in CONFIGS}
        await asyncio.to_thread(sync_schema, database_url, app_tables(schema, next(iter(apps.values()))[1]))
        await measure({name: app for name, (app, _) in apps.items()}, requests, rounds)
    finally:
        receiver.terminate()
        receiver.wait(10)


def start_receiver() -> subprocess.Popen[bytes]:
    """The OTLP receiver the "on" app exports to, in a process of its own (its work is not measured)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tenantry.emulators.otlp", "--port", str(OTLP_PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def measure(apps: dict[str, Any], requests: int, rounds: int) -> None:
    # Generous start-up limits: under valgrind an app starts many times slower.
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(LifespanManager(app, startup_timeout=120))
        scopes = await seed(next(iter(apps.values())))
        for app in apps.values():
            for i in range(300):  # warm up: statements prepared, caches filled, both paths taken
                status = await call(app, scopes[i % len(scopes)])
                assert status == 200, status
        gc.collect()
        gc.freeze()
        gc.disable()
        counting = callgrind_dump("start")
        cpu: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(rounds):
            for name in random.sample(list(apps), len(apps)):
                if counting:
                    callgrind_dump("between")
                started = time.process_time()
                for _ in range(requests):
                    await call(apps[name], scopes[random.randrange(len(scopes))])
                cpu[name].append((time.process_time() - started) / requests)
                if counting:
                    callgrind_dump(name)
        gc.enable()
    what = "get-sessions" if PATH == "session" else "signed-in gets"
    print(f"{requests} {what} x {rounds} rounds per app, in one process, alternating in random order")
    for name, values in cpu.items():
        print(f"  {name:4} CPU {statistics.median(values) * 1e6:7.0f} us/request (median of rounds)")
    if counting:
        counted = dumped_instructions(os.getpid())
        per_request = {name: [total / requests for total in totals] for name, totals in counted.items()}
        for name, values in per_request.items():
            print(
                f"  {name:4} {statistics.median(values) / 1000:7.0f} k instructions/request "
                f"(rounds {min(values) / 1000:.0f}-{max(values) / 1000:.0f} k)"
            )
        reference, *others = CONFIGS
        base = statistics.median(per_request[reference])
        for name in others:
            cost = statistics.median(per_request[name])
            print(
                f"  {name} - {reference}: {(cost - base) / 1000:+.0f} k instructions/request ({cost / base - 1:+.1%})"
            )


async def seed(app: Any) -> list[dict[str, Any]]:
    """Users with an organization and three projects each; the scope of a get of one project each."""
    scopes = []
    origin = {"origin": BASE}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        for i in range(USERS):
            email = f"signals-{i}-{time.time_ns()}@example.com"
            body = {"email": email, "password": PASSWORD, "name": f"User {i}"}
            signed = await client.post("/api/auth/sign-up/email", json=body, headers=origin)
            assert signed.status_code == 200, signed.text
            client.cookies.clear()
            bearer = {"authorization": f"Bearer {signed.json()['token']}"}
            org = await client.post("/api/auth/organization/create", json={"name": f"Org {i}"}, headers=bearer | origin)
            assert org.status_code == 200, org.text
            ids = await create_projects(client, bearer | origin, 3)
            if PATH == "session":  # bench/auth.py's request: get-session with the session cookie
                cookie = "; ".join(f"{name}={value}" for name, value in signed.cookies.items())
                scopes.append(scope_of("/api/auth/get-session", {"cookie": cookie}))
            else:
                scopes.append(scope_of(f"/api/projects/{ids[1]}", bearer))
    return scopes


if __name__ == "__main__":
    uvloop.install()  # the event loop ``tenantry serve`` runs on
    in_process_main(__doc__, "signals", run)
