"""Rate limits on ``/api/auth``: Better Auth's rules, in memory or shared through Redis.

Rules (window seconds / requests per client address and path): 10 s / 100 by default; sign-in,
sign-up, change-password and change-email 10 s / 3; e-mail sending routes 60 s / 3. A refused
request gets 429 with ``x-retry-after``. With ``REDIS_URL`` the counters are shared, so the limits
hold across every process of the app. While Redis is unreachable each process counts on its own
(in memory), so a limit still holds per process instead of not at all, and authentication does
not go down with Redis; the outage is logged when it starts and when it ends, and Redis is tried
again every ``REDIS_RETRY_SECONDS``.

The fallback is written here rather than taken from a library: ``limits`` has none of its own
(Flask-Limiter's ``in_memory_fallback`` is Flask's), and it is two storages and a clock.
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
from tenantry.outage import Outage

log = logging.getLogger("tenantry.auth.ratelimit")

# While Redis is away, how often a request tries it again (the others count in memory at once).
REDIS_RETRY_SECONDS = 2.0
# A Redis that does not answer must not hold a sign-in for long: each command's bound.
REDIS_TIMEOUT_SECONDS = 0.5


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
    """Fixed-window counters keyed by ``<client address>|<path>``: in Redis when configured, else
    (and while Redis is down) in this process's memory."""

    def __init__(self, redis_url: str | None = None, namespace: str = "tenantry-rl") -> None:
        self.local = FixedWindowRateLimiter(MemoryStorage())
        self.shared: FixedWindowRateLimiter | None = None
        if redis_url:
            uri = redis_url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
            storage: Storage = storage_from_string(  # type: ignore[assignment]
                uri,
                key_prefix=namespace,
                implementation="redispy",
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self.shared = FixedWindowRateLimiter(storage)
        self.redis = Outage("Redis (rate limits)", log)
        self._retry_at = 0.0
        self._items: dict[Rule, RateLimitItem] = {}
        self.extra_rules: tuple[tuple[str, Rule], ...] = ()  # plugins' rules, set as they are installed

    async def check(self, client: str, path: str) -> int | None:
        """Count this request; return the seconds to wait when it is over the limit, else None."""
        name, rule = named_rule_for(path, self.extra_rules)
        item = self._items.get(rule)
        if item is None:
            item = self._items[rule] = rule.item()
        key = f"{client}|{path}"
        wait = await self._hit(item, key)
        if wait is None:
            return None
        # Labelled by the rule's name (a fixed prefix), never the path or the client.
        RATE_LIMIT_REFUSALS.labels(rule=name).inc()
        return wait

    async def _hit(self, item: RateLimitItem, key: str) -> int | None:
        if self.shared is not None and time.monotonic() >= self._retry_at:
            try:
                wait = await _count(self.shared, item, key)
            except Exception as exc:  # Redis down or slow: count here until it is back
                self.redis.failed(exc, "rate limits are counted per process until it is back")
                self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS
            else:
                self.redis.recovered()
                return wait
        return await _count(self.local, item, key)


async def _count(limiter: FixedWindowRateLimiter, item: RateLimitItem, key: str) -> int | None:
    if await limiter.hit(item, key):
        return None
    stats = await limiter.get_window_stats(item, key)
    return max(1, math.ceil(stats.reset_time - time.time()))
