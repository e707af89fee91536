"""SIGTERM to `tenantry serve` under load, with one worker (SQLite) and with two (PostgreSQL).

Proven on the real processes: every request in flight when the signal arrives completes; from
then on the node refuses new connections (the supervising process too), and no request is reset
mid-way; the exit status is 0 either way; and the outbox loses and duplicates nothing (every mail
acknowledged to a client reaches the SMTP server exactly once, the rest by the next process).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.deploy.load import LoadLoop, start_loops
from tests.deploy.nodes import Node, SmtpServer, base_env, in_flight, make_project, sign_up

SLOW = 1.5  # seconds each slow create takes (a hook sleeps)
SLOW_REQUESTS = 6
LOOPS = 4


def create_slowly(url: str, token: str, seconds: float = SLOW) -> int:
    """``POST /api/notes`` whose hook sleeps ``seconds``: its status."""
    answer = httpx.post(
        f"{url}/api/notes", json={"title": f"slow {seconds}"}, headers={"authorization": f"Bearer {token}"}, timeout=90
    )
    return answer.status_code


@pytest.mark.slow(17)
def test_sigterm_finishes_what_is_in_flight_and_refuses_the_rest(tmp_path: Path, database_url: str) -> None:
    workers = 2 if database_url.startswith("postgresql") else 1
    project = make_project(tmp_path, database_url)
    with SmtpServer(delay=0.2) as smtp:
        node = Node(project, {}, workers=workers)
        node.env = base_env(
            project,
            {
                "DATABASE_URL": database_url,
                "TENANTRY_BASE_URL": node.url,
                "TENANTRY_MAIL_BACKEND": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp.port),
                "SMTP_STARTTLS": "false",
            },
        )
        try:
            node.start(migrate=True)
            email = "drain@example.com"
            token = sign_up(node.url, email, node.url)
            stop = threading.Event()
            loops = [LoadLoop(node.url, token, email, node.url, stop, stop_when_refused=True) for _ in range(LOOPS)]
            threads = start_loops(loops)
            deadline = time.monotonic() + 30
            while sum(o.what == "POST reset" for loop in loops for o in loop.outcomes) < LOOPS:
                assert time.monotonic() < deadline, "the load did not get going"
                time.sleep(0.01)  # every kind of request answered before the stop (some mails to deliver)
            with ThreadPoolExecutor(SLOW_REQUESTS) as pool:
                slow = [pool.submit(create_slowly, node.url, token) for _ in range(SLOW_REQUESTS)]
                deadline = time.monotonic() + 20
                while in_flight(project) < SLOW_REQUESTS and time.monotonic() < deadline:
                    time.sleep(0.01)  # until every slow create is in its hook
                signalled = time.monotonic()
                node.terminate()
                time.sleep(0.3)
                # Draining, still running: a new connection is refused (no process of the node accepts it).
                assert node.proc is not None and node.proc.poll() is None
                with pytest.raises(httpx.ConnectError):
                    httpx.get(f"{node.url}/healthz", timeout=2)
                statuses = [f.result() for f in slow]
            status = node.wait(60)
            exited = time.monotonic() - signalled
            stop.set()
            for thread in threads:
                thread.join(10)
            print(f"\n{workers} worker(s): SIGTERM to exit {exited:.2f} s under load")
            assert statuses == [201] * SLOW_REQUESTS
            assert status == 0, node.output()[-3000:]
            assert exited < SLOW + 10
            outcomes = [o for loop in loops for o in loop.outcomes]
            failed = [o for o in outcomes if o.kind == "failed"]
            assert failed == [], failed[:3]
            answered = [o for o in outcomes if o.kind == "ok"]
            assert len(answered) >= LOOPS and {o.status for o in answered} <= {200, 201}, {o.status for o in answered}
            assert all(o.at > signalled for o in outcomes if o.kind == "refused")
            assert all(loop.outcomes[-1].kind == "refused" for loop in loops)  # each loop met the stopped node

            # The mails acknowledged: delivered before the stop, or handed back and sent by the next process.
            acknowledged = sum(1 for o in answered if o.what == "POST reset")
            following = Node(project, node.env, workers=1).start()
            try:
                restarted = time.monotonic()
                while len(smtp.handler.counts()) < acknowledged and time.monotonic() - restarted < 10:
                    time.sleep(0.05)
            finally:
                following.stop()
            counts = smtp.handler.counts()
            assert acknowledged >= LOOPS and len(counts) == acknowledged
            assert [k for k, v in counts.items() if v > 1] == []
        finally:
            node.stop()


@pytest.mark.slow(8)
def test_the_grace_period_set_for_the_node_cuts_off_what_outlasts_it(tmp_path: Path, database_url: str) -> None:
    # TENANTRY_SHUTDOWN_GRACE reaches the workers (and a supervisor) through the start-up check's
    # verdict: a request far longer than it is cancelled when it runs out, not waited for.
    workers = 2 if database_url.startswith("postgresql") else 1
    project = make_project(tmp_path, database_url)
    node = Node(project, {}, workers=workers)
    node.env = base_env(
        project, {"DATABASE_URL": database_url, "TENANTRY_BASE_URL": node.url, "TENANTRY_SHUTDOWN_GRACE": "1"}
    )
    try:
        node.start(migrate=True)
        token = sign_up(node.url, "grace@example.com", node.url)
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(_status_or_error, node.url, token, 60)
            deadline = time.monotonic() + 20
            while in_flight(project) < 1:
                assert time.monotonic() < deadline, "the slow create never started"
                time.sleep(0.01)
            signalled = time.monotonic()
            node.terminate()
            status = node.wait(60)
            exited = time.monotonic() - signalled
            assert slow.result() != 201  # cut off, never created
        assert exited < 1 + 8, (exited, node.output()[-3000:])  # the grace, then the app's own shutdown
        assert status == 0, node.output()[-3000:]  # a graceful stop, even with a request cut off
        assert "grace period of 1 s over: cancelling 1 request(s) still running" in node.output()
    finally:
        node.stop()


def _status_or_error(url: str, token: str, seconds: float) -> int | str:
    """A create that takes ``seconds``: its status, or the error that ended it."""
    try:
        return create_slowly(url, token, seconds)
    except httpx.HTTPError as exc:
        return type(exc).__name__
