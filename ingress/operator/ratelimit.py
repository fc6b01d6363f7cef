"""A token bucket: at most `burst` at once, refilled at `rate` per second."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        return self._tokens

    def take(self) -> bool:
        """Spend a token if there is one."""
        if self._refill() < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def wait_time(self) -> float:
        """Seconds until a token is there (0 if one is)."""
        return max(0.0, (1.0 - self._refill()) / self._rate)

    def full(self) -> bool:
        return self._refill() >= self._burst
