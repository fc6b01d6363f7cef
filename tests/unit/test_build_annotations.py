"""nginx.ingress.kubernetes.io/* annotations → route filters and settings; bad values reported."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from build_objects import ingress, path, problem_fields, rule, run, service

from ingress.model import (
    DEFAULT_SSL_REDIRECT,
    DEFAULT_UPSTREAM,
    Balancer,
    Route,
    SslRedirect,
    UpstreamPolicy,
)
from ingress.model.filters.core import Redirect, SourceRanges

P = "nginx.ingress.kubernetes.io/"


def networks(*ranges: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(r) for r in ranges)


def route_with(annotations: dict[str, Any]) -> tuple[Route, list[tuple[str, str, str]]]:
    result = run(ingress("a", [rule("foo.com", path("/"))], annotations=annotations),
                 service("web"))
    route = result.table.route("foo.com", "/")
    assert route is not None, "a bad annotation must not stop the Ingress from routing"
    return route, problem_fields(result)


def settings_of(route: Route) -> dict[str, Any]:
    """The annotation-driven parts of a route that differ from the defaults."""
    found: dict[str, Any] = {}
    if route.filters:
        found["filters"] = route.filters
    if route.upstream != DEFAULT_UPSTREAM:
        found["upstream"] = route.upstream
    if route.ssl_redirect != DEFAULT_SSL_REDIRECT:
        found["ssl_redirect"] = route.ssl_redirect
    return found


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, {}),
        ({P + "ssl-redirect": "false"}, {"ssl_redirect": SslRedirect(enabled=False)}),
        ({P + "force-ssl-redirect": "True"}, {"ssl_redirect": SslRedirect(forced=True)}),
        ({P + "permanent-redirect": "https://new.example.com/x"},
         {"filters": (Redirect(301, "https://new.example.com/x"),)}),
        ({P + "permanent-redirect": "https://n.com", P + "permanent-redirect-code": "308"},
         {"filters": (Redirect(308, "https://n.com"),)}),
        ({P + "temporal-redirect": "http://t.com/"},
         {"filters": (Redirect(302, "http://t.com/"),)}),
        ({P + "temporal-redirect": "http://t.com", P + "permanent-redirect": "http://p.com"},
         {"filters": (Redirect(302, "http://t.com"),)}),
        ({P + "permanent-redirect": "/elsewhere?x=1"},
         {"filters": (Redirect(301, "/elsewhere?x=1"),)}),
        ({P + "temporal-redirect": "/t", P + "temporal-redirect-code": "307"},
         {"filters": (Redirect(307, "/t"),)}),
        # ingress-nginx e2e relativeredirects.go: absolute_redirect off for the location.
        ({P + "permanent-redirect": "/new-location", P + "relative-redirects": "true"},
         {"filters": (Redirect(301, "/new-location", relative=True),)}),
        ({P + "permanent-redirect": "/new-location", P + "relative-redirects": "false"},
         {"filters": (Redirect(301, "/new-location"),)}),
        ({P + "temporal-redirect": "/t", P + "use-port-in-redirects": "true"},
         {"filters": (Redirect(302, "/t", port_in_redirect=True),)}),
        ({P + "relative-redirects": "true", P + "use-port-in-redirects": "true"}, {}),
        ({P + "preserve-trailing-slash": "true"},
         {"ssl_redirect": SslRedirect(preserve_trailing_slash=True)}),
        ({P + "proxy-body-size": "8m"}, {"upstream": UpstreamPolicy(max_body_size=8 << 20)}),
        ({P + "proxy-body-size": "1G"}, {"upstream": UpstreamPolicy(max_body_size=1 << 30)}),
        ({P + "proxy-body-size": "512k"}, {"upstream": UpstreamPolicy(max_body_size=512 << 10)}),
        ({P + "proxy-body-size": "1000"}, {"upstream": UpstreamPolicy(max_body_size=1000)}),
        ({P + "proxy-body-size": "0"}, {"upstream": UpstreamPolicy(max_body_size=0)}),
        ({P + "proxy-connect-timeout": "5"}, {"upstream": UpstreamPolicy(connect_timeout=5.0)}),
        ({P + "proxy-read-timeout": "120s"}, {"upstream": UpstreamPolicy(read_timeout=120.0)}),
        ({P + "whitelist-source-range": "10.0.0.0/8, 192.168.1.7"},
         {"filters": (SourceRanges(allow=networks("10.0.0.0/8", "192.168.1.7/32")),)}),
        ({P + "allowlist-source-range": "10.1.2.3/16,::1",
          P + "whitelist-source-range": "1.1.1.1"},
         {"filters": (SourceRanges(allow=networks("10.1.0.0/16", "::1/128")),)}),
        ({P + "upstream-vhost": "internal.svc:8080"},
         {"upstream": UpstreamPolicy(host="internal.svc:8080")}),
        ({P + "some-future-annotation": "x", "example.com/other": "y"}, {}),
        ({P + "denylist-source-range": "18.0.0.0/8, 56.0.0.1"},
         {"filters": (SourceRanges(deny=networks("18.0.0.0/8", "56.0.0.1/32")),)}),
        ({P + "denylist-source-range": "18.1.0.0/16", P + "allowlist-source-range": "18.0.0.0/8"},
         {"filters": (SourceRanges(allow=networks("18.0.0.0/8"),
                                   deny=networks("18.1.0.0/16")),)}),
        # Filters run in nginx's phase order whatever the annotations' order:
        # rewrite-phase redirects before access-phase IP lists.
        ({P + "whitelist-source-range": "10.0.0.0/8", P + "permanent-redirect": "/x"},
         {"filters": (Redirect(301, "/x"), SourceRanges(allow=networks("10.0.0.0/8")))}),
    ],
)
def test_annotation_values(annotations: dict[str, str], expected: dict[str, Any]) -> None:
    route, problems = route_with(annotations)
    assert problems == []
    assert settings_of(route) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("round_robin", Balancer.ROUND_ROBIN), ("least_conn", Balancer.LEAST_CONN),
     ("random", Balancer.RANDOM), ("ewma", Balancer.EWMA)],
)
def test_load_balance(value: str, expected: Balancer) -> None:
    route, problems = route_with({P + "load-balance": value})
    assert problems == [] and route.backend.balancer is expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ssl-redirect", "yes"),
        ("force-ssl-redirect", ""),
        ("permanent-redirect", "relative"),
        ("permanent-redirect", "ftp://x.com"),
        ("temporal-redirect-code", "308"),
        ("permanent-redirect-code", "200"),
        ("relative-redirects", "on"),
        ("use-port-in-redirects", "yes"),
        ("disable-proxy-intercept-errors", "1"),
        ("enable-rewrite-log", "on"),
        ("temporal-redirect-code", "abc"),
        ("app-root", "app"),
        ("rewrite-target", "/$host"),
        ("rewrite-target", "no-slash"),
        ("rewrite-target", "/a b"),
        ("proxy-body-size", "8mb"),
        ("proxy-body-size", "-1"),
        ("proxy-connect-timeout", "0"),
        ("proxy-read-timeout", "1m"),
        ("whitelist-source-range", "10.0.0.0/33"),
        ("allowlist-source-range", " , "),
        ("upstream-vhost", "bad host"),
        ("load-balance", "chash"),
        ("load-balance", "fastest"),
        ("use-regex", "yes"),
        ("from-to-www-redirect", "1"),
        ("server-alias", "bad_name"),
        ("ssl-redirect", True),  # not a string (a YAML bool)
    ],
)
def test_bad_value_is_reported_and_ignored(name: str, value: Any) -> None:
    # A good annotation next to the bad one still applies.
    good = "proxy-read-timeout" if name != "proxy-read-timeout" else "proxy-connect-timeout"
    route, problems = route_with({P + name: value, P + good: "9"})
    assert problems == [
        ("Ingress default/a", f'metadata.annotations["{P}{name}"]', "InvalidAnnotation")]
    assert 9.0 in (route.upstream.read_timeout, route.upstream.connect_timeout)


@pytest.mark.parametrize(
    "name", ["configuration-snippet", "server-snippet", "auth-snippet", "stream-snippet"]
)
def test_snippets_are_refused(name: str) -> None:
    route, problems = route_with({P + name: "return 200;"})
    assert problems == [
        ("Ingress default/a", f'metadata.annotations["{P}{name}"]', "UnsupportedAnnotation")]
    assert settings_of(route) == {}


def test_policy_applies_to_every_route_and_the_default_backend() -> None:
    body = ingress("a", [rule("foo.com", path("/x"), path("/y", path_type="Exact"))],
                   default_backend={"service": {"name": "web", "port": {"number": 80}}},
                   annotations={P + "proxy-read-timeout": "7"})
    table = run(body, service("web")).table
    routes = [*table.hosts["foo.com"].prefixes.values(), *table.hosts["foo.com"].exact.values()]
    assert table.default_backend is not None
    routes.append(table.default_backend)
    assert {r.upstream.read_timeout for r in routes} == {7.0}


def test_annotations_portico_does_not_support_yet_are_reported_not_dropped_silently() -> None:
    route, problems = route_with({P + "fastcgi-index": "index.php", P + "ssl-redirect": "false",
                                  "example.com/other": "y"})
    assert problems == [("Ingress default/a", f'metadata.annotations["{P}fastcgi-index"]',
                         "UnsupportedAnnotation")]
    assert route.ssl_redirect.enabled is False
