"""HTTPRoute matches and the spec's precedence across rules and routes, through the table.

The cases are the requests of the conformance tests HTTPRouteMatching,
HTTPRouteExactPathMatching, HTTPRoutePathMatchOrder, HTTPRouteHeaderMatching,
HTTPRouteQueryParamMatching, HTTPRouteMethodMatching and
HTTPRouteMatchingAcrossRoutes, with the same objects.
"""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import problem_fields
from gateway_objects import (
    base,
    build,
    certificate_secret,
    route_parent,
    served,
    service_of,
)

from ingress.model import PathType
from kube.gateway_objects import (
    backend_ref,
    exact,
    gateway,
    headers,
    http_route,
    http_rule,
    https_listener,
    listener,
    prefix,
)


def rule(*matches: dict[str, Any], to: str = "v1") -> dict[str, Any]:
    return http_rule(*matches, backends=[backend_ref(to)])


MATCHING = http_route("matching",
                      rule(prefix("/"), {"headers": headers(version="one")}),
                      rule(prefix("/v2"), {"headers": headers(version="two")}, to="v2"))


@pytest.mark.parametrize(("path", "request_headers", "service"), [
    ("/", {}, "v1"),
    ("/example", {}, "v1"),
    ("/", {"version": "one"}, "v1"),
    ("/v2", {}, "v2"),
    ("/v2/example", {}, "v2"),
    ("/", {"version": "two"}, "v2"),
    ("/v2/", {}, "v2"),
    ("/v2example", {}, "v1"),  # not a path-segment prefix of /v2
    ("/foo/v2/example", {}, "v1"),
])
def test_matching(path: str, request_headers: dict[str, str], service: str) -> None:
    assert service_of(build(base(), MATCHING), "h", path, **request_headers) == service


@pytest.mark.parametrize(("path", "service"), [
    ("/one", "v1"), ("/two", "v2"), ("/", None), ("/one/example", None), ("/two/", None),
    ("/Two", None),
])
def test_exact_path_matching(path: str, service: str | None) -> None:
    route = http_route("exact", rule(exact("/one")), rule(exact("/two"), to="v2"))
    assert service_of(build(base(), route), "h", path) == service


@pytest.mark.parametrize(("path", "service"), [
    ("/match/exact/one", "v3"), ("/match/exact", "v2"), ("/match", "v1"),
    ("/match/prefix/one/any", "v2"), ("/match/prefix/any", "v1"), ("/match/any", "v3"),
])
def test_path_match_order(path: str, service: str) -> None:
    route = http_route("order", rule(exact("/match")), rule(exact("/match/exact"), to="v2"),
                       rule(exact("/match/exact/one"), to="v3"), rule(prefix("/match/"), to="v3"),
                       rule(prefix("/match/prefix/"), to="v1"),
                       rule(prefix("/match/prefix/one"), to="v2"))
    assert service_of(build(base(), route), "h", path) == service


HEADER_MATCHING = http_route(
    "headers",
    rule({"headers": headers(version="one")}),
    rule({"headers": headers(version="two")}, to="v2"),
    rule({"headers": headers(version="two", color="orange")}),
    rule({"headers": headers(color="blue")}, {"headers": headers(color="green")}),
    rule({"headers": headers(color="red")}, {"headers": headers(color="yellow")}, to="v2"),
)


@pytest.mark.parametrize(("request_headers", "service"), [
    ({"version": "one"}, "v1"),
    ({"version": "two"}, "v2"),
    ({"version": "two", "color": "orange"}, "v1"),
    ({"version": "two", "color": "blue"}, "v2"),
    ({"color": "orange"}, None),
    ({"some_other_header": "one"}, None),
    ({"color": "blue"}, "v1"),
    ({"color": "green"}, "v1"),
    ({"color": "red"}, "v2"),
    ({"color": "yellow"}, "v2"),
    ({"color": "purple"}, None),
])
def test_header_matching(request_headers: dict[str, str], service: str | None) -> None:
    assert service_of(build(base(), HEADER_MATCHING), "h", "/", **request_headers) == service


def test_header_names_are_case_insensitive_and_regex_values_match_whole() -> None:
    route = http_route("r", rule({"headers": [{"name": "X-Version", "value": "v[0-9]+",
                                               "type": "RegularExpression"}]}))
    result = build(base(), route)
    assert service_of(result, "h", "/", x_version="v12") == "v1"
    assert service_of(result, "h", "/", x_version="v12x") is None


