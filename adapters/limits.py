"""Per-learner rate limiting, shared by the platform adapters."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

from cachetools import LRUCache


class RateLimiter:
    """A token bucket per key: ``per_minute`` messages a minute, bursts up to ``burst``.

    ``acquire(key)`` returns 0 when the message may go ahead (and spends a token), or
    the seconds to wait. Only the most recently seen ``max_keys`` keys are remembered.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, math.ceil(per_minute / 4)))
        self._clock = clock
        self._buckets: LRUCache[Hashable, tuple[float, float]] = LRUCache(maxsize=max_keys)

    def acquire(self, key: Hashable) -> float:
        now = self._clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


def rate_limit_notice(wait_s: float) -> str:
    """What a learner is told when they ask too fast."""
    return (
        f"You're sending questions faster than I can answer. "
        f"Please wait about {max(1, math.ceil(wait_s))} s and ask again."
    )
