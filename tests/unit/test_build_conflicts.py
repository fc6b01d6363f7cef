"""Conflicts between Ingresses: the oldest keeps the claim, whatever the arrival order."""

from __future__ import annotations

import itertools

from build_objects import ingress, path, problem_fields, rule, run, service

SERVICES = [service("one"), service("two"), service("three")]


def test_oldest_claim_wins_in_any_order() -> None:
    bodies = [
        ingress("b", [rule("foo.com", path("/api", "two"))], created="2024-02-01T00:00:00Z"),
        ingress("a", [rule("foo.com", path("/api/", "one"))], created="2024-01-01T00:00:00Z"),
        # nginx's location `/api/` too, as ingress-nginx writes both.
        ingress("c", [rule("foo.com", path("/api/", "three", path_type="ImplementationSpecific"))],
                created="2024-03-01T00:00:00Z"),
    ]
    for order in itertools.permutations(bodies):
        result = run(*order, *SERVICES)
        route = result.table.route("foo.com", "/api/x")
        assert route is not None and route.backend.service == "one"
        assert problem_fields(result) == [
            ("Ingress default/b", "spec.rules[0].http.paths[0]", "Conflict"),
            ("Ingress default/c", "spec.rules[0].http.paths[0]", "Conflict"),
        ]


def test_same_timestamp_falls_back_to_namespace_and_name() -> None:
    first = ingress("z", [rule("foo.com", path("/", "one"))], namespace="aaa")
    second = ingress("a", [rule("foo.com", path("/", "two"))], namespace="bbb")
    result = run(second, first, *SERVICES, service("one", namespace="aaa"),
                 service("two", namespace="bbb"))
    route = result.table.route("foo.com", "/")
    assert route is not None and route.source.namespace == "aaa"
    assert str(result.problems[0]) == (
        "Ingress bbb/a: spec.rules[0].http.paths[0]: host 'foo.com' Prefix path '/' "
        "is already routed by Ingress aaa/z"
    )


def test_exact_and_prefix_on_the_same_path_do_not_conflict() -> None:
    result = run(
        ingress("a", [rule("foo.com", path("/x", "one"))]),
        ingress("b", [rule("foo.com", path("/x", "two", path_type="Exact"))]),
        *SERVICES,
    )
    assert result.problems == ()
    assert [r.backend.service for r in (result.table.route("foo.com", "/x"),
                                        result.table.route("foo.com", "/x/y")) if r] == [
        "two", "one"]


def test_different_hosts_do_not_conflict_and_merge_into_one_vhost_per_host() -> None:
    result = run(
        ingress("a", [rule("foo.com", path("/a", "one")), rule("bar.com", path("/", "one"))]),
        ingress("b", [rule("foo.com", path("/b", "two"))]),
        *SERVICES,
    )
    assert result.problems == ()
    assert sorted(result.table.hosts["foo.com"].prefixes) == ["/a", "/b"]
    assert [ref.name for ref in result.owned] == ["a", "b"]


def test_conflict_inside_one_ingress() -> None:
    result = run(ingress("a", [rule("foo.com", path("/", "one"), path("/", "two"))]), *SERVICES)
    assert problem_fields(result) == [
        ("Ingress default/a", "spec.rules[0].http.paths[1]", "Conflict")]
