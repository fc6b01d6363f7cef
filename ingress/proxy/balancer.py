"""Choosing an endpoint for a request: the backend's algorithm over its endpoints.

State that must outlive a table swap lives outside the table: round-robin
cursors, hash rings and cookie maps by backend key; response-time
averages and per-address load (`EndpointPool`s) by address; and the
addresses currently ejected by passive health checks.

Hashing and cookie affinity read the request (ingress-nginx's chash,
chashsubset and sticky balancers); like ingress-nginx's, they ignore
passive health: a key or a session keeps its endpoint.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from ingress.model import Backend, Balancer, Endpoint, HashKey, HashSource
from ingress.proxy.cookies import cookie_value, query_argument
from ingress.proxy.endpoint_pool import EndpointPool
from ingress.proxy.ewma import Ewma
from ingress.proxy.hashing import Ring, endpoint_name
from ingress.proxy.sticky import Sticky

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

PoolLookup = Callable[[tuple[str, int]], EndpointPool]
# Algorithms that read the request to choose.
_BY_REQUEST = frozenset({Balancer.CHASH, Balancer.CHASH_SUBSET, Balancer.STICKY_BALANCED,
                         Balancer.STICKY_PERSISTENT})


class Balancers:
    def __init__(self, pools: PoolLookup, clock: Callable[[], float]) -> None:
        self._pools = pools
        self._clock = clock
        self._cursors: dict[str, int] = {}
        self._random = random.Random()
        # address → loop time its ejection ends; pools add to it, picks prune it.
        # Usually empty, so the common pick never looks at health at all.
        self.ejected: dict[tuple[str, int], float] = {}
        # backend key → (endpoints, ring of them); subsets: backend key → (endpoints, ring)
        self._rings: dict[str, tuple[tuple[Endpoint, ...], Ring[Endpoint]]] = {}
        self._subsets: dict[str, tuple[tuple[Endpoint, ...], Ring[tuple[Endpoint, ...]]]] = {}
        self.ewma = Ewma(clock, self._random)
        self.sticky = Sticky(self.ring, self._random)

    def pick(self, backend: Backend, usable: tuple[Endpoint, ...],
             tried: Collection[tuple[str, int]] = (),
             request: Exchange | None = None) -> Endpoint | None:
        """One of `usable` (the backend's endpoints now) not tried yet, preferring ones not
        ejected; None when all were tried."""
        if backend.balancer is not Balancer.ROUND_ROBIN:
            return self._pick_other(backend, usable, tried, request)
        # _candidates() inlined: round robin is the common pick.
        candidates = usable
        if tried:
            candidates = tuple(e for e in candidates if e.address not in tried)
        if not candidates:
            return None
        if self.ejected:
            candidates = self._healthy(candidates)
        count = len(candidates)
        if count == 1:
            return candidates[0]
        key = backend.key
        cursor = self._cursors.get(key, 0)
        self._cursors[key] = cursor + 1
        return candidates[cursor % count]

    def _candidates(self, usable: tuple[Endpoint, ...],
                    tried: Collection[tuple[str, int]]) -> tuple[Endpoint, ...]:
        candidates = usable
        if tried:
            candidates = tuple(e for e in candidates if e.address not in tried)
        if candidates and self.ejected:
            candidates = self._healthy(candidates)
        return candidates

    def _pick_other(self, backend: Backend, usable: tuple[Endpoint, ...],
                    tried: Collection[tuple[str, int]],
                    request: Exchange | None) -> Endpoint | None:
        algorithm = backend.balancer
        if algorithm in _BY_REQUEST and request is not None:
            return self._by_request(algorithm, backend, usable, tried, request)
        candidates = self._candidates(usable, tried)
        if algorithm is Balancer.EWMA and request is not None:
            request.timed = True
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        if algorithm is Balancer.EWMA:
            return self.ewma.pick(backend.key, usable, candidates)
        if algorithm is Balancer.LEAST_CONN:
            return min(candidates, key=lambda e: self._pools(e.address).active)
        return self._random.choice(candidates)

    def _by_request(self, algorithm: Balancer, backend: Backend, usable: tuple[Endpoint, ...],
                    tried: Collection[tuple[str, int]], request: Exchange) -> Endpoint | None:
        if algorithm is Balancer.STICKY_BALANCED or algorithm is Balancer.STICKY_PERSISTENT:
            return self.sticky.pick(backend, usable, tried, request)
        if not usable:
            return None
        hash_key = backend.hash_key
        assert hash_key is not None
        key = hash_key_of(hash_key, request)
        if algorithm is Balancer.CHASH:
            return self.ring(backend, usable).find(key)
        subset = self._subset_ring(backend, usable, hash_key.subset_size).find(key)
        return self._random.choice(subset)

    def ring(self, backend: Backend, endpoints: tuple[Endpoint, ...]) -> Ring[Endpoint]:
        """The consistent-hash ring of the backend's `endpoints` (at least one)."""
        cached = self._rings.get(backend.key)
        if cached is None or (cached[0] is not endpoints and cached[0] != endpoints):
            ring = Ring([(endpoint_name(e), 1, e) for e in endpoints])
            cached = self._rings[backend.key] = (endpoints, ring)
        return cached[1]

    def _subset_ring(self, backend: Backend, endpoints: tuple[Endpoint, ...],
                     size: int) -> Ring[tuple[Endpoint, ...]]:
        """ingress-nginx's chashsubset: `endpoints` in subsets "set1"… of `size`, the last
        filled up from the first endpoints, and a ring of the subsets."""
        cached = self._subsets.get(backend.key)
        if cached is None or (cached[0] is not endpoints and cached[0] != endpoints):
            count = -(-len(endpoints) // size)
            padded = [*endpoints, *endpoints][: count * size]
            subsets = [(f"set{i + 1}", 1, tuple(padded[i * size:(i + 1) * size]))
                       for i in range(count)]
            cached = self._subsets[backend.key] = (endpoints, Ring(subsets))
        return cached[1]

    def affinitized(self, backend: Backend, request: Exchange) -> bool:
        """Whether a session cookie pins the request to `backend`."""
        return self.sticky.affinitized(backend, request)

    def observe(self, endpoint: Endpoint, seconds: float) -> None:
        """A response from `endpoint` took `seconds` (EWMA backends call this)."""
        self.ewma.observe(endpoint.address, seconds)

    def _healthy(self, candidates: tuple[Endpoint, ...]) -> tuple[Endpoint, ...]:
        now = self._clock()
        ejected = self.ejected
        for address in [a for a, until in ejected.items() if until <= now]:
            del ejected[address]
        healthy = tuple(e for e in candidates if e.address not in ejected)
        # Never eject everything: if all candidates are ejected, use them anyway.
        return healthy or candidates

    def forget_address(self, address: tuple[str, int]) -> None:
        """An endpoint left the table: drop its health and latency state."""
        self.ejected.pop(address, None)
        self.ewma.stats.pop(address, None)

    def keep_only(self, keys: Collection[str]) -> None:
        """Drop the state of backends that left the table."""
        for cache in (self._cursors, self._rings, self._subsets):
            for key in [k for k in cache if k not in keys]:
                del cache[key]
        self.ewma.forget(set(keys))
        self.sticky.forget(keys)


def hash_key_of(key: HashKey, request: Exchange) -> str:
    """The text `upstream-hash-by` names for this request (absent values are empty)."""
    out: list[str] = []
    for part in key.parts:
        source = part.source
        if source is HashSource.TEXT:
            out.append(part.name)
        elif source is HashSource.REQUEST_URI:
            out.append(request.url.decode("latin-1"))
        elif source is HashSource.REMOTE_ADDR:
            out.append(request.conn.client_address)
        elif source is HashSource.HOST:
            out.append(request.host)
        elif source is HashSource.URI:
            out.append(request.path)
        elif source is HashSource.HEADER:
            value = request.header(part.name.encode("latin-1"))
            out.append(value.decode("latin-1") if value is not None else "")
        elif source is HashSource.COOKIE:
            out.append(cookie_value(request, part.name) or "")
        else:
            out.append(query_argument(request.url, part.name) or "")
    return "".join(out)
