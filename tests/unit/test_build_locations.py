"""Regex paths and rewrites: which route a path reaches, as ingress-nginx's nginx decides.

The cases restate ingress-nginx's e2e tests (test/e2e/annotations/rewrite.go,
test/e2e/ingress/pathtype_prefix.go): once one path of a host has a
rewrite or use-regex, every location of the host is `~* "^<path>"`,
tried longest first.
"""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import ingress, path, problem_fields, rule, run, service

from ingress.model import PathType, Route
from ingress.model.filters.routing import RewritePath

P = "nginx.ingress.kubernetes.io/"
HOST = "rewrite.bar.com"
SERVICES = [service(f"s{i}") for i in range(4)]
REGEX = {P + "use-regex": "true"}


def ing(name: str, path_value: str, service_name: str, annotations: dict[str, str] | None = None,
        created: int = 0, path_type: str = "Prefix") -> dict[str, Any]:
    return ingress(name, [rule(HOST, path(path_value, service_name, path_type=path_type))],
                   annotations=annotations, created=f"2024-01-01T00:00:{created:02}Z")


def routed(request: str, *ingresses: dict[str, Any]) -> Route | None:
    result = run(*ingresses, *SERVICES)
    assert result.problems == ()
    return result.table.route(HOST, request)


def service_of(route: Route | None) -> str | None:
    return None if route is None else route.backend.service


def rewritten(route: Route | None, request: str) -> str | None:
    """The path the route's rewrite makes of `request`, None without a rewrite."""
    assert route is not None
    for flt in route.filters:
        if isinstance(flt, RewritePath):
            assert route.regex is not None
            return flt.target.expand(route.regex.prefix_match(request))
    return None


def test_a_rewrite_on_slash_makes_the_other_paths_regexes_matched_longest_first() -> None:
    # "should use correct longest path match"
    acme = ing("kube-lego", "/.well-known/acme/challenge", "s0")
    index = ing("rewrite-index", "/", "s1", {P + "rewrite-target": "/new/backend"}, created=1)
    route = routed("/.well-known/acme/challenge", acme, index)
    assert service_of(route) == "s0" and rewritten(route, "/.well-known/acme/challenge") is None
    other = routed("/other", acme, index)
    assert service_of(other) == "s1" and rewritten(other, "/other") == "/new/backend"


def test_prefix_paths_of_a_regex_host_are_regex_prefixes() -> None:
    # "should use ~* location modifier if regex annotation is present"
    foo = ing("foo", "/foo", "s0")
    regex = ing("regex", "/foo.+", "s1", {**REGEX, P + "rewrite-target": "/new/backend"}, 1)
    assert service_of(routed("/foo", foo, regex)) == "s0"
    route = routed("/foo/bar", foo, regex)
    assert service_of(route) == "s1" and rewritten(route, "/foo/bar") == "/new/backend"
    # `^/foo` is a regex prefix now: it takes /foobar, which Prefix /foo alone would not.
    assert service_of(routed("/foob", foo, regex)) == "s1"
    assert service_of(routed("/fo", foo, regex)) is None


def test_the_longer_regex_wins_over_an_exact_looking_path() -> None:
    # "should fail to use longest match for documented warning"
    plain = ing("foo", "/foo/bar/bar", "s0")
    regex = ing("regex", "/foo/bar/[a-z]{3}", "s1",
                {**REGEX, P + "rewrite-target": "/new/backend"}, 1)
    assert service_of(routed("/foo/bar/bar", plain, regex)) == "s1"


def test_capture_groups_fill_the_rewrite_target() -> None:
    # "should allow for custom rewrite parameters"
    regex = ing("regex", "/foo/bar/(.+)", "s0", {**REGEX, P + "rewrite-target": "/new/backend/$1"})
    assert rewritten(routed("/foo/bar/bar", regex), "/foo/bar/bar") == "/new/backend/bar"
    two = ing("two", "/api(/|$)(.*)", "s0", {**REGEX, P + "rewrite-target": "/$2"})
    assert rewritten(routed("/api/users/7", two), "/api/users/7") == "/users/7"
    assert rewritten(routed("/api", two), "/api") == "/"


