"""ingress-nginx's `ewma` balancer: latency averages and the power of two choices.

Each endpoint address has an exponentially weighted moving average of
its response time (connect to last byte), decaying over `DECAY_TIME`
seconds: idle endpoints drift back toward 0, so they are tried again. A
pick draws two endpoints at random and takes the one with the lower
decayed average. Endpoints new to a backend start at the average of the
others (slow start), so they are not flooded for having no history.
State is kept by address, like ingress-nginx's shared dictionary, so it
outlives table swaps and is shared by every backend using the pod.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from ingress.model import Endpoint

DECAY_TIME = 10.0  # seconds
Address = tuple[str, int]


class Ewma:
    def __init__(self, clock: Callable[[], float], rng: random.Random) -> None:
        self._clock = clock
        self._random = rng
        # address → (average seconds, loop time it was last updated)
        self.stats: dict[Address, tuple[float, float]] = {}
        # backend key → the endpoints seen last (to spot joiners and leavers)
        self._members: dict[str, tuple[Endpoint, ...]] = {}

    def pick(self, backend_key: str, members: tuple[Endpoint, ...],
             candidates: tuple[Endpoint, ...]) -> Endpoint:
        """The better of two random `candidates` (at least two); `members`: all usable."""
        seen = self._members.get(backend_key)
        if seen is not members and seen != members:
            self._sync(backend_key, seen or (), members)
        first, second = self._random.sample(candidates, 2)
        now = self._clock()
        return second if self._score(second, now) < self._score(first, now) else first

    def observe(self, address: Address, seconds: float) -> None:
        now = self._clock()
        average, at = self.stats.get(address, (0.0, 0.0))
        self.stats[address] = (_decayed(average, at, now, seconds), now)

    def _score(self, endpoint: Endpoint, now: float) -> float:
        average, at = self.stats.get(endpoint.address, (0.0, 0.0))
        return _decayed(average, at, now, 0.0)

    def _sync(self, backend_key: str, old: tuple[Endpoint, ...],
              new: tuple[Endpoint, ...]) -> None:
        self._members[backend_key] = new
        current = {e.address for e in new}
        for endpoint in old:
            if endpoint.address not in current:
                self.stats.pop(endpoint.address, None)
        known = [self.stats[e.address][0] for e in new if e.address in self.stats]
        if not known or not old:
            return
        start, now = sum(known) / len(known), self._clock()
        previous = {e.address for e in old}
        for address in current - previous:
            self.stats[address] = (start, now)

    def forget(self, keep: set[str]) -> None:
        for key in [k for k in self._members if k not in keep]:
            del self._members[key]


def _decayed(average: float, at: float, now: float, sample: float) -> float:
    weight = math.exp(-max(now - at, 0.0) / DECAY_TIME)
    return average * weight + sample * (1.0 - weight)
