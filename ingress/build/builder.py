"""Kubernetes objects → RoutingTable, purely: no I/O, no clock, no globals.

Owned Ingresses are processed oldest first (creationTimestamp, then
namespace/name), so when two claim the same host, path and pathType, or
both set a default backend, the older one keeps it and the newer one gets
a Conflict problem naming its field. That rule makes the table independent
of the order objects arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingress.build.backends import BackendResolver
from ingress.build.certificates import CertificateLoader
from ingress.build.classes import ClassSelector
from ingress.build.hosts import wildcard_suffix
from ingress.build.ingress import IngressRequest, PathClaim, parse_ingress
from ingress.build.result import BuildResult
from ingress.build.tls import TLSAssigner, TLSAssignment
from ingress.model import PathType, Problem, Route, RoutingTable, VirtualHost
from ingress.settings import BuildSettings
from ingress.store import Key, Snapshot


def _age(key: Key, body: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = body.get("metadata")
    created = metadata.get("creationTimestamp") if isinstance(metadata, Mapping) else None
    # RFC 3339 UTC timestamps ("2024-05-01T10:00:00Z") sort as text.
    return (created if isinstance(created, str) else "", key[0], key[1])


@dataclass(slots=True)
class _HostRoutes:
    exact: dict[str, Route] = field(default_factory=dict)
    prefixes: dict[str, Route] = field(default_factory=dict)


class _Routes:
    """Routes by host, first claim wins."""

    def __init__(self) -> None:
        self.hosts: dict[str, _HostRoutes] = {}
        self.default_backend: Route | None = None
        self.problems: list[Problem] = []

    def add(self, request: IngressRequest) -> None:
        for claim in request.paths:
            self._claim(claim)
        backend = request.default_backend
        if backend is None:
            return
        if self.default_backend is None:
            self.default_backend = backend
        else:
            self.problems.append(Problem(
                request.ref, "spec.defaultBackend",
                f"the default backend is already set by {self.default_backend.source}",
                "Conflict",
            ))

    def _claim(self, claim: PathClaim) -> None:
        route = claim.route
        host = self.hosts.get(route.host)
        if host is None:
            host = self.hosts[route.host] = _HostRoutes()
        routes = host.exact if route.path_type is PathType.EXACT else host.prefixes
        existing = routes.setdefault(claim.key, route)
        if existing is not route:
            self.problems.append(Problem(
                route.source, claim.field,
                f"host {route.host or '*'!r} {route.path_type.value} path {route.path!r} "
                f"is already routed by {existing.source}",
                "Conflict",
            ))

    def table(self, tls: TLSAssignment, generation: int) -> RoutingTable:
        hosts: dict[str, VirtualHost] = {}
        wildcards: dict[str, VirtualHost] = {}
        any_host: VirtualHost | None = None
        for name, routes in self.hosts.items():
            vhost = VirtualHost(name, routes.exact, routes.prefixes, tls=name in tls.tls_hosts)
            suffix = wildcard_suffix(name)
            if not name:
                any_host = vhost
            elif suffix is not None:
                wildcards[suffix] = vhost
            else:
                hosts[name] = vhost
        return RoutingTable(
            hosts=hosts,
            wildcards=wildcards,
            any_host=any_host,
            default_backend=self.default_backend,
            certificates=tls.certificates,
            wildcard_certificates=tls.wildcard_certificates,
            default_certificate=tls.default_certificate,
            generation=generation,
        )


def build(
    objects: Snapshot, settings: BuildSettings, now: float, generation: int = 0
) -> BuildResult:
    """The routing table of the Ingresses we own, and every problem found on the way.

    `now` (epoch seconds) decides which certificates have expired.
    """
    selector = ClassSelector.from_objects(objects.get("IngressClass", {}), settings)
    owned = sorted(
        (_age(key, body), key, body)
        for key, body in objects.get("Ingress", {}).items()
        if selector.owns(body)
    )
    resolver = BackendResolver(objects.get("Service", {}), objects.get("EndpointSlice", {}))
    tls = TLSAssigner(CertificateLoader(objects.get("Secret", {}), now))
    tls.add_default(settings.default_ssl_certificate)
    routes = _Routes()
    problems: list[Problem] = []
    refs = []
    for _, key, body in owned:
        request = parse_ingress(key, body, resolver)
        refs.append(request.ref)
        problems.extend(request.problems)
        routes.add(request)
        tls.add(request)
    problems += routes.problems + resolver.problems + tls.result.problems
    return BuildResult(
        table=routes.table(tls.result, generation),
        problems=tuple(problems),
        owned=tuple(refs),
        referenced_secrets=frozenset(tls.result.referenced_secrets),
    )
