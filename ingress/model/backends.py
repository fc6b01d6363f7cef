"""Where a route sends requests: Service ports, their endpoints, and how to choose."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ingress.model.balancing import HashKey, SessionCookie
from ingress.model.upstream import BackendProtocol, UpstreamTls


class Balancer(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_CONN = "least_conn"
    RANDOM = "random"
    EWMA = "ewma"
    # The ones below read the request (Backend.hash_key / .session_cookie).
    CHASH = "chash"
    CHASH_SUBSET = "chashsubset"
    STICKY_BALANCED = "sticky_balanced"
    STICKY_PERSISTENT = "sticky_persistent"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One pod address behind a Service port (from an EndpointSlice)."""

    ip: str
    port: int
    # (ip, port), built once: the proxy keys its pools by it on every request.
    address: tuple[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", (self.ip, self.port))


@dataclass(frozen=True, slots=True)
class EndpointSet:
    """The endpoints that currently serve one backend.

    `ready` are the ready ones; `fallback` are serving-but-terminating ones,
    used only when no endpoint is ready (as kube-proxy does). They live in
    `RoutingTable.endpoints`, apart from the routes, so that an EndpointSlice
    change replaces one set and nothing else.
    """

    ready: tuple[Endpoint, ...] = ()
    fallback: tuple[Endpoint, ...] = ()
    # What a pick chooses from: `ready`, or `fallback` when none is. Built once.
    usable: tuple[Endpoint, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "usable", self.ready or self.fallback)


NO_ENDPOINTS = EndpointSet()


@dataclass(frozen=True, slots=True)
class Backend:
    """A Service port, and how to choose among the endpoints that serve it.

    `key` identifies the backend across table swaps, so that balancer state
    survives rebuilds and endpoint changes alike; `endpoints_key` names its
    `EndpointSet` in `RoutingTable.endpoints`. An ExternalName Service has
    no endpoints there: the proxy resolves `external_name` itself and
    connects to `external_port`.
    """

    namespace: str
    service: str
    port: str
    balancer: Balancer = Balancer.ROUND_ROBIN
    hash_key: HashKey | None = None  # CHASH and CHASH_SUBSET
    session_cookie: SessionCookie | None = None  # STICKY_*
    protocol: BackendProtocol = BackendProtocol.HTTP
    tls: UpstreamTls | None = None  # set when `protocol` is over TLS
    external_name: str = ""
    external_port: int = 0
    # service-upstream: the one endpoint is the Service's ClusterIP, not its pods.
    cluster_ip: bool = False
    # "namespace/service:port", built once: round-robin picks look it up per request.
    key: str = field(init=False, repr=False, compare=False)
    endpoints_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = f"{self.namespace}/{self.service}:{self.port}"
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "endpoints_key", f"{key} ClusterIP" if self.cluster_ip else key)


@dataclass(frozen=True, slots=True)
class WeightedBackend:
    # None: a reference that could not be resolved; its share of requests is answered 500.
    backend: Backend | None
    weight: int


@dataclass(frozen=True, slots=True)
class BackendSplit:
    """Traffic shared between backends by weight (Gateway API backendRefs).

    `bounds` are the cumulative weights, built once: a pick draws one
    number below `total` and takes the first bound above it.
    """

    backends: tuple[WeightedBackend, ...]
    bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)
    total: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bounds: list[int] = []
        total = 0
        for weighted in self.backends:
            total += max(weighted.weight, 0)
            bounds.append(total)
        object.__setattr__(self, "bounds", tuple(bounds))
        object.__setattr__(self, "total", total)

    def pick(self, draw: float) -> Backend | None:
        """The backend for `draw` in [0, 1); None when every weight is 0 or the draw
        falls on an unresolved backend."""
        if self.total <= 0:
            return None
        point = draw * self.total
        for weighted, bound in zip(self.backends, self.bounds, strict=True):
            if point < bound:
                return weighted.backend
        return self.backends[-1].backend
