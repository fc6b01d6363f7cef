"""Choosing an endpoint for a request: the backend's algorithm over healthy endpoints.

State that must outlive a table swap lives outside the table: round-robin
cursors by backend key, per-address load in `EndpointPool`s, and the
addresses currently ejected by passive health checks.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection

from ingress.model import Backend, Balancer, Endpoint
from ingress.proxy.upstream import EndpointPool

PoolLookup = Callable[[tuple[str, int]], EndpointPool]


class Balancers:
    def __init__(self, pools: PoolLookup, clock: Callable[[], float]) -> None:
        self._pools = pools
        self._clock = clock
        self._cursors: dict[str, int] = {}
        self._random = random.Random()
        # address → loop time its ejection ends; pools add to it, picks prune it.
        # Usually empty, so the common pick never looks at health at all.
        self.ejected: dict[tuple[str, int], float] = {}

    def pick(self, backend: Backend, tried: Collection[tuple[str, int]] = ()) -> Endpoint | None:
        """An endpoint not tried yet, preferring ones not ejected; None when all were tried."""
        candidates = backend.usable
        if tried:
            candidates = tuple(e for e in candidates if e.address not in tried)
        if not candidates:
            return None
        if self.ejected:
            candidates = self._healthy(candidates)
        count = len(candidates)
        if count == 1:
            return candidates[0]
        algorithm = backend.balancer
        if algorithm is Balancer.ROUND_ROBIN:
            key = backend.key
            cursor = self._cursors.get(key, 0)
            self._cursors[key] = cursor + 1
            return candidates[cursor % count]
        if algorithm is Balancer.LEAST_CONN:
            return min(candidates, key=lambda e: self._pools(e.address).active)
        return self._random.choice(candidates)

    def _healthy(self, candidates: tuple[Endpoint, ...]) -> tuple[Endpoint, ...]:
        now = self._clock()
        ejected = self.ejected
        for address in [a for a, until in ejected.items() if until <= now]:
            del ejected[address]
        healthy = tuple(e for e in candidates if e.address not in ejected)
        # Never eject everything: if all candidates are ejected, use them anyway.
        return healthy or candidates

    def keep_only(self, keys: Collection[str]) -> None:
        """Drop the cursors of backends that left the table."""
        for key in [k for k in self._cursors if k not in keys]:
            del self._cursors[key]
