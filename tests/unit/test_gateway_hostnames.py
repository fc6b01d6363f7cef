"""Listener and route hostnames: intersection, and requests to the hosts it leaves.

Cases from the Gateway API spec's hostname rules and the conformance tests
HTTPRouteHostnameIntersection and HTTPRouteListenerHostnameMatching.
"""

from __future__ import annotations

import pytest
from build_objects import problem_fields
from gateway_objects import (
    base,
    build,
    condition,
    route_parent,
    service_of,
)

from ingress.build.gateway.hostnames import intersect, route_hosts
from kube.gateway_objects import (
    gateway,
    http_route,
    http_rule,
    listener,
    prefix,
)


@pytest.mark.parametrize(("listener_host", "route_host", "expected"), [
    ("", "", ""),
    ("", "foo.com", "foo.com"),
    ("foo.com", "", "foo.com"),
    ("foo.com", "foo.com", "foo.com"),
    ("foo.com", "bar.com", None),
    ("*.wildcard.io", "foo.wildcard.io", "foo.wildcard.io"),
    ("*.wildcard.io", "foo.bar.wildcard.io", "foo.bar.wildcard.io"),
    ("*.wildcard.io", "wildcard.io", None),
    ("very.specific.com", "*.specific.com", "very.specific.com"),
    ("foo.specific.com", "*.other.com", None),
    ("*.bar.com", "*.foo.bar.com", "*.foo.bar.com"),
    ("*.foo.bar.com", "*.bar.com", "*.foo.bar.com"),
    ("*.anotherwildcard.io", "*.anotherwildcard.io", "*.anotherwildcard.io"),
    ("*.nonmatchingwildcard.io", "*.wildcard.io", None),
])
def test_intersection(listener_host: str, route_host: str, expected: str | None) -> None:
    assert intersect(listener_host, route_host) == expected


def test_route_hosts_keeps_each_intersection_once() -> None:
    assert route_hosts("*.io", ("a.io", "b.io", "a.io", "x.com")) == ("a.io", "b.io")
    assert route_hosts("x.io", ()) == ("x.io",)


def _intersection_objects() -> list[dict[str, object]]:
    gw = gateway("gw", listener("l1", hostname="very.specific.com"),
                 listener("l2", hostname="*.wildcard.io"),
                 listener("l3", hostname="*.anotherwildcard.io"))
    return [gw,
            http_route("s1", http_rule(prefix("/s1")),
                       hostnames=["non.matching.com", "*.nonmatchingwildcard.io",
                                  "very.specific.com"]),
            http_route("s2", http_rule(prefix("/s2"), backends=[{"name": "v2", "port": 8080}]),
                       hostnames=["non.matching.com", "wildcard.io", "foo.wildcard.io",
                                  "bar.wildcard.io", "foo.bar.wildcard.io"]),
            http_route("s3", http_rule(prefix("/s3"), backends=[{"name": "v3", "port": 8080}]),
                       hostnames=["non.matching.com", "*.specific.com"]),
            http_route("s4", http_rule(prefix("/s4")), hostnames=["*.anotherwildcard.io"])]


@pytest.mark.parametrize(("host", "path", "service"), [
    ("very.specific.com", "/s1", "v1"),
    ("non.matching.com", "/s1", None),
    ("foo.nonmatchingwildcard.io", "/s1", None),
    ("foo.wildcard.io", "/s1", None),
    ("very.specific.com", "/non-matching-prefix", None),
    ("foo.wildcard.io", "/s2", "v2"),
    ("bar.wildcard.io", "/s2", "v2"),
    ("foo.bar.wildcard.io", "/s2", "v2"),
    ("wildcard.io", "/s2", None),
    ("very.specific.com", "/s2", None),
    ("very.specific.com", "/s3", "v3"),
    ("foo.specific.com", "/s3", None),
    ("foo.anotherwildcard.io", "/s4", "v1"),
    ("foo.bar.anotherwildcard.io", "/s4", "v1"),
    ("anotherwildcard.io", "/s4", None),
    ("foo.wildcard.io", "/s4", None),
])
def test_hostname_intersection_routes(host: str, path: str, service: str | None) -> None:
    result = build(base(), *_intersection_objects())
    assert service_of(result, host, path) == service


def test_listener_hostname_matching_most_specific_listener_first() -> None:
    gw = gateway("gw", listener("l1", hostname="bar.com"), listener("l2", hostname="foo.bar.com"),
                 listener("l3", hostname="*.bar.com"), listener("l4", hostname="*.foo.com"))

    def route(name: str, service: str, *sections: str) -> dict[str, object]:
        return http_route(name, http_rule(backends=[{"name": service, "port": 8080}]),
                          parents=[{"name": "gw", "sectionName": s} for s in sections])

    result = build(base(), gw, route("r1", "v1", "l1"), route("r2", "v2", "l2"),
                   route("r3", "v3", "l3", "l4"))
    expected = {"bar.com": "v1", "foo.bar.com": "v2", "baz.bar.com": "v3",
                "multiple.prefixes.bar.com": "v3", "multiple.prefixes.foo.com": "v3",
                "foo.com": None, "no.matching.host": None}
    assert {host: service_of(result, host, "/") for host in expected} == expected


def test_an_invalid_route_hostname_rejects_the_route_not_widens_it() -> None:
    result = build(base(), http_route("r", hostnames=["bad_name.com"]))
    assert service_of(result, "anything.com", "/") is None
    assert ("HTTPRoute infra/r", "spec.hostnames[0]", "InvalidHost") in problem_fields(result)
    assert condition(route_parent(result, "r").conditions, "Accepted") == (
        "False", "UnsupportedValue")
