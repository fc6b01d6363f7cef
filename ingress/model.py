"""The routing table: what the builder produces and the proxy reads.

Everything here is immutable. A rebuild produces a new `RoutingTable`; the
proxy swaps one reference, so a request keeps the table it started with.
Mappings are plain dicts that nothing mutates after `build()` returns (they
are cheaper to look up than `MappingProxyType` and pickle for the workers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network
from typing import TypeVar

T = TypeVar("T")


class PathType(StrEnum):
    EXACT = "Exact"
    PREFIX = "Prefix"


class Balancer(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_CONN = "least_conn"
    RANDOM = "random"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Names a Kubernetes object in problems, metrics and Events."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one object; the builder skips the offending part."""

    obj: ObjectRef
    field: str
    message: str
    reason: str = "InvalidIngress"

    def __str__(self) -> str:
        return f"{self.obj}: {self.field}: {self.message}"


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
class Backend:
    """A Service port and the endpoints that currently serve it.

    `endpoints` are the ready ones; `fallback` are serving-but-terminating
    ones, used only when no endpoint is ready (as kube-proxy does).
    `key` identifies the backend across table swaps so that balancer state
    survives a rebuild.
    """

    namespace: str
    service: str
    port: str
    endpoints: tuple[Endpoint, ...]
    fallback: tuple[Endpoint, ...] = ()
    balancer: Balancer = Balancer.ROUND_ROBIN
    # "namespace/service:port", built once: round-robin picks look it up per request.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.namespace}/{self.service}:{self.port}")

    @property
    def usable(self) -> tuple[Endpoint, ...]:
        return self.endpoints or self.fallback


@dataclass(frozen=True, slots=True)
class Redirect:
    """An answer the proxy gives itself instead of forwarding."""

    status: int
    location: str
    # True: `location` is a base URL and the request URI is appended.
    append_uri: bool = False


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """Per-route behaviour parsed from `nginx.ingress.kubernetes.io/*` annotations.

    None means "use the controller-wide setting".
    """

    ssl_redirect: bool = True
    force_ssl_redirect: bool = False
    redirect: Redirect | None = None
    app_root: str | None = None
    rewrite_target: str | None = None
    max_body_size: int | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    allow_source_ranges: tuple[IPv4Network | IPv6Network, ...] = ()
    upstream_vhost: str | None = None


DEFAULT_POLICY = RoutePolicy()


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    path_type: PathType
    backend: Backend
    ingress: ObjectRef
    host: str = ""
    policy: RoutePolicy = DEFAULT_POLICY
    # (host, ingress namespace, ingress name, service): metric labels, built once.
    labels: tuple[str, str, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        labels = (self.host, self.ingress.namespace, self.ingress.name, self.backend.service)
        object.__setattr__(self, "labels", labels)


def normalize_prefix(path: str) -> str:
    """`/foo/` and `/foo` are the same Prefix rule; `/` becomes ''."""
    return path.rstrip("/")


@dataclass(frozen=True, slots=True)
class VirtualHost:
    """The routes of one host (exact name, `*.suffix` wildcard, or '' = any host).

    `prefixes` is keyed by the normalized prefix (no trailing slash, '' for
    `/`), so matching walks the request path's `/`-boundaries from longest to
    shortest: a few dict lookups, whatever the number of routes.
    """

    host: str
    exact: Mapping[str, Route] = field(default_factory=dict)
    prefixes: Mapping[str, Route] = field(default_factory=dict)
    tls: bool = False

    def match(self, path: str) -> Route | None:
        route = self.exact.get(path)
        if route is not None:
            return route
        prefixes = self.prefixes
        if not prefixes:
            return None
        candidate = path
        while True:
            route = prefixes.get(candidate)
            if route is not None:
                return route
            cut = candidate.rfind("/")
            if cut < 0:
                return None
            candidate = candidate[:cut]


@dataclass(frozen=True, slots=True)
class Certificate:
    """A validated TLS certificate chain and key (PEM), from a Secret."""

    secret: ObjectRef
    cert_pem: bytes
    key_pem: bytes
    hosts: tuple[str, ...]
    not_after: float
    # Changes whenever the Secret's content does: lets the proxy reuse a
    # prepared SSLContext across table swaps.
    fingerprint: str


@dataclass(frozen=True, slots=True)
class RoutingTable:
    hosts: Mapping[str, VirtualHost] = field(default_factory=dict)
    # `*.foo.com` is stored under "foo.com": one label is stripped from the
    # request host and looked up here.
    wildcards: Mapping[str, VirtualHost] = field(default_factory=dict)
    any_host: VirtualHost | None = None
    default_backend: Route | None = None
    # Certificates by exact host and by wildcard suffix, like the vhosts.
    certificates: Mapping[str, Certificate] = field(default_factory=dict)
    wildcard_certificates: Mapping[str, Certificate] = field(default_factory=dict)
    default_certificate: Certificate | None = None
    generation: int = 0

    def virtual_host(self, host: str) -> VirtualHost | None:
        """The vhost for a lower-case host name without port, or None."""
        return _by_host(self.hosts, self.wildcards, host)

    def route(self, host: str, path: str) -> Route | None:
        """Route a request: its host's rules, then host-less rules, then defaultBackend."""
        vhost = self.virtual_host(host)
        if vhost is not None:
            route = vhost.match(path)
            if route is not None:
                return route
        if self.any_host is not None:
            route = self.any_host.match(path)
            if route is not None:
                return route
        return self.default_backend

    def certificate(self, server_name: str) -> Certificate | None:
        return _by_host(self.certificates, self.wildcard_certificates, server_name)

    def backends(self) -> dict[str, Backend]:
        """Every backend in the table by key (for pool pruning and metrics)."""
        found: dict[str, Backend] = {}
        vhosts = [*self.hosts.values(), *self.wildcards.values()]
        if self.any_host is not None:
            vhosts.append(self.any_host)
        for vhost in vhosts:
            for route in (*vhost.exact.values(), *vhost.prefixes.values()):
                found[route.backend.key] = route.backend
        if self.default_backend is not None:
            found[self.default_backend.backend.key] = self.default_backend.backend
        return found


def _by_host(exact: Mapping[str, T], wildcards: Mapping[str, T], host: str) -> T | None:
    """Exact name first, then `*.suffix` (exactly one label more than the suffix)."""
    found = exact.get(host)
    if found is None:
        dot = host.find(".")
        if dot > 0:
            found = wildcards.get(host[dot + 1 :])
    return found


EMPTY_TABLE = RoutingTable()
