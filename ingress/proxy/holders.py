"""What the served table holds, counted, so that a swap costs what changed.

A table of 10,000 Ingresses has tens of thousands of routes and endpoints:
walking all of them on every swap would stall requests for tens of
milliseconds. Instead the data plane counts, for each route label, backend,
ExternalName, upstream TLS setting and endpoint address, how many parts of
the table hold it, and updates the counts from a `TableChange`: what
reaches zero has left the table, and its state in the data plane can go.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ingress.model import Backend, EndpointSet, Route, RoutingTable, VirtualHost
from ingress.model.changes import TableChange

K = TypeVar("K")
Address = tuple[str, int]
RouteLabels = tuple[str, str, str, str, str, str]
ExternalName = tuple[str, int]  # (name, port)


class Holders(Generic[K]):
    """How many parts of the table hold each key."""

    def __init__(self) -> None:
        self.counts: dict[K, int] = {}
        self.added = False  # a key came that no part held (since the caller last looked)

    def add(self, keys: Iterable[K]) -> None:
        counts = self.counts
        for key in keys:
            held = counts.get(key, 0)
            counts[key] = held + 1
            if not held:
                self.added = True

    def remove(self, keys: Iterable[K], gone: list[K]) -> None:
        """Count `keys` out; append those no part holds any more to `gone`."""
        counts = self.counts
        for key in keys:
            left = counts[key] - 1
            if left:
                counts[key] = left
            else:
                del counts[key]
                gone.append(key)


@dataclass(slots=True)
class Left:
    """What left the table in one change (or so far, in the parts of one)."""

    labels: list[RouteLabels] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)  # Backend.key
    external_names: list[ExternalName] = field(default_factory=list)
    tls: list[str] = field(default_factory=list)  # UpstreamTls.key
    addresses: list[Address] = field(default_factory=list)


class TableContents:
    """The route labels, backends, endpoint addresses and TLS hosts of the table served."""

    def __init__(self) -> None:
        self.labels: Holders[RouteLabels] = Holders()
        self.backends: Holders[str] = Holders()
        self.external_names: Holders[ExternalName] = Holders()
        self.tls: Holders[str] = Holders()
        self.addresses: Holders[Address] = Holders()
        self.tls_hosts = 0  # exact and wildcard hosts with TLS

    def update(self, old: RoutingTable, change: TableChange, left: Left) -> None:
        """Follow `change` (or one part of it) from `old`, the table served; what leaves
        goes to `left`."""
        for entries, before, counted in (
            (change.hosts, old.hosts, True),
            (change.wildcards, old.wildcards, True),
            (change.deep_wildcards, old.deep_wildcards, False),
        ):
            for key, vhost in entries.put.items():
                self._vhost(before.get(key), vhost, counted, left)
            for key in entries.removed:
                self._vhost(before.get(key), None, counted, left)
        singles = change.singles
        if singles is not None:
            self._vhost(old.any_host, singles.any_host, False, left)
            self._routes(_chain(singles.default_backend), _chain(old.default_backend), left)
        endpoints = change.endpoints
        for key, found in endpoints.put.items():
            self._endpoints(old.endpoints.get(key), found, left)
        for key in endpoints.removed:
            self._endpoints(old.endpoints.get(key), None, left)

    def _vhost(self, before: VirtualHost | None, after: VirtualHost | None, counted: bool,
               left: Left) -> None:
        if after is not None and counted and after.tls:
            self.tls_hosts += 1
        if before is not None and counted and before.tls:
            self.tls_hosts -= 1
        self._routes(after.routes() if after is not None else (),
                     before.routes() if before is not None else (), left)

    def _routes(self, came: Iterable[Route], gone: Iterable[Route], left: Left) -> None:
        # Added before removed: what both hold never drops to zero on the way.
        for routes, count in ((came, 1), (gone, -1)):
            for route in routes:
                labels = (route.labels,) if route.canary is None else (
                    route.labels, route.canary_labels)
                backends = list(_backends(route))
                keys = [b.key for b in backends]
                names = [(b.external_name, b.external_port) for b in backends if b.external_name]
                tls = [b.tls.key for b in backends if b.tls is not None]
                if count > 0:
                    self.labels.add(labels)
                    self.backends.add(keys)
                    self.external_names.add(names)
                    self.tls.add(tls)
                else:
                    self.labels.remove(labels, left.labels)
                    self.backends.remove(keys, left.backends)
                    self.external_names.remove(names, left.external_names)
                    self.tls.remove(tls, left.tls)

    def _endpoints(self, before: EndpointSet | None, after: EndpointSet | None,
                   left: Left) -> None:
        if after is not None:
            self.addresses.add(_addresses(after))
        if before is not None:
            self.addresses.remove(_addresses(before), left.addresses)


def _chain(route: Route | None) -> Iterator[Route]:
    while route is not None:
        yield route
        route = route.next


def _backends(route: Route) -> Iterator[Backend]:
    yield route.backend
    if route.split is not None:
        for weighted in route.split.backends:
            if weighted.backend is not None:
                yield weighted.backend
    if route.canary is not None:
        yield route.canary.backend
    if route.errors is not None:
        yield route.errors.backend


def _addresses(endpoints: EndpointSet) -> Iterator[Address]:
    for endpoint in endpoints.ready:
        yield endpoint.address
    for endpoint in endpoints.fallback:
        yield endpoint.address
