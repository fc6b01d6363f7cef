"""nginx.ingress.kubernetes.io/* annotations → RoutePolicy and balancer; bad values reported."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from build_objects import ingress, path, problem_fields, rule, run, service

from ingress.model import DEFAULT_POLICY, Balancer, Redirect, Route, RoutePolicy

P = "nginx.ingress.kubernetes.io/"


def networks(*ranges: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(r) for r in ranges)


def route_with(annotations: dict[str, Any]) -> tuple[Route, list[tuple[str, str, str]]]:
    result = run(ingress("a", [rule("foo.com", path("/"))], annotations=annotations),
                 service("web"))
    route = result.table.route("foo.com", "/")
    assert route is not None, "a bad annotation must not stop the Ingress from routing"
    return route, problem_fields(result)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, DEFAULT_POLICY),
        ({P + "ssl-redirect": "false"}, RoutePolicy(ssl_redirect=False)),
        ({P + "force-ssl-redirect": "True"}, RoutePolicy(force_ssl_redirect=True)),
        ({P + "permanent-redirect": "https://new.example.com/x"},
         RoutePolicy(redirect=Redirect(301, "https://new.example.com/x"))),
        ({P + "permanent-redirect": "https://n.com", P + "permanent-redirect-code": "308"},
         RoutePolicy(redirect=Redirect(308, "https://n.com"))),
        ({P + "temporal-redirect": "http://t.com/"},
         RoutePolicy(redirect=Redirect(302, "http://t.com/"))),
        ({P + "temporal-redirect": "http://t.com", P + "permanent-redirect": "http://p.com"},
         RoutePolicy(redirect=Redirect(302, "http://t.com"))),
        ({P + "app-root": "/app"}, RoutePolicy(app_root="/app")),
        ({P + "rewrite-target": "/"}, RoutePolicy(rewrite_target="/")),
        ({P + "proxy-body-size": "8m"}, RoutePolicy(max_body_size=8 * 1024 * 1024)),
        ({P + "proxy-body-size": "1G"}, RoutePolicy(max_body_size=1 << 30)),
        ({P + "proxy-body-size": "512k"}, RoutePolicy(max_body_size=512 * 1024)),
        ({P + "proxy-body-size": "1000"}, RoutePolicy(max_body_size=1000)),
        ({P + "proxy-body-size": "0"}, RoutePolicy(max_body_size=0)),
        ({P + "proxy-connect-timeout": "5"}, RoutePolicy(connect_timeout=5.0)),
        ({P + "proxy-read-timeout": "120s"}, RoutePolicy(read_timeout=120.0)),
        ({P + "whitelist-source-range": "10.0.0.0/8, 192.168.1.7"},
         RoutePolicy(allow_source_ranges=networks("10.0.0.0/8", "192.168.1.7/32"))),
        ({P + "allowlist-source-range": "10.1.2.3/16,::1",
          P + "whitelist-source-range": "1.1.1.1"},
         RoutePolicy(allow_source_ranges=networks("10.1.0.0/16", "::1/128"))),
        ({P + "upstream-vhost": "internal.svc:8080"},
         RoutePolicy(upstream_vhost="internal.svc:8080")),
        ({P + "use-regex": "false"}, DEFAULT_POLICY),
        ({P + "some-future-annotation": "x", "example.com/other": "y"}, DEFAULT_POLICY),
    ],
)
def test_annotation_values(annotations: dict[str, str], expected: RoutePolicy) -> None:
    route, problems = route_with(annotations)
    assert problems == []
    assert route.policy == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("round_robin", Balancer.ROUND_ROBIN), ("least_conn", Balancer.LEAST_CONN),
     ("random", Balancer.RANDOM), ("ewma", Balancer.LEAST_CONN)],
)
def test_load_balance(value: str, expected: Balancer) -> None:
    route, problems = route_with({P + "load-balance": value})
    assert problems == [] and route.backend.balancer is expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ssl-redirect", "yes"),
        ("force-ssl-redirect", ""),
        ("permanent-redirect", "/relative"),
        ("permanent-redirect", "ftp://x.com"),
        ("permanent-redirect-code", "200"),
        ("temporal-redirect-code", "abc"),
        ("app-root", "app"),
        ("rewrite-target", "/$1"),
        ("rewrite-target", "no-slash"),
        ("proxy-body-size", "8mb"),
        ("proxy-body-size", "-1"),
        ("proxy-connect-timeout", "0"),
        ("proxy-read-timeout", "1m"),
        ("whitelist-source-range", "10.0.0.0/33"),
        ("allowlist-source-range", " , "),
        ("upstream-vhost", "bad host"),
        ("load-balance", "chash"),
        ("use-regex", "true"),
        ("ssl-redirect", True),  # not a string (a YAML bool)
    ],
)
def test_bad_value_is_reported_and_ignored(name: str, value: Any) -> None:
    # A good annotation next to the bad one still applies.
    good = "proxy-read-timeout" if name != "proxy-read-timeout" else "proxy-connect-timeout"
    route, problems = route_with({P + name: value, P + good: "9"})
    assert problems == [
        ("Ingress default/a", f'metadata.annotations["{P}{name}"]', "InvalidAnnotation")]
    assert 9.0 in (route.policy.read_timeout, route.policy.connect_timeout)


@pytest.mark.parametrize(
    "name", ["configuration-snippet", "server-snippet", "auth-snippet", "stream-snippet"]
)
def test_snippets_are_refused(name: str) -> None:
    route, problems = route_with({P + name: "return 200;"})
    assert problems == [
        ("Ingress default/a", f'metadata.annotations["{P}{name}"]', "UnsupportedAnnotation")]
    assert route.policy == DEFAULT_POLICY


def test_policy_applies_to_every_route_and_the_default_backend() -> None:
    body = ingress("a", [rule("foo.com", path("/x"), path("/y", path_type="Exact"))],
                   default_backend={"service": {"name": "web", "port": {"number": 80}}},
                   annotations={P + "proxy-read-timeout": "7"})
    table = run(body, service("web")).table
    routes = [*table.hosts["foo.com"].prefixes.values(), *table.hosts["foo.com"].exact.values()]
    assert table.default_backend is not None
    routes.append(table.default_backend)
    assert {r.policy.read_timeout for r in routes} == {7.0}
