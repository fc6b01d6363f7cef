"""Gateway API hostnames: validation, and the intersection of a listener's with a route's.

A hostname is a DNS name, optionally with a leading `*.` label that stands
for one label or more (unlike an Ingress wildcard, which stands for
exactly one). A route attached to a listener serves the names both accept:
the more specific of the two when one contains the other.
"""

from __future__ import annotations

from ingress.build.fields import FieldError
from ingress.build.hosts import parse_host

parse_hostname = parse_host


def _under(name: str, wildcard: str) -> bool:
    """Whether `name` (exact or wildcard) is one of the names `wildcard` stands for."""
    suffix = wildcard[1:]  # ".example.com"
    return wildcard.startswith("*.") and name.endswith(suffix) and len(name) > len(suffix)


def intersect(listener: str, route: str) -> str | None:
    """The names a route hostname serves on a listener ('' = any), or None for none."""
    if not listener or listener == route:
        return route
    if not route or _under(listener, route):
        return listener
    if _under(route, listener):
        return route
    return None


def route_hosts(listener: str, hostnames: tuple[str, ...]) -> tuple[str, ...]:
    """The hosts a route with `hostnames` (empty: any) serves on a listener, deduplicated."""
    if not hostnames:
        return (listener,)
    found: list[str] = []
    for hostname in hostnames:
        host = intersect(listener, hostname)
        if host is not None and host not in found:
            found.append(host)
    return tuple(found)


def parse_precise_hostname(raw: str, field: str) -> str | None:
    """A hostname without wildcard (redirect and rewrite targets); None when empty."""
    host = parse_hostname(raw, field)
    if host.startswith("*."):
        raise FieldError(field, f"{raw!r}: a wildcard is not allowed here", "UnsupportedValue")
    return host or None
