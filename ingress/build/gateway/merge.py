"""Gateway API routes and certificates joined into the Ingress routing table.

Ingresses and HTTPRoutes share one table. Where both route the same host
and path (the same Exact path or PathPrefix), the older object keeps it,
whole, as two Ingresses settle it; the other is reported as a Conflict
(a Loss: on an HTTPRoute's status too).
Regular expressions of both are kept, the Ingress ones tried first; so is
an Ingress host's nginx-style string and regex locations (they are tried
as ingress-nginx would, HTTPRoute paths among them by the vhost's order).

Ingress TLS hosts redirect plain HTTP to HTTPS; Gateway routes never do (a
Gateway asks for that with a RequestRedirect), even on such a host.
Certificates of HTTPS listeners serve the names Ingresses have not claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from ingress.build.gateway.assemble import HostRoutes
from ingress.build.gateway.losses import Loss
from ingress.build.hosts import wildcard_suffix
from ingress.model import (
    Certificate,
    ObjectRef,
    Route,
    RoutingTable,
    SslRedirect,
    VirtualHost,
)

Age = Callable[[ObjectRef], tuple[str, str, str, str]]
_NO_REDIRECT = SslRedirect(enabled=False)


def _members(route: Route | None) -> list[Route]:
    found = []
    while route is not None:
        found.append(route)
        route = route.next
    return found


def _without_https_redirect(route: Route) -> Route:
    """The chain headed by `route`, with no member redirecting plain HTTP to HTTPS."""
    following: Route | None = None
    for member in reversed(_members(route)):
        following = replace(member, next=following, ssl_redirect=_NO_REDIRECT)
    assert following is not None
    return following


class _Merger:
    def __init__(self, age: Age) -> None:
        self._age = age
        self.losses: list[Loss] = []

    def _oldest(self, chain: Route) -> tuple[str, str, str, str]:
        return min(self._age(member.source) for member in _members(chain))

    def _claims(self, ingress: Mapping[str, Route], gateway: Mapping[str, Route],
                tls: bool) -> dict[str, Route]:
        merged = dict(ingress)
        for key, chain in gateway.items():
            if tls:
                chain = _without_https_redirect(chain)
            existing = merged.get(key)
            if existing is None:
                merged[key] = chain
                continue
            if self._oldest(chain) < self._oldest(existing):
                merged[key], chain, existing = chain, existing, chain
            self._report(chain, existing)
        return merged

    def _report(self, loser: Route, winner: Route) -> None:
        path = f"{loser.path_type.value} path {loser.path!r}"
        for source in dict.fromkeys(member.source for member in _members(loser)):
            self.losses.append(Loss(
                source, "spec.rules", loser.host, path, winner.source,
                f"host {loser.host or '*'!r} {path} is already routed by {winner.source} "
                "(the older object keeps it)",
            ))

    def vhost(self, name: str, existing: VirtualHost | None, routes: HostRoutes) -> VirtualHost:
        if existing is None:
            return VirtualHost(name, dict(routes.exact), dict(routes.prefixes),
                               tuple(routes.regexes))
        tls = existing.tls
        regexes = [_without_https_redirect(r) if tls else r for r in routes.regexes]
        return replace(
            existing,
            exact=self._claims(existing.exact, routes.exact, tls),
            prefixes=self._claims(existing.prefixes, routes.prefixes, tls),
            regexes=(*existing.regexes, *regexes),
        )


def _certificates(table: RoutingTable,
                  listener_certificates: list[tuple[str, Certificate]]) -> tuple[
                      dict[str, Certificate], dict[str, Certificate]]:
    exact, wildcards = dict(table.certificates), dict(table.wildcard_certificates)
    for hostname, cert in listener_certificates:
        # A listener without hostname serves its certificate for the names it holds.
        for name in [hostname] if hostname else cert.hosts:
            suffix = wildcard_suffix(name)
            if suffix is None:
                exact.setdefault(name, cert)
            else:
                wildcards.setdefault(suffix, cert)
    return exact, wildcards


def merge(table: RoutingTable, hosts: Mapping[str, HostRoutes],
          listener_certificates: list[tuple[str, Certificate]],
          age: Age) -> tuple[RoutingTable, list[Loss]]:
    """`table` with the Gateway API routes and certificates added, and the conflicts."""
    merger = _Merger(age)
    exact_hosts = dict(table.hosts)
    wildcards = dict(table.wildcards)
    deep: dict[str, VirtualHost] = {}
    any_host = table.any_host
    for name, routes in hosts.items():
        suffix = wildcard_suffix(name)
        if not name:
            any_host = merger.vhost(name, any_host, routes)
        elif suffix is None:
            exact_hosts[name] = merger.vhost(name, exact_hosts.get(name), routes)
        else:
            wildcards[suffix] = merger.vhost(name, wildcards.get(suffix), routes)
            deep[suffix] = merger.vhost(name, None, routes)
    exact_certs, wildcard_certs = _certificates(table, listener_certificates)
    merged = replace(table, hosts=exact_hosts, wildcards=wildcards, deep_wildcards=deep,
                     any_host=any_host, certificates=exact_certs,
                     wildcard_certificates=wildcard_certs)
    return merged, merger.losses
