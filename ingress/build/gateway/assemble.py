"""Candidate routes → per-host routes, ordered by the Gateway API's precedence.

Where a request goes among different paths is the virtual host's lookup
(Exact, then RegularExpression, then the longest PathPrefix). Candidates
on the same host and path form one chain, tried in order: more conditions
first (a method, then more headers, then more query parameters), then the
oldest route, then namespace/name, then rule and match order.

A match attached through listeners of both protocols becomes one route;
through one protocol only, it only takes requests of that protocol. A
candidate that can never be reached (an earlier one takes every request it
would) is a Loss: reported as a Conflict, and on the route's status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ingress.build.gateway.httproutes import Candidate, with_secure
from ingress.build.gateway.losses import Loss
from ingress.model import PathType, Route, RouteMatch


@dataclass(slots=True)
class HostRoutes:
    exact: dict[str, Route] = field(default_factory=dict)
    prefixes: dict[str, Route] = field(default_factory=dict)
    regexes: list[Route] = field(default_factory=list)


def _merge_protocols(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per match and host and protocol; both protocols alike become one."""
    by_identity: dict[tuple[Any, ...], dict[bool | None, Candidate]] = {}
    for candidate in candidates:
        route = candidate.route
        secure = route.match.secure if route.match is not None else None
        identity = (route.host, route.path_type, route.path, candidate.order)
        by_identity.setdefault(identity, {}).setdefault(secure, candidate)
    merged = []
    for variants in by_identity.values():
        plain, tls = variants.get(False), variants.get(True)
        if plain is not None and tls is not None and _unrestricted(plain) == _unrestricted(tls):
            merged.append(replace(plain, route=_unrestricted(plain)))
        else:
            merged += variants.values()
    return merged


def _unrestricted(candidate: Candidate) -> Route:
    route = candidate.route
    return replace(route, match=with_secure(route.match, None))


def _shadows(earlier: RouteMatch | None, later: RouteMatch | None) -> bool:
    """Whether every request `later` takes is taken by `earlier` first."""
    if earlier is None:
        return True
    if later is None:
        return False
    unconditional = earlier.method is None and not earlier.headers and not earlier.query
    same_protocol = earlier.secure is None or earlier.secure == later.secure
    return same_protocol and (unconditional or replace(earlier, secure=later.secure) == later)


def _chain(candidates: list[Candidate], losses: list[Loss]) -> Route:
    ordered = sorted(candidates, key=lambda c: c.order)
    for i, candidate in enumerate(ordered):
        winner = next((e for e in ordered[:i] if _shadows(e.route.match, candidate.route.match)),
                      None)
        if winner is not None:
            route = candidate.route
            path = f"{route.path_type.value} path {route.path!r}"
            losses.append(Loss(
                route.source, candidate.field, route.host, path, winner.route.source,
                f"host {route.host or '*'!r} {path} is never used: {winner.route.source} "
                f"({winner.field}) takes its requests first",
            ))
    following: Route | None = None
    for candidate in reversed(ordered):
        following = replace(candidate.route, next=following)
    assert following is not None
    return following


def assemble(candidates: Iterable[Candidate]) -> tuple[dict[str, HostRoutes], list[Loss]]:
    """Routes by host ('' any host, '*.x' a wildcard), and the candidates never reachable."""
    groups: dict[tuple[str, PathType, str], list[Candidate]] = {}
    for candidate in _merge_protocols(list(candidates)):
        route = candidate.route
        key = route.regex.pattern if route.regex is not None else route.path
        if route.path_type is PathType.PREFIX:
            key = route.path.rstrip("/")
        groups.setdefault((route.host, route.path_type, key), []).append(candidate)
    hosts: dict[str, HostRoutes] = {}
    losses: list[Loss] = []
    for (host, path_type, key), group in sorted(groups.items(), key=lambda g: _first(g[1])):
        routes = hosts.setdefault(host, HostRoutes())
        chain = _chain(group, losses)
        if path_type is PathType.EXACT:
            routes.exact[key] = chain
        elif path_type is PathType.PREFIX:
            routes.prefixes[key] = chain
        else:
            routes.regexes.append(chain)
    return hosts, losses


def _first(group: list[Candidate]) -> tuple[Any, ...]:
    return min(c.order for c in group)