@pytest.mark.parametrize(
    ("pattern", "request_path", "expected"),
    [   # test/e2e/ingress/pathtype_prefix.go
        ("/id/[0-9]+", "/id/1", "s0"),
        ("/id/[0-9]+", "/id/123", "s0"),
        ("/id/[0-9]+", "/id/aaa", None),
        ("/id/[0-9]+", "/id/123a", "s0"),
        ("/id/[0-9]+$", "/id/123a", None),
        ("/id/[0-9]{3}$", "/id/99", None),
        ("/id/[0-9]{3}$", "/id/123", "s0"),
        ("/id/[0-9]{3}$", "/id/9999", None),
        ("/id/[0-9]+/post/[a-zA-Z]+$", "/id/123/post/abc", "s0"),
        ("/id/[0-9]+/post/[a-zA-Z]+$", "/id/123/post/abc123", None),
        ("/id/[0-9]+/post/[a-zA-Z]+$", "/id/abc/post/abc", None),
        # nginx's ~* is case-insensitive.
        ("/id/[a-z]+$", "/ID/ABC", "s0"),
    ],
)
def test_use_regex_paths(pattern: str, request_path: str, expected: str | None) -> None:
    assert service_of(routed(request_path, ing("regex", pattern, "s0", REGEX))) == expected


def test_exact_paths_of_a_regex_host_lose_their_exactness_as_in_ingress_nginx() -> None:
    exact = ing("exact", "/exact", "s0", path_type="Exact")
    regex = ing("regex", "/r/.*", "s1", REGEX, 1)
    assert service_of(routed("/exactly/not", exact, regex)) == "s0"
    assert service_of(routed("/exactly/not", exact)) is None


def test_order_is_longest_path_first_then_greater_string_first() -> None:
    # `^/foo/` (from Prefix /foo) sorts before `^/foo.` (same length, '/' > '.').
    prefix = ing("prefix", "/foo", "s0")
    dot = ing("dot", "/foo.", "s1", REGEX, 1)
    assert service_of(routed("/foo/x", prefix, dot)) == "s0"
    assert service_of(routed("/foox", prefix, dot)) == "s1"
    vhost = run(prefix, dot, *SERVICES).table.hosts[HOST]
    assert [(r.regex.pattern if r.regex else None) for r in vhost.regexes] == [
        "/foo/", "/foo.", "/foo"]


def test_a_target_equal_to_the_path_is_no_rewrite() -> None:
    same = ing("same", "/app", "s0", {P + "rewrite-target": "/app"})
    route = routed("/app/x", same)
    assert route is not None and route.regex is None and rewritten(route, "/app/x") is None
    assert service_of(routed("/appx", same)) is None  # still an element-wise Prefix


def test_a_path_that_is_no_re2_regex_is_skipped_with_a_problem() -> None:
    bad = ingress("bad", [rule(HOST, path("/(a", "s0"), path("/ok/(b)", "s1"))],
                  annotations=REGEX)
    result = run(bad, *SERVICES)
    assert problem_fields(result) == [
        ("Ingress default/bad", "spec.rules[0].http.paths[0].path", "InvalidPath")]
    route = result.table.route(HOST, "/ok/b")
    assert route is not None and route.backend.service == "s1"


def test_a_plain_path_re2_cannot_read_matches_literally_on_a_regex_host() -> None:
    odd = ing("odd", "/a(b", "s0", path_type="ImplementationSpecific")
    regex = ing("regex", "/r/.*", "s1", REGEX, 1)
    assert service_of(routed("/a(bc", odd, regex)) == "s0"


def test_rewrites_apply_to_the_ingress_paths_only_and_keep_their_types() -> None:
    both = ingress("both", [rule(HOST, path("/a", "s0"), path("/b", "s1", path_type="Exact"))],
                   annotations={P + "rewrite-target": "/"})
    result = run(both, *SERVICES)
    route = result.table.route(HOST, "/b")
    assert route is not None and route.path_type is PathType.EXACT
    assert rewritten(route, "/b") == "/"
