"""An outage logged once: a line when a dependency goes away, a line when it is back, nothing between.

Background loops (the outbox's workers, realtime's Redis publisher, the rate limiter) meet the same
outage at every pass or every request; a line each time floods the log exactly when an operator
reads it. An ``Outage`` turns those into two lines, with the count of failures in between on the
second.
"""

from __future__ import annotations

import logging
import time


class Outage:
    """The state of one dependency, as one component sees it: up, or down since some moment."""

    __slots__ = ("_down_since", "_failures", "_log", "what")

    def __init__(self, what: str, log: logging.Logger) -> None:
        self.what = what
        self._log = log
        self._down_since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        """Whether the last thing heard of the dependency was a failure."""
        return self._down_since is not None

    def failed(self, reason: object, consequence: str = "") -> bool:
        """Note a failure; logs (a warning, without a traceback) only the first of an outage.

        Returns True when this failure started the outage.
        """
        self._failures += 1
        if self._down_since is not None:
            return False
        self._down_since = time.monotonic()
        tail = f"; {consequence}" if consequence else ""
        self._log.warning("%s unavailable: %s%s", self.what, reason, tail)
        return True

    def recovered(self) -> bool:
        """Note a success; logs the end of an outage (how long, how many failures). True when it ended one."""
        if self._down_since is None:
            return False
        seconds = time.monotonic() - self._down_since
        self._log.info("%s available again after %.1fs (%d failure(s) meanwhile)", self.what, seconds, self._failures)
        self._down_since = None
        self._failures = 0
        return True
