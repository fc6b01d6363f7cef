"""Path rules: the Kubernetes Ingress spec's path-matching table, and bad paths."""

from __future__ import annotations

import pytest
from build_objects import ingress, path, problem_fields, rule, run, service

from ingress.model import PathType

ALL_SERVICES = [service(name) for name in ("s0", "s1", "s2", "default")]


def routed_service(paths: list[tuple[str, str]], request: str) -> str | None:
    """Which path's Service (s0, s1, ... by position) serves `request`, else None."""
    rules = [path(p, f"s{i}", path_type=t) for i, (t, p) in enumerate(paths)]
    result = run(ingress("paths", [rule("foo.com", *rules)]), *ALL_SERVICES)
    assert result.problems == ()
    route = result.table.route("foo.com", request)
    return None if route is None else route.backend.service


# https://kubernetes.io/docs/concepts/services-networking/ingress/#examples
SPEC_TABLE = [
    ([("Prefix", "/")], "/anything/at/all", "s0"),
    ([("Exact", "/foo")], "/foo", "s0"),
    ([("Exact", "/foo")], "/bar", None),
    ([("Exact", "/foo")], "/foo/", None),
    ([("Exact", "/foo/")], "/foo", None),
    ([("Prefix", "/foo")], "/foo", "s0"),
    ([("Prefix", "/foo")], "/foo/", "s0"),
    ([("Prefix", "/foo/")], "/foo", "s0"),
    ([("Prefix", "/foo/")], "/foo/", "s0"),
    ([("Prefix", "/aaa/bb")], "/aaa/bbb", None),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb", "s0"),
    ([("Prefix", "/aaa/bbb/")], "/aaa/bbb", "s0"),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb/", "s0"),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb/ccc", "s0"),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbbxyz", None),
    ([("Prefix", "/"), ("Prefix", "/aaa")], "/aaa/ccc", "s1"),
    ([("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/aaa/bbb", "s2"),
    ([("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/ccc", "s0"),
    ([("Prefix", "/aaa")], "/ccc", None),
    ([("Prefix", "/foo"), ("Exact", "/foo")], "/foo", "s1"),
    ([("Exact", "/foo"), ("Prefix", "/foo")], "/foo", "s0"),
    ([("Exact", "/foo"), ("Prefix", "/foo")], "/foo/bar", "s1"),
    # Exact paths are case-sensitive, and so are prefixes.
    ([("Exact", "/Foo")], "/foo", None),
    ([("Prefix", "/Foo")], "/foo/bar", None),
    # ImplementationSpecific is ingress-nginx's: an nginx prefix location, a string prefix.
    ([("ImplementationSpecific", "/api")], "/api/v1", "s0"),
    ([("ImplementationSpecific", "/api")], "/apiv1", "s0"),
    ([("ImplementationSpecific", "/api")], "/ap", None),
    ([("ImplementationSpecific", "/Api")], "/api", None),
    # With an ImplementationSpecific path on the host, the longest prefix of either kind wins,
    # and a Prefix path's own path is an exact location.
    ([("Prefix", "/api"), ("ImplementationSpecific", "/api/v")], "/api/v1", "s1"),
    ([("Prefix", "/api"), ("ImplementationSpecific", "/api/v")], "/api/x", "s0"),
    ([("Prefix", "/api"), ("ImplementationSpecific", "/a")], "/api", "s0"),
    ([("Prefix", "/api"), ("ImplementationSpecific", "/a")], "/apix", "s1"),
    ([("ImplementationSpecific", "/api"), ("Prefix", "/api")], "/api", "s1"),
    ([("ImplementationSpecific", "/api"), ("Prefix", "/api")], "/api/x", "s1"),
    ([("ImplementationSpecific", "/api"), ("Prefix", "/api")], "/apix", "s0"),
    ([("Exact", "/api"), ("Prefix", "/api"), ("ImplementationSpecific", "/")], "/api", "s0"),
    ([("Prefix", "/"), ("ImplementationSpecific", "/x")], "/y", "s0"),
]


@pytest.mark.parametrize(("paths", "request_path", "expected"), SPEC_TABLE)
def test_spec_path_matching_table(
    paths: list[tuple[str, str]], request_path: str, expected: str | None
) -> None:
    assert routed_service(paths, request_path) == expected


def test_stored_path_and_type_are_what_the_ingress_wrote() -> None:
    result = run(
        ingress("a", [rule("foo.com", path("/api/", "s0"), path("/x", "s1", path_type="Exact"),
                           path("/impl", "s2", path_type="ImplementationSpecific"))]),
        *ALL_SERVICES,
    )
    vhost = result.table.hosts["foo.com"]
    assert {k: (r.path, r.path_type) for k, r in vhost.strings.items()} == {
        "/api/": ("/api/", PathType.PREFIX),
        "/impl": ("/impl", PathType.IMPLEMENTATION_SPECIFIC)}
    assert {k: (r.path, r.path_type) for k, r in vhost.exact.items()} == {
        "/x": ("/x", PathType.EXACT), "/api": ("/api/", PathType.PREFIX)}


def test_implementation_specific_without_path_serves_everything() -> None:
    entry = path(None, "s0", path_type="ImplementationSpecific")
    result = run(ingress("a", [rule("foo.com", entry)]), *ALL_SERVICES)
    route = result.table.route("foo.com", "/any")
    assert route is not None and route.path == "/"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (path("relative"), "spec.rules[0].http.paths[1].path"),
        (path(None), "spec.rules[0].http.paths[1].path"),
        (path("/a", path_type=None), "spec.rules[0].http.paths[1].pathType"),
        (path("/a", path_type="Regex"), "spec.rules[0].http.paths[1].pathType"),
        (path("/a//b"), "spec.rules[0].http.paths[1].path"),
        (path("/a/../b", path_type="Exact"), "spec.rules[0].http.paths[1].path"),
        (path("/a/."), "spec.rules[0].http.paths[1].path"),
        (path("/a%2Fb"), "spec.rules[0].http.paths[1].path"),
    ],
)
def test_bad_path_is_skipped_with_a_problem_naming_it(entry: dict[str, object], field: str) -> None:
    good = path("/ok", "s0")
    result = run(ingress("a", [rule("foo.com", good, entry)]), *ALL_SERVICES)
    assert problem_fields(result) == [("Ingress default/a", field, "InvalidPath")]
    assert list(result.table.hosts["foo.com"].prefixes) == ["/ok"]


def test_relative_path_message() -> None:
    result = run(ingress("a", [rule("foo.com", path("foo"))]), service("web"))
    assert str(result.problems[0]) == (
        "Ingress default/a: spec.rules[0].http.paths[0].path: "
        "must be absolute (start with '/'), not 'foo'"
    )
