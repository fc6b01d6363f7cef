"""The routing table: hosts → paths → routes, and certificates by server name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from ingress.model.backends import NO_ENDPOINTS, Backend, EndpointSet
from ingress.model.filters.clientcert import ClientAuth
from ingress.model.matches import NO_REQUEST, RequestView
from ingress.model.objects import ObjectRef
from ingress.model.routes import Route
from ingress.model.servers import ServerTls

T = TypeVar("T")


def normalize_prefix(path: str) -> str:
    """`/foo/` and `/foo` are the same Prefix rule; `/` becomes ''."""
    return path.rstrip("/")


def _first_matching(route: Route | None, request: RequestView) -> Route | None:
    """`route` or the first of its alternatives whose conditions the request meets."""
    while route is not None:
        if route.match is None or route.match.matches(request):
            return route
        route = route.next
    return None


@dataclass(frozen=True, slots=True)
class VirtualHost:
    """The routes of one host (exact name, `*.suffix` wildcard, or '' = any host).

    `prefixes` is keyed by the normalized prefix (no trailing slash, '' for
    `/`), so matching walks the request path's `/`-boundaries from longest to
    shortest: a few dict lookups, whatever the number of routes. `regexes`
    are tried in order after exact paths and before prefixes, as nginx
    tries its regex locations. `strings` are nginx's plain prefix locations
    (`/foo` also matches `/foobar`): the longest one that starts the path
    wins, found by one lookup per distinct key length, after `prefixes`
    (a host uses one or the other).
    """

    host: str
    exact: Mapping[str, Route] = field(default_factory=dict)
    prefixes: Mapping[str, Route] = field(default_factory=dict)
    regexes: tuple[Route, ...] = ()
    tls: bool = False
    strings: Mapping[str, Route] = field(default_factory=dict)
    # The TLS handshake for this host asks for a client certificate (auth-tls-secret).
    client_auth: ClientAuth | None = None
    # Its own TLS cipher settings (ssl-ciphers, ssl-prefer-server-ciphers).
    server_tls: ServerTls | None = None
    # The lengths of the `strings` keys, longest first. Built once.
    string_lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lengths = tuple(sorted({len(key) for key in self.strings}, reverse=True))
        object.__setattr__(self, "string_lengths", lengths)

    def match(self, path: str, request: RequestView = NO_REQUEST) -> Route | None:
        route = self.exact.get(path)
        if route is not None:
            if route.match is None:
                return route
            route = _first_matching(route, request)
            if route is not None:
                return route
        for candidate_route in self.regexes:
            regex = candidate_route.regex
            if regex is not None and regex.prefix_match(path) is not None:
                route = _first_matching(candidate_route, request)
                if route is not None:
                    return route
        prefixes = self.prefixes
        if prefixes:
            candidate = path
            while True:
                route = prefixes.get(candidate)
                if route is not None:
                    if route.match is None:
                        return route
                    route = _first_matching(route, request)
                    if route is not None:
                        return route
                cut = candidate.rfind("/")
                if cut < 0:
                    break
                candidate = candidate[:cut]
        if self.strings:
            return self._longest_string(path, request)
        return None

    def _longest_string(self, path: str, request: RequestView) -> Route | None:
        strings = self.strings
        size = len(path)
        for length in self.string_lengths:
            if length <= size:
                route = _first_matching(strings.get(path[:length]), request)
                if route is not None:
                    return route
        return None

    def routes(self) -> Iterator[Route]:
        """Every route of this host, alternatives included."""
        heads = (*self.exact.values(), *self.prefixes.values(), *self.regexes,
                 *self.strings.values())
        for head in heads:
            route: Route | None = head
            while route is not None:
                yield route
                route = route.next


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
    # Gateway API wildcards, whose `*` stands for one label or more: `*.foo.com` (stored
    # under "foo.com") also takes `a.b.foo.com`. Tried after `wildcards`, the longest
    # suffix first; each is also in `wildcards` for names one label longer.
    deep_wildcards: Mapping[str, VirtualHost] = field(default_factory=dict)
    any_host: VirtualHost | None = None
    default_backend: Route | None = None
    # Certificates by exact host and by wildcard suffix, like the vhosts.
    certificates: Mapping[str, Certificate] = field(default_factory=dict)
    wildcard_certificates: Mapping[str, Certificate] = field(default_factory=dict)
    default_certificate: Certificate | None = None
    # TLS passthrough (ssl-passthrough): connections naming these hosts (SNI, exact names)
    # go unopened to the backend of the host's `/` route.
    passthrough: Mapping[str, Backend] = field(default_factory=dict)
    # Proxy settings the controller ConfigMap sets, by `Settings` field name: the
    # proxy applies them when it swaps this table in, so they need no restart.
    settings: Mapping[str, object] = field(default_factory=dict)
    # The endpoints of every backend the routes name, by `Backend.endpoints_key`.
    endpoints: Mapping[str, EndpointSet] = field(default_factory=dict)
    # Counts the full builds; endpoint changes keep the generation of their table.
    generation: int = 0

    def virtual_host(self, host: str) -> VirtualHost | None:
        """The vhost for a lower-case host name without port, or None."""
        found = self.hosts.get(host)
        if found is None:
            dot = host.find(".")
            if dot > 0:
                suffix = host[dot + 1 :]
                found = self.wildcards.get(suffix)
                if found is None and self.deep_wildcards:
                    found = _by_longest_suffix(self.deep_wildcards, suffix)
        return found

    def route(self, host: str, path: str, request: RequestView = NO_REQUEST) -> Route | None:
        """Route a request: its host's rules, then host-less rules, then defaultBackend."""
        vhost = self.virtual_host(host)
        if vhost is not None:
            route = vhost.match(path, request)
            if route is not None:
                return route
        if self.any_host is not None:
            route = self.any_host.match(path, request)
            if route is not None:
                return route
        return self.default_backend

    def certificate(self, server_name: str) -> Certificate | None:
        return _by_host(self.certificates, self.wildcard_certificates, server_name)

    def virtual_hosts(self) -> Iterator[VirtualHost]:
        yield from self.hosts.values()
        yield from self.wildcards.values()
        yield from self.deep_wildcards.values()
        if self.any_host is not None:
            yield self.any_host

    def all_routes(self) -> Iterator[Route]:
        for vhost in self.virtual_hosts():
            yield from vhost.routes()
        if self.default_backend is not None:
            yield self.default_backend

    def endpoint_set(self, backend: Backend) -> EndpointSet:
        return self.endpoints.get(backend.endpoints_key, NO_ENDPOINTS)


def _by_host(exact: Mapping[str, T], wildcards: Mapping[str, T], host: str) -> T | None:
    """Exact name first, then `*.suffix` (exactly one label more than the suffix)."""
    found = exact.get(host)
    if found is None:
        dot = host.find(".")
        if dot > 0:
            found = wildcards.get(host[dot + 1 :])
    return found


def _by_longest_suffix(deep: Mapping[str, T], suffix: str) -> T | None:
    """The entry of the longest proper suffix of `suffix` (whose own entry was tried)."""
    while True:
        dot = suffix.find(".")
        if dot < 0:
            return None
        suffix = suffix[dot + 1 :]
        found = deep.get(suffix)
        if found is not None:
            return found


EMPTY_TABLE = RoutingTable()
