"""Per-token rate limits: an in-memory token bucket for each credential.

One process serves a workspace, so memory is the right store; a restart forgets the buckets,
which only ever lets a client through sooner.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """``rate`` requests per second on average, bursts of up to ``burst``."""

    rate: float = 20.0
    burst: int = 40

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)) or self.burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")


class TokenBuckets:
    """``take(key)`` spends one token of ``key``'s bucket, or says how long to wait."""

    _MAX_KEYS = 100_000  # bounded memory even under a flood of distinct keys

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 when allowed; else the seconds until a token is available."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - last) * self.limit.rate)
            if tokens >= 1.0:
                self._store(key, tokens - 1.0, now)
                return 0.0
            self._store(key, tokens, now)
            return (1.0 - tokens) / self.limit.rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self._MAX_KEYS:
            # Full buckets carry no state worth keeping: drop them first.
            for stale in [k for k, (t, _) in self._buckets.items() if t >= self.limit.burst]:
                del self._buckets[stale]
            if len(self._buckets) >= self._MAX_KEYS:
                self._buckets.clear()
        self._buckets[key] = (tokens, now)
