"""Host rules: exact beats wildcard, `*.x` matches one label, host-less rules, defaultBackend."""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import backend, ingress, path, problem_fields, rule, run, service

from ingress.model import RoutingTable

SERVICES = [service(name) for name in ("exact", "wild", "any", "fallback")]


def table_for(*rules: dict[str, Any], default: str | None = None) -> RoutingTable:
    result = run(
        ingress("hosts", list(rules), default_backend=backend(default) if default else None),
        *SERVICES,
    )
    assert result.problems == ()
    return result.table


def served_by(table: RoutingTable, host: str, request_path: str = "/") -> str | None:
    route = table.route(host, request_path)
    return None if route is None else route.backend.service


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("foo.bar.com", "exact"),  # exact beats the wildcard
        ("baz.bar.com", "wild"),  # one extra label
        ("bar.com", "any"),  # the wildcard needs a label
        ("a.baz.bar.com", "any"),  # ... exactly one
        ("other.org", "any"),
    ],
)
def test_host_precedence(host: str, expected: str) -> None:
    table = table_for(
        rule("foo.bar.com", path("/", "exact")),
        rule("*.bar.com", path("/", "wild")),
        rule(None, path("/", "any")),
    )
    assert served_by(table, host) == expected


def test_hosts_are_lower_cased() -> None:
    table = table_for(rule("Foo.Example.COM", path("/", "exact")))
    assert list(table.hosts) == ["foo.example.com"]
    assert table.hosts["foo.example.com"].exact == {}
    assert served_by(table, "foo.example.com") == "exact"


def test_wildcard_is_stored_under_its_suffix() -> None:
    table = table_for(rule("*.Bar.com", path("/", "wild")))
    assert list(table.wildcards) == ["bar.com"]
    assert table.wildcards["bar.com"].host == "*.bar.com"


def test_host_without_matching_path_falls_back_to_host_less_rules_then_default() -> None:
    table = table_for(
        rule("foo.com", path("/api", "exact")),
        rule(None, path("/static", "any")),
        default="fallback",
    )
    assert served_by(table, "foo.com", "/api/x") == "exact"
    assert served_by(table, "foo.com", "/static/a.css") == "any"
    assert served_by(table, "foo.com", "/other") == "fallback"
    assert served_by(table, "unknown.com", "/other") == "fallback"


def test_default_backend_is_a_host_less_prefix_route() -> None:
    table = table_for(default="fallback")
    route = table.default_backend
    assert route is not None
    assert (route.path, route.path_type.value, route.host) == ("/", "Prefix", "")
    assert served_by(table, "anything.com", "/deep/path") == "fallback"


def test_without_any_rule_nothing_routes() -> None:
    table = table_for(rule("foo.com", path("/api", "exact")))
    assert served_by(table, "foo.com", "/") is None
    assert served_by(table, "bar.com", "/api") is None


def test_oldest_default_backend_wins() -> None:
    old = ingress("old", default_backend=backend("any"), created="2024-01-01T00:00:00Z")
    new = ingress("new", default_backend=backend("fallback"), created="2024-06-01T00:00:00Z")
    result = run(new, old, *SERVICES)
    assert served_by(result.table, "x.com") == "any"
    assert problem_fields(result) == [("Ingress default/new", "spec.defaultBackend", "Conflict")]


@pytest.mark.parametrize(
    "host",
    ["10.0.0.1", "::1", "foo_bar.com", "foo.*.com", "*", "-foo.com", "foo.com:80",
     "a..com", "x" * 64 + ".com", "*foo.com"],
)
def test_invalid_host_skips_the_rule(host: str) -> None:
    result = run(ingress("a", [rule(host, path("/", "exact")), rule("ok.com", path("/", "exact"))]),
                 *SERVICES)
    assert problem_fields(result) == [("Ingress default/a", "spec.rules[0].host", "InvalidHost")]
    assert list(result.table.hosts) == ["ok.com"]
    assert result.table.wildcards == {} and result.table.any_host is None
