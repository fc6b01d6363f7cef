"""Choosing an endpoint for a request: the backend's algorithm over healthy endpoints.

State that must outlive a table swap lives outside the table: round-robin
cursors by backend key, and per-address health and load in `EndpointPool`s.
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

    def pick(self, backend: Backend, tried: Collection[tuple[str, int]] = ()) -> Endpoint | None:
        """An endpoint not tried yet, preferring ones not ejected; None when all were tried."""
        candidates = backend.usable
        if tried:
            candidates = tuple(e for e in candidates if e.address not in tried)
        if not candidates:
            return None
        now = self._clock()
        healthy = tuple(e for e in candidates if not self._pools(e.address).ejected(now))
        # Never eject everything: if all candidates are ejected, use them anyway.
        if healthy:
            candidates = healthy
        if len(candidates) == 1:
            return candidates[0]
        algorithm = backend.balancer
        if algorithm is Balancer.LEAST_CONN:
            return min(candidates, key=lambda e: self._pools(e.address).active)
        if algorithm is Balancer.RANDOM:
            return self._random.choice(candidates)
        key = backend.key
        cursor = self._cursors.get(key, 0)
        self._cursors[key] = cursor + 1
        return candidates[cursor % len(candidates)]

    def forget(self, keys: Collection[str]) -> None:
        """Drop cursors of backends that left the table."""
        for key in keys:
            self._cursors.pop(key, None)
