"""Deliver the outbox: claim due messages with a lease, send each, record the outcome.

Several dispatchers (in one process or many) can run against one database. On PostgreSQL a claim
is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``, so two workers never
take the same row; on SQLite the claim runs in a ``BEGIN IMMEDIATE`` transaction (one writer at a
time). A claim holds the row for ``lease`` seconds: if its worker dies mid-send, the row becomes due
again when the lease runs out and another worker sends it. Every outcome is written only if the row
still carries this worker's claim (its attempt number), so a worker that outlived its lease cannot
overwrite the newer claim.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tenantry.db.codecs import utc_now
from tenantry.db.database import Database
from tenantry.db.tables import TableSet
from tenantry.mail.backends import MailBackend
from tenantry.mail.errors import MailError, PermanentMailError
from tenantry.mail.message import OutgoingMail
from tenantry.mail.outbox import outbox_sql
from tenantry.mail.retry import RetryPolicy
from tenantry.mail.settings import MailSettings
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.mail")

Clock = Callable[[], dt.datetime]
Outcome = Literal["sent", "retrying", "failed", "lost"]

_MARK_RETRIES = (0.2, 1.0)  # a database blip right after a send must not turn into a second send


@dataclass
class DeliveryReport:
    """What one ``deliver_pending`` pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    lost: int = 0  # outcomes not recorded: the lease ran out and another worker had claimed the row

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed + self.lost


class MailDispatcher(PollingWorker):
    """Sends what the outbox holds, in the background (``start``/``wake``/``stop``) or one pass at a time.

    ``clock`` and ``retry`` exist for tests (a fake clock instead of sleeping through backoff).
    ``send_timeout`` bounds one send and must stay below ``lease`` so a slow but live worker is
    never mistaken for a dead one.
    """

    def __init__(
        self,
        db: Database,
        tables: TableSet,
        settings: MailSettings,
        backend: MailBackend,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock = utc_now,
        poll_interval: float = 1.0,
        batch_size: int = 10,
        lease: float = 120.0,
        send_timeout: float = 45.0,
    ) -> None:
        if not 0 < send_timeout < lease:
            raise ValueError("send_timeout must be positive and shorter than the lease")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        super().__init__("mail-dispatcher", poll_interval, log)
        self.db = db
        self.tables = tables
        self.settings = settings
        self.backend = backend
        self.retry = retry or RetryPolicy(max_attempts=settings.max_attempts)
        self.clock = clock
        self.batch_size = batch_size
        self.lease = dt.timedelta(seconds=lease)
        self.send_timeout = send_timeout
        self._sql = outbox_sql(tables)

    async def stop(self, grace: float = 10.0) -> None:
        """Let in-flight sends finish (up to ``grace`` seconds), stop, and close the backend."""
        await super().stop(grace)
        await self.backend.close()

    # -- one pass ----------------------------------------------------------------------------------

    async def deliver_pending(self) -> DeliveryReport:
        """Send every message due now (claiming ``batch_size`` at a time); returns what happened."""
        return await self.work(until_stopped=False)

    async def work(self, *, until_stopped: bool) -> DeliveryReport:
        report = DeliveryReport()
        while not (until_stopped and self._stopping):
            batch = await self.claim()
            if not batch:
                break
            # Sends run concurrently so that the whole batch finishes within one send_timeout.
            # Every send is awaited even if one outcome cannot be recorded: none is cut off mid-way.
            outcomes = await asyncio.gather(*(self._deliver(mail) for mail in batch), return_exceptions=True)
            problems = [o for o in outcomes if isinstance(o, BaseException)]
            for outcome in outcomes:
                if not isinstance(outcome, BaseException):
                    setattr(report, outcome, getattr(report, outcome) + 1)
            if problems:
                raise problems[0]
            if len(batch) < self.batch_size:
                break
        return report

    async def claim(self) -> list[OutgoingMail]:
        """Claim up to ``batch_size`` due messages (pending, or sending with an expired lease)."""
        now = self.clock()
        async with self.db.transaction() as conn:
            rows = await conn.fetch(self._sql.claim.sql, self._sql.claim_params(now, now + self.lease, self.batch_size))
        return sorted((self._sql.outgoing(r) for r in rows), key=lambda m: (m.created_at, m.id))

    async def _deliver(self, mail: OutgoingMail) -> Outcome:
        if mail.attempt > self.retry.max_attempts:
            # Its last attempt was claimed by a worker that died: the budget is spent.
            return await self._fail(mail, "gave up: the worker stopped during the last attempt")
        try:
            async with asyncio.timeout(self.send_timeout):
                provider_id = await self.backend.send(mail)
        except PermanentMailError as exc:
            return await self._fail(mail, str(exc))
        except (MailError, TimeoutError, OSError) as exc:
            return await self._retry_or_fail(mail, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            # A bug in a backend: worth a traceback, and still worth another try.
            log.exception("mail backend %s raised unexpectedly for message %s", self.backend.name, mail.id)
            return await self._retry_or_fail(mail, f"{type(exc).__name__}: {exc}")
        changed = await self._mark(self._sql.mark_sent.sql, self._sql.sent_params(mail, self.clock(), provider_id))
        return "sent" if changed else self._lost(mail)

    async def _retry_or_fail(self, mail: OutgoingMail, error: str) -> Outcome:
        if self.retry.gives_up_after(mail.attempt):
            return await self._fail(mail, f"gave up after {mail.attempt} attempts: {error}")
        next_at = self.clock() + dt.timedelta(seconds=self.retry.delay_after(mail.attempt))
        log.warning("mail %s attempt %d failed (%s); next attempt at %s", mail.id, mail.attempt, error, next_at)
        changed = await self._mark(self._sql.mark_retry.sql, self._sql.retry_params(mail, next_at, error))
        return "retrying" if changed else self._lost(mail)

    async def _fail(self, mail: OutgoingMail, error: str) -> Outcome:
        log.error("mail %s (%s) failed permanently after attempt %d: %s", mail.id, mail.template, mail.attempt, error)
        changed = await self._mark(self._sql.mark_failed.sql, self._sql.failed_params(mail, error))
        return "failed" if changed else self._lost(mail)

    def _lost(self, mail: OutgoingMail) -> Outcome:
        log.warning(
            "mail %s attempt %d outlived its lease; another worker claimed it, outcome not recorded",
            mail.id,
            mail.attempt,
        )
        return "lost"

    async def _mark(self, sql: str, params: list[Any]) -> bool:
        for pause in (*_MARK_RETRIES, None):
            try:
                async with self.db.transaction() as conn:
                    return await conn.execute(sql, params) == 1
            except Exception:
                if pause is None:
                    raise
                log.warning("recording a mail outcome failed; retrying in %.1fs", pause, exc_info=True)
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")
