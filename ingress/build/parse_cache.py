"""What one build parsed of each Ingress, for the next build to reuse.

Most rebuilds change one object; parsing every Ingress again each time is
most of a full build's cost (a second for 10,000 Ingresses), and making
every virtual host again most of the rest. A build gets
the previous build's `ParseCache` and reuses an Ingress's parse when the
Ingress is the same object as then and everything that parse read is too:
the Services its backends named (identity, as the store keeps unchanged
objects), and the build-wide inputs (settings, the controller ConfigMap's
decisions, the controller's default backend). A parse that read Secrets,
ConfigMaps or endpoints is not kept: it is redone every build. A virtual
host made of the same claims (the same objects) as in the previous build is
that build's virtual host. Nothing
here is state: the cache is an input and a part of the result, and a
build with or without it returns the same table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from operator import is_

from ingress.build.annotations.spec import Lookups
from ingress.build.backends import BackendResolver, ResolverJournal
from ingress.build.ingress import IngressRequest, PathClaim, parse_ingress
from ingress.build.owned import OwnedIngresses
from ingress.model import Route, VirtualHost
from ingress.store import Body, Key


@dataclass(frozen=True, slots=True)
class CachedParse:
    body: Body
    request: IngressRequest
    journal: ResolverJournal


@dataclass(frozen=True, slots=True)
class BuiltHost:
    """A virtual host and what it was made of: the same claims make the same host."""

    claims: tuple[PathClaim, ...]
    tls: bool
    app_root: Route | None
    vhost: VirtualHost

    def made_of(self, claims: tuple[PathClaim, ...], tls: bool, app_root: Route | None) -> bool:
        return (tls == self.tls and app_root is self.app_root
                and len(claims) == len(self.claims) and all(map(is_, claims, self.claims)))


@dataclass(frozen=True, slots=True)
class ParseCache:
    environment: tuple[object, ...] = ()  # the build-wide inputs the parses read
    entries: Mapping[Key, CachedParse] = field(default_factory=dict)
    hosts: Mapping[str, BuiltHost] = field(default_factory=dict)  # by host name
    owned: OwnedIngresses | None = None  # which Ingresses were ours, oldest first


NO_CACHE = ParseCache()


class _Watched(Mapping[Key, Body]):
    """A mapping that counts the reads of its entries."""

    def __init__(self, inner: Mapping[Key, Body]) -> None:
        self.inner = inner
        self.reads = 0

    def __getitem__(self, key: Key) -> Body:
        self.reads += 1
        return self.inner[key]

    def __iter__(self) -> Iterator[Key]:
        self.reads += 1
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


class _WatchedSet(set[Key]):
    """A set that counts additions."""

    adds = 0

    def add(self, key: Key) -> None:
        self.adds += 1
        super().add(key)


class CachingParser:
    """Parses the owned Ingresses of one build, reusing what `previous` holds."""

    def __init__(self, previous: ParseCache, environment: tuple[object, ...],
                 resolver: BackendResolver, lookups: Lookups) -> None:
        same = previous.environment == environment
        self._reusable = previous.entries if same else {}
        # The virtual hosts of the previous build, reusable when their claims are the same.
        self.hosts = previous.hosts if same else {}
        self._environment = environment
        self._resolver = resolver
        self._lookups = lookups
        self._secrets = lookups.secrets = _Watched(lookups.secrets)
        self._config_maps = lookups.config_maps = _Watched(lookups.config_maps)
        self._referenced_secrets = lookups.referenced_secrets = _WatchedSet(
            lookups.referenced_secrets)
        self._referenced_config_maps = lookups.referenced_config_maps = _WatchedSet(
            lookups.referenced_config_maps)
        self._entries: dict[Key, CachedParse] = {}

    def parse(self, key: Key, body: Body) -> IngressRequest:
        resolver = self._resolver
        cached = self._reusable.get(key)
        if cached is not None and cached.body is body and resolver.holds(cached.journal):
            resolver.replay(cached.journal)
            self._entries[key] = cached
            return cached.request
        before = self._reads()
        resolver.journal = journal = ResolverJournal()
        try:
            request = parse_ingress(key, body, resolver, self._lookups)
        finally:
            resolver.journal = None
        if self._reads() == before and not journal.read_endpoints:
            self._entries[key] = CachedParse(body, request, journal)
        return request

    def cache(self, hosts: Mapping[str, BuiltHost], owned: OwnedIngresses) -> ParseCache:
        return ParseCache(self._environment, self._entries, hosts, owned)

    def _reads(self) -> int:
        return (self._secrets.reads + self._config_maps.reads + self._referenced_secrets.adds
                + self._referenced_config_maps.adds)
