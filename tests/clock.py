"""A clock the test moves by hand: backoff, leases, retries and retention without sleeping."""

from __future__ import annotations

import datetime as dt

from tenantry.db.codecs import utc_now


class FakeClock:
    """Now, as the test says: starts at the real now (or ``start``) and moves only by ``advance``."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float = 0, *, days: float = 0) -> None:
        self.now += dt.timedelta(seconds=seconds, days=days)
