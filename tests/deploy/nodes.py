"""Real `tenantry serve` processes of one small project, for the deploy tests.

The project has one entity (``notes``) and a hook that makes a create slow on request (a title
``slow 1.5`` sleeps 1.5 s in ``before_create``): requests that are surely in flight when a signal
arrives, without any test-only endpoint in the app. Mail goes to an SMTP server of the test's own
(aiosmtpd) that takes a while to accept each message, so outbox deliveries are in flight too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

TENANTRY = str(Path(sys.executable).parent / "tenantry")
SCHEMA = "notes:\n  - title: string (required)\n"
HOOKS = '''
import asyncio
import os
import uuid
from pathlib import Path

from tenantry.hooks import HookEvent, hook
from tenantry.realtime import notify_user


@hook("notes", "before_create")
async def slow_on_request(event: HookEvent) -> None:
    """A note titled "slow <seconds>" takes that long to create: a long request, on purpose.
    Each leaves a file in $SLOW_MARKS as it starts, so the test knows it is in flight."""
    words = str(event.data.get("title", "")).split()
    if len(words) == 2 and words[0] == "slow":
        (Path(os.environ["SLOW_MARKS"]) / uuid.uuid4().hex).touch()
        await asyncio.sleep(float(words[1]))


@hook("notes", "after_create")
async def tell_the_author(event: HookEvent) -> None:
    """A note titled "ping ..." notifies its author (stored, and pushed to their sockets)."""
    note = event.new or {}
    if str(note.get("title", "")).startswith("ping") and event.context.principal.user_id:
        await notify_user(event.context.principal.user_id, type="ping", title=note["title"], message="noted")
'''
PASSWORD = "Password-One-111"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SlowSmtp:
    """Accepts every message after ``delay`` seconds; keeps each one's Message-ID (the outbox id, the
    same on every retry), so a mail delivered twice shows."""

    delay: float = 0.3
    received: list[str] = field(default_factory=list)
    started: int = 0  # messages whose DATA arrived (being accepted or accepted)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.started += 1
        await asyncio.sleep(self.delay)
        if server.transport is None or server.transport.is_closing():
            return "421 the client is gone"  # never acknowledged: not delivered
        content = envelope.original_content or b""
        parsed = message_from_bytes(content if isinstance(content, bytes) else content.encode())
        with self.lock:
            self.received.append(str(parsed["Message-ID"]))
        return "250 2.0.0 accepted"

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(self.received)


class SmtpServer:
    """``SlowSmtp`` on a real port (aiosmtpd in a thread)."""

    def __init__(self, delay: float = 0.3) -> None:
        self.handler = SlowSmtp(delay)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)


def make_project(root: Path, database_url: str) -> Path:
    """The project folder with its schema, hooks and initial migration (made for ``database_url``'s dialect)."""
    project = root / "project"
    project.mkdir()
    (root / "slow-marks").mkdir()
    (project / "schema.yaml").write_text(SCHEMA)
    (project / "hooks.py").write_text(HOOKS)
    made = subprocess.run(
        [TENANTRY, "migrate", "make", "-m", "initial"],
        cwd=project,
        env=base_env(project, {"DATABASE_URL": database_url}),
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return project


def base_env(project: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a node of ``project``: production, with ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_") and k != "DATABASE_URL"}
    env.update(
        TENANTRY_SECRET="d" * 48,
        TENANTRY_MAIL_BACKEND="file",
        TENANTRY_REQUIRE_EMAIL_VERIFICATION="false",
        TENANTRY_RATE_LIMIT="off",
        PYTHONUNBUFFERED="1",
        SLOW_MARKS=str(project.parent / "slow-marks"),
    )
    env.update(extra)
    return env


class Node:
    """One ``tenantry serve`` process (with its workers), its output in a file."""

    def __init__(self, project: Path, env: dict[str, str], *, port: int | None = None, workers: int = 1) -> None:
        self.project = project
        self.env = env
        self.port = port or free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = project.parent / f"node-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, migrate: bool = False, wait: bool = True) -> Node:
        args = [TENANTRY, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*args, *(["--migrate"] if migrate else [])], cwd=self.project, env=self.env, stdout=out, stderr=out
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None and self.proc.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{self.url} not ready in {timeout} s\n{self.output()}"
            time.sleep(0.05)

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL if it does not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def sign_up(url: str, email: str, origin: str) -> str:
    """A signed-in user's bearer token."""
    answer = httpx.post(
        f"{url}/api/auth/sign-up/email",
        json={"email": email, "password": PASSWORD, "name": "Deploy"},
        headers={"origin": origin},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def in_flight(project: Path) -> int:
    """How many slow creates have started (their hook is running or has run)."""
    return len(list((project.parent / "slow-marks").iterdir()))


def worker_pids(supervisor: int) -> list[int]:
    """The worker processes of a ``tenantry serve --workers N``, oldest first: every child of its
    supervisor, which forks them and starts nothing else."""
    found = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split():
            found.append(int(child))
    return sorted(found)
