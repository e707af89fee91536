"""Deletes what has expired from the authentication tables, in the background.

Verification rows (e-mail links, magic links, two-factor and passkey challenges) and sessions are
used up or deleted when they are used; the ones never used again would stay for ever, and some
can be created by anyone (a passkey sign-in ceremony needs no account). Every process sweeps;
the deletes are idempotent, so several processes sweeping at once only repeat each other.
"""

from __future__ import annotations

import logging

from tenantry.auth.store import AuthStore
from tenantry.db import Database
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.auth.sweeper")

SWEEP_INTERVAL = 15 * 60.0


class ExpirySweeper(PollingWorker):
    """Every ``interval`` seconds: delete expired verification rows and expired sessions."""

    def __init__(self, db: Database, store: AuthStore, interval: float = SWEEP_INTERVAL) -> None:
        super().__init__("auth-sweeper", interval, log, wait_first=True)
        self.db = db
        self.store = store

    async def work(self, *, until_stopped: bool) -> tuple[int, int]:
        """One sweep: ``(verifications deleted, sessions deleted)``."""
        async with self.db.transaction() as conn:
            verifications = await self.store.delete_expired_verifications(conn)
            sessions = await self.store.delete_expired_sessions(conn)
        if verifications or sessions:
            log.info("deleted %d expired verification(s) and %d expired session(s)", verifications, sessions)
        return verifications, sessions
