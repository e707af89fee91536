"""When to try a failed delivery again: growing delays with jitter, then give up."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

# 5 s, 30 s, 2 min, 10 min, 1 h, then every 3 h: an outage of an afternoon (a mail provider, Stripe)
# loses nothing.
DEFAULT_DELAYS: tuple[float, ...] = (5, 30, 120, 600, 3600, 10800)


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between attempts and how many attempts to make.

    ``delays[n - 1]`` follows the n-th failed attempt (the last delay repeats). Each delay is
    multiplied by a random factor in ``[1 - jitter, 1 + jitter]`` so that deliveries that failed
    together (a provider outage) do not all come back in the same second.
    """

    delays: Sequence[float] = DEFAULT_DELAYS
    max_attempts: int = 8
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.delays or any(d < 0 for d in self.delays):
            raise ValueError("delays must be a non-empty sequence of non-negative seconds")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def gives_up_after(self, attempt: int) -> bool:
        """Whether no attempt follows the failed attempt number ``attempt`` (1-based)."""
        return attempt >= self.max_attempts

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after the failed attempt number ``attempt`` (1-based)."""
        base = self.delays[min(max(attempt, 1), len(self.delays)) - 1]
        if not self.jitter:
            return base
        return base * self.rng.uniform(1 - self.jitter, 1 + self.jitter)