def test_only_the_first_of_two_equal_header_names_counts() -> None:
    route = http_route("r", rule({"headers": [{"name": "v", "value": "1"},
                                              {"name": "V", "value": "2"}]}))
    result = build(base(), route)
    assert service_of(result, "h", "/", v="1") == "v1"
    assert service_of(result, "h", "/", v="2") is None


def q(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


QUERY_MATCHING = http_route(
    "query",
    rule({"queryParams": q(("animal", "whale"))}),
    rule({"queryParams": q(("animal", "dolphin"))}, to="v2"),
    rule({"queryParams": q(("animal", "dolphin"), ("color", "blue"))},
         {"queryParams": q(("ANIMAL", "Whale"))}, to="v3"),
    rule(prefix("/path1", queryParams=q(("animal", "whale")))),
    rule({"headers": headers(version="one"), "queryParams": q(("animal", "whale"))}, to="v2"),
    rule(prefix("/path2", headers=headers(version="two"), queryParams=q(("animal", "whale"))),
         to="v3"),
    rule(prefix("/path3", queryParams=q(("animal", "shark"))),
         prefix("/path4", headers=headers(version="three"), queryParams=q(("animal", "kraken")))),
    rule(prefix("/path5")),
    rule({"queryParams": q(("animal", "hydra"))}, to="v2"),
    rule({"headers": headers(version="four")}, to="v3"),
)


@pytest.mark.parametrize(("path", "request_headers", "service"), [
    ("/?animal=whale", {}, "v1"),
    ("/?animal=dolphin", {}, "v2"),
    ("/?animal=dolphin&color=blue", {}, "v3"),
    ("/?ANIMAL=Whale", {}, "v3"),
    ("/?animal=whale&otherparam=irrelevant", {}, "v1"),
    ("/?animal=dolphin&color=yellow", {}, "v2"),
    ("/?color=blue", {}, None),
    ("/?animal=dog", {}, None),
    ("/?animal=whaledolphin", {}, None),
    ("/", {}, None),
    ("/path1?animal=whale", {}, "v1"),
    ("/?animal=whale", {"version": "one"}, "v2"),
    ("/path2?animal=whale", {"version": "two"}, "v3"),
    ("/path3?animal=shark", {}, "v1"),
    ("/path4?animal=kraken", {"version": "three"}, "v1"),
    ("/?animal=shark", {}, None),
    ("/path4?animal=kraken", {}, None),
    ("/path5?animal=hydra", {}, "v1"),
    ("/?animal=hydra", {"version": "four"}, "v3"),
])
def test_query_param_matching(path: str, request_headers: dict[str, str],
                              service: str | None) -> None:
    assert service_of(build(base(), QUERY_MATCHING), "h", path, **request_headers) == service


METHOD_MATCHING = http_route(
    "method",
    rule({"method": "POST"}),
    rule({"method": "GET"}, to="v2"),
    rule(prefix("/path1", method="GET")),
    rule({"headers": headers(version="one"), "method": "PUT"}, to="v2"),
    rule(prefix("/path2", headers=headers(version="two"), method="POST"), to="v3"),
    rule(prefix("/path3", method="PATCH"),
         prefix("/path4", headers=headers(version="three"), method="DELETE")),
    rule(prefix("/path5")),
    rule({"method": "PATCH"}, to="v2"),
    rule({"headers": headers(version="four")}, to="v3"),
)


@pytest.mark.parametrize(("method", "path", "request_headers", "service"), [
    (b"POST", "/", {}, "v1"),
    (b"GET", "/", {}, "v2"),
    (b"HEAD", "/", {}, None),
    (b"GET", "/path1", {}, "v1"),
    (b"PUT", "/", {"version": "one"}, "v2"),
    (b"POST", "/path2", {"version": "two"}, "v3"),
    (b"PATCH", "/path3", {}, "v1"),
    (b"DELETE", "/path4", {"version": "three"}, "v1"),
    (b"PUT", "/", {}, None),
    (b"DELETE", "/path4", {}, None),
    (b"PATCH", "/path5", {}, "v1"),
    (b"PATCH", "/", {"version": "four"}, "v2"),
])
def test_method_matching(method: bytes, path: str, request_headers: dict[str, str],
                         service: str | None) -> None:
    result = build(base(), METHOD_MATCHING)
    assert service_of(result, "h", path, method=method, **request_headers) == service


def test_matching_across_routes() -> None:
    part1 = http_route("part1", rule(prefix("/"), {"headers": headers(version="one")}),
                       hostnames=["example.com", "example.net"])
    part2 = http_route("part2", rule(prefix("/v2"), {"headers": headers(version="two")},
                                     to="v2"), hostnames=["example.com"])
    result = build(base(), part1, part2)
    cases = [("example.com", "/", {}, "v1"), ("example.com", "/example", {}, "v1"),
             ("example.net", "/example", {}, "v1"),
             ("example.com", "/example", {"version": "one"}, "v1"),
             ("example.com", "/v2", {}, "v2"), ("example.net", "/v2", {}, "v1"),
             ("example.com", "/v2/example", {}, "v2"),
             ("example.com", "/", {"version": "two"}, "v2")]
    for host, path, request_headers, service in cases:
        assert service_of(result, host, path, **request_headers) == service, (host, path)


def test_ties_go_to_the_oldest_route_then_namespace_and_name() -> None:
    older = http_route("b-older", rule(prefix("/")), created="2024-01-01T00:00:00Z")
    newer = http_route("a-newer", rule(prefix("/"), to="v2"), created="2024-02-01T00:00:00Z")
    result = build(base(), newer, older)
    assert service_of(result, "h", "/") == "v1"
    assert ("HTTPRoute infra/a-newer", "spec.rules[0].matches[0]", "Conflict") in (
        problem_fields(result))
    same_age = [http_route(n, rule(prefix("/"), to=s)) for n, s in (("b", "v2"), ("a", "v1"))]
    assert service_of(build(base(), *same_age), "h", "/") == "v1"


def test_regular_expression_paths_match_the_whole_path() -> None:
    route = http_route("r", rule({"path": {"type": "RegularExpression", "value": "/v[0-9]+"}}))
    result = build(base(), route)
    found = served(result, "h", "/v12")
    assert found is not None and found.path_type is PathType.REGEX
    assert service_of(result, "h", "/v12/x") is None


@pytest.mark.parametrize(("match", "field"), [
    ({"path": {"type": "Exact", "value": "no-slash"}}, "spec.rules[0].matches[0].path.value"),
    ({"path": {"type": "PathPrefix", "value": "/a//b"}}, "spec.rules[0].matches[0].path.value"),
    ({"path": {"type": "RegularExpression", "value": "("}},
     "spec.rules[0].matches[0].path.value"),
    ({"path": {"type": "Glob", "value": "/"}}, "spec.rules[0].matches[0].path.type"),
    ({"method": "FETCH"}, "spec.rules[0].matches[0].method"),
    ({"headers": [{"name": "bad name", "value": "x"}]},
     "spec.rules[0].matches[0].headers[0].name"),
])
def test_a_rule_with_an_unusable_match_is_dropped_and_reported(match: dict[str, Any],
                                                              field: str) -> None:
    route = http_route("r", rule(match), rule(prefix("/ok"), to="v2"))
    result = build(base(), route)
    assert service_of(result, "h", "/ok") == "v2"
    assert service_of(result, "h", "/") is None
    assert [p.field for p in result.problems] == [field]
    [partially] = [c for c in route_parent(result, "r").conditions
                   if c.type == "PartiallyInvalid"]
    assert partially.message.startswith(f"Dropped Rule 0: {field}: ")


def test_routes_on_http_only_or_https_only_listeners_take_only_that_protocol() -> None:
    gw = gateway("gw", listener("http"), https_listener("https"))
    plain = http_route("plain", rule(prefix("/")), parents=[{"name": "gw", "sectionName": "http"}])
    tls = http_route("tls", rule(prefix("/"), to="v2"),
                     parents=[{"name": "gw", "sectionName": "https"}])
    both = http_route("both", rule(prefix("/both"), to="v3"))
    result = build(base(), gw, plain, tls, both, certificate_secret("cert", "h"))
    assert service_of(result, "h", "/") == "v1"
    assert service_of(result, "h", "/", secure=True) == "v2"
    both_route = served(result, "h", "/both")
    assert both_route is not None and both_route.match is None  # one route, no condition
    assert service_of(result, "h", "/both", secure=True) == "v3"
