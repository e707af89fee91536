"""A worker of `tenantry serve --workers 2` killed with SIGKILL while it delivers mail.

The other worker keeps serving, the supervisor starts a replacement, and the deliveries the dead
worker had claimed are taken over by another process once their lease runs out
(``TENANTRY_OUTBOX_LEASE_SECONDS``, short here): every mail arrives.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import postgres_scratch
from tests.deploy.nodes import Node, SmtpServer, base_env, make_project, sign_up, worker_pids

LEASE = 4.0  # seconds; each send is then bounded at 2 s
MAILS = 6


@pytest.mark.slow(20)
def test_a_killed_workers_deliveries_are_taken_over(tmp_path: Path, postgres_databases: object) -> None:
    database_url = postgres_scratch(postgres_databases)  # type: ignore[arg-type]
    project = make_project(tmp_path, database_url)
    with SmtpServer(delay=1.0) as smtp:
        node = Node(project, {}, workers=2)
        node.env = base_env(
            project,
            {
                "DATABASE_URL": database_url,
                "TENANTRY_BASE_URL": node.url,
                "TENANTRY_MAIL_BACKEND": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp.port),
                "SMTP_STARTTLS": "false",
                "TENANTRY_OUTBOX_LEASE_SECONDS": str(LEASE),
            },
        )
        try:
            node.start(migrate=True)
            assert node.proc is not None
            deadline = time.monotonic() + 30
            while len(workers := worker_pids(node.proc.pid)) < 2:
                assert time.monotonic() < deadline, workers
                time.sleep(0.05)
            while httpx.get(f"{node.url}/readyz").status_code != 200 or len(worker_pids(node.proc.pid)) < 2:
                time.sleep(0.05)
            time.sleep(1.0)  # both workers serving (the second may still be starting)
            survivor, victim = sorted(workers)
            email = "killed@example.com"
            token = sign_up(node.url, email, node.url)
            # The survivor is paused: the victim alone takes the requests and claims their mails.
            os.kill(survivor, signal.SIGSTOP)
            try:
                for _ in range(MAILS):
                    answer = httpx.post(
                        f"{node.url}/api/auth/request-password-reset",
                        json={"email": email, "redirectTo": "/reset"},
                        headers={"origin": node.url},
                        timeout=10,
                    )
                    assert answer.status_code == 200, answer.text
                deadline = time.monotonic() + 10
                while smtp.handler.started < MAILS:  # every mail is being sent, by the victim
                    assert time.monotonic() < deadline, smtp.handler.started
                    time.sleep(0.01)
                os.kill(victim, signal.SIGKILL)
                killed = time.monotonic()
            finally:
                os.kill(survivor, signal.SIGCONT)
            # The other worker serves on, at once.
            for _ in range(10):
                session = httpx.get(
                    f"{node.url}/api/auth/get-session", headers={"authorization": f"Bearer {token}"}, timeout=10
                )
                assert session.status_code == 200
            # Every mail arrives: the victim's claims were taken over once their lease ran out.
            deadline = killed + LEASE + 15
            while len(smtp.handler.counts()) < MAILS and time.monotonic() < deadline:
                time.sleep(0.05)
            taken_over = time.monotonic() - killed
            print(f"\nSIGKILLed worker's {MAILS} deliveries taken over, all sent {taken_over:.1f} s after the kill")
            assert len(smtp.handler.counts()) == MAILS
            assert taken_over >= LEASE - 0.5  # not before the lease ran out: it was the dead worker's
            # The supervisor replaced the dead worker; the node stops cleanly.
            replaced = worker_pids(node.proc.pid)
            assert victim not in replaced and survivor in replaced and len(replaced) == 2
            node.terminate()
            assert node.wait(60) == 0
        finally:
            node.stop()
