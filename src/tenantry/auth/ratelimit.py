"""Rate limits on ``/api/auth``: Better Auth's rules, in memory or shared through Redis.

Rules (window seconds / requests per client address and path): 10 s / 100 by default; sign-in,
sign-up, change-password and change-email 10 s / 3; e-mail sending routes 60 s / 3. A refused
request gets 429 with ``x-retry-after``. With ``REDIS_URL`` the counters are shared, so the limits
hold across every process of the app. If Redis is unreachable the limiter lets requests through
(and logs): a rate limiter must not take authentication down with it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from tenantry.core.metrics import RATE_LIMIT_REFUSALS

log = logging.getLogger("tenantry.auth.ratelimit")


@dataclass(frozen=True)
class Rule:
    window: int
    max: int

    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.max, self.window)


DEFAULT_RULE = Rule(10, 100)
SPECIAL_RULES: tuple[tuple[str, Rule], ...] = (
    ("/sign-in", Rule(10, 3)),
    ("/sign-up", Rule(10, 3)),
    ("/change-password", Rule(10, 3)),
    ("/change-email", Rule(10, 3)),
    ("/request-password-reset", Rule(60, 3)),
    ("/forget-password", Rule(60, 3)),
    ("/send-verification-email", Rule(60, 3)),
    ("/email-otp/send-verification-otp", Rule(60, 3)),
    ("/two-factor/send-otp", Rule(60, 3)),
)


def rule_for(path: str, extra: tuple[tuple[str, Rule], ...] = ()) -> Rule:
    """The rule for ``path``: plugins' rules first, then Better Auth's, then the default."""
    return named_rule_for(path, extra)[1]


def named_rule_for(path: str, extra: tuple[tuple[str, Rule], ...] = ()) -> tuple[str, Rule]:
    """The rule for ``path`` with its name: the prefix it was declared for, or ``default``."""
    for prefix, rule in (*extra, *SPECIAL_RULES):
        if path.startswith(prefix):
            return prefix, rule
    return "default", DEFAULT_RULE


class RateLimiter:
    """Fixed-window counters keyed by ``<client address>|<path>``."""

    def __init__(self, redis_url: str | None = None, namespace: str = "tenantry-rl") -> None:
        storage: Storage
        if redis_url:
            uri = redis_url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
            storage = storage_from_string(uri, key_prefix=namespace)  # type: ignore[assignment]
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(storage)
        self._items: dict[Rule, RateLimitItem] = {}
        self.extra_rules: tuple[tuple[str, Rule], ...] = ()  # plugins' rules, set as they are installed

    async def check(self, client: str, path: str) -> int | None:
        """Count this request; return the seconds to wait when it is over the limit, else None."""
        name, rule = named_rule_for(path, self.extra_rules)
        item = self._items.get(rule)
        if item is None:
            item = self._items[rule] = rule.item()
        key = f"{client}|{path}"
        try:
            if await self.limiter.hit(item, key):
                return None
            stats = await self.limiter.get_window_stats(item, key)
        except Exception as exc:  # storage down: fail open, loudly
            log.warning("rate limiter storage unavailable, request allowed: %s", exc)
            return None
        # Labelled by the rule's name (a fixed prefix), never the path or the client.
        RATE_LIMIT_REFUSALS.labels(rule=name).inc()
        return max(1, math.ceil(stats.reset_time - time.time()))
