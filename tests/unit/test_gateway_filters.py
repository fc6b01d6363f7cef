"""HTTPRoute filters and backendRefs → the filters, upstream policy and split of each route.

Cases from the conformance tests HTTPRouteRedirect{HostAndStatus,Path,Port,
Scheme,PortAndScheme}, HTTPRouteRewrite{Path,Host}, HTTPRouteRequestHeaderModifier,
HTTPRouteResponseHeaderModifier, HTTPRouteWeight, HTTPRouteOmittedBackendRefs and
the invalid-backend tests; what the proxy then does with them is in
tests/e2e/test_gateway_api.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from gateway_objects import (
    base,
    build,
    certificate_secret,
    condition,
    route_parent,
    served,
)

from ingress.model import Route
from ingress.model.filters.core import (
    DirectResponse,
    HeaderEdits,
    RequestHeaders,
    ResponseHeaders,
)
from ingress.model.filters.gateway import (
    ReplaceFullPath,
    ReplacePrefixMatch,
    RequestRedirect,
    URLRewrite,
)
from ingress.model.filters.mirror import Mirror
from ingress.proxy.filters.gateway import modified_path
from kube.gateway_objects import (
    backend_ref,
    gateway,
    http_route,
    http_rule,
    https_listener,
    listener,
    prefix,
)


@pytest.mark.parametrize(("path", "matched", "replacement", "expected"), [
    ("/foo/bar", "/foo", "/xyz", "/xyz/bar"),
    ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
    ("/foo/bar", "/foo/", "/xyz", "/xyz/bar"),
    ("/foo/bar", "/foo/", "/xyz/", "/xyz/bar"),
    ("/foo", "/foo", "/xyz", "/xyz"),
    ("/foo/", "/foo", "/xyz", "/xyz/"),
    ("/foo/bar", "/foo", "", "/bar"),
    ("/foo/", "/foo", "", "/"),
    ("/foo", "/foo", "", "/"),
    ("/foo/", "/foo", "/", "/"),
    ("/foo", "/foo", "/", "/"),
    ("/prefix/one/two", "/prefix/one", "/one", "/one/two"),
    ("/strip-prefix/three", "/strip-prefix", "/", "/three"),
])
def test_replace_prefix_match_follows_the_spec_table(path: str, matched: str, replacement: str,
                                                    expected: str) -> None:
    assert modified_path(path, ReplacePrefixMatch(matched, replacement)) == expected


def test_replace_full_path() -> None:
    assert modified_path("/full/one/two", ReplaceFullPath("/one")) == "/one"


def only_route(*rules: dict[str, Any], gw: dict[str, Any] | None = None,
               extra: tuple[dict[str, Any], ...] = (), path: str = "/",
               secure: bool = False) -> Route:
    objects = [*base(), *extra, http_route("r", *rules)]
    if gw is not None:
        objects.append(gw)
    found = served(build(objects), "h", path, secure=secure)
    assert found is not None
    return found


def redirect(**spec: Any) -> list[dict[str, Any]]:
    return [{"type": "RequestRedirect", "requestRedirect": spec}]


def mirror(ref: dict[str, Any], **spec: Any) -> list[dict[str, Any]]:
    return [{"type": "RequestMirror", "requestMirror": {"backendRef": ref, **spec}}]


@pytest.mark.parametrize(("spec", "expected"), [
    ({"hostname": "example.org"}, RequestRedirect(302, "http", "example.org")),
    ({"hostname": "example.org", "statusCode": 301}, RequestRedirect(301, "http", "example.org")),
    *(({"statusCode": code}, RequestRedirect(code, "http")) for code in (303, 307, 308)),
    ({"port": 8083}, RequestRedirect(302, "http", None, 8083)),
    ({"scheme": "https"}, RequestRedirect(302, "https")),
    ({"scheme": "https", "port": 443}, RequestRedirect(302, "https")),
    ({"scheme": "https", "port": 8443}, RequestRedirect(302, "https", None, 8443)),
    ({"port": 80}, RequestRedirect(302, "http")),
    ({"path": {"type": "ReplaceFullPath", "replaceFullPath": "/new"}},
     RequestRedirect(302, "http", path=ReplaceFullPath("/new"))),
    ({"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}},
     RequestRedirect(302, "http", path=ReplacePrefixMatch("/old", "/new"))),
])
def test_redirect_on_a_port_80_listener(spec: dict[str, Any], expected: RequestRedirect) -> None:
    route = only_route(http_rule(prefix("/old"), filters=redirect(**spec), backends=[]),
                       path="/old")
    assert route.filters == (expected,)


@pytest.mark.parametrize(("spec", "expected"), [
    ({}, RequestRedirect(302, "http", None, 8080)),  # the listener's port
    ({"port": 80}, RequestRedirect(302, "http")),
    ({"scheme": "https"}, RequestRedirect(302, "https")),  # the scheme's port
])
def test_redirect_on_a_port_8080_listener(spec: dict[str, Any], expected: RequestRedirect) -> None:
    route = only_route(http_rule(filters=redirect(**spec), backends=[]),
                       gw=gateway("gw", listener("http", port=8080)))
    assert route.filters == (expected,)


@pytest.mark.parametrize(("spec", "expected"), [
    ({}, RequestRedirect(302, "https")),
    ({"port": 8443}, RequestRedirect(302, "https", None, 8443)),
    ({"scheme": "http"}, RequestRedirect(302, "http")),
    ({"scheme": "http", "port": 8080}, RequestRedirect(302, "http", None, 8080)),
])
def test_redirect_on_a_port_443_listener(spec: dict[str, Any], expected: RequestRedirect) -> None:
    route = only_route(http_rule(filters=redirect(**spec), backends=[]),
                       gw=gateway("gw", https_listener()), extra=(certificate_secret(),),
                       secure=True)
    assert route.filters == (expected,)


def test_url_rewrite_path_and_hostname() -> None:
    rewrite = [{"type": "URLRewrite", "urlRewrite": {
        "hostname": "one.example.org",
        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/one"}}}]
    route = only_route(http_rule(prefix("/prefix/one"), filters=rewrite), path="/prefix/one/two")
    assert route.filters == (URLRewrite(ReplacePrefixMatch("/prefix/one", "/one")),)
    assert route.upstream.host == "one.example.org"


def test_header_modifiers_become_header_edits() -> None:
    modifier = {"set": [{"name": "X-Header-Set", "value": "set"}],
                "add": [{"name": "X-Header-Add", "value": "add"}],
                "remove": ["X-Header-Remove"]}
    edits = HeaderEdits(set=((b"x-header-set", b"set"),), add=((b"x-header-add", b"add"),),
                        remove=frozenset({b"x-header-remove"}))
    route = only_route(http_rule(filters=[
        {"type": "ResponseHeaderModifier", "responseHeaderModifier": modifier},
        {"type": "RequestHeaderModifier", "requestHeaderModifier": modifier},
    ]))
    assert route.filters == (RequestHeaders(edits),)
    assert route.response_filters == (ResponseHeaders(edits),)


def test_the_only_backend_ref_s_filters_act_as_the_rule_s() -> None:
    modifier = {"set": [{"name": "X-B", "value": "1"}]}
    ref = backend_ref(filters=[{"type": "RequestHeaderModifier",
                                "requestHeaderModifier": modifier}])
    route = only_route(http_rule(backends=[ref]))
    assert route.filters == (RequestHeaders(HeaderEdits(set=((b"x-b", b"1"),))),)


def test_timeouts_become_the_upstream_read_timeout() -> None:
    route = only_route(http_rule(timeouts={"request": "2s", "backendRequest": "500ms"}))
    assert route.upstream.read_timeout == 0.5
    assert only_route(http_rule(timeouts={"request": "0s"})).upstream.read_timeout is None
    assert only_route(http_rule(timeouts={"request": "1h2m"})).upstream.read_timeout == 3720


@pytest.mark.parametrize(("filters", "message"), [
    ([{"type": "ExtensionRef", "extensionRef": {"group": "x", "kind": "Y", "name": "z"}}],
     "filter type 'ExtensionRef' is not supported"),
    ([{"type": "RequestHeaderModifier", "requestHeaderModifier": {
        "set": [{"name": "Host", "value": "x"}]}}], "the Host header is changed"),
    ([*redirect(hostname="a.org"), {"type": "URLRewrite", "urlRewrite": {"hostname": "b.org"}}],
     "RequestRedirect and URLRewrite cannot be combined"),
    (redirect(statusCode=305), "305 is not one of"),
    (mirror({"name": "v2", "port": 8080}, percent=101), "must be 0-100"),
    (mirror({"name": "v2", "port": 8080}, percent=5, fraction={"numerator": 1}),
     "percent and fraction cannot both be set"),
    (mirror({"name": "v2", "port": 8080}, fraction={"numerator": 3, "denominator": 2}),
     "numerator <= denominator"),
])
def test_a_rule_that_cannot_be_served_as_written_answers_500(filters: list[dict[str, Any]],
                                                             message: str) -> None:
    result = build(base(), http_route("r", http_rule(prefix("/bad"), filters=filters),
                                      http_rule(prefix("/good"))))
    bad = served(result, "h", "/bad")
    assert bad is not None and bad.filters == (DirectResponse(500),)
    conditions = route_parent(result, "r").conditions
    assert condition(conditions, "Accepted") == ("True", "Accepted")
    partially = next(c for c in conditions if c.type == "PartiallyInvalid")
    assert partially.message.startswith("Dropped Rule 0 (answers 500):")
    assert message in partially.message


def test_a_route_whose_every_rule_is_unusable_is_not_accepted() -> None:
    result = build(base(), http_route("r", http_rule(filters=redirect(scheme="ftp"))))
    assert condition(route_parent(result, "r").conditions, "Accepted") == (
        "False", "UnsupportedValue")
    assert served(result, "h", "/") is None


def test_replace_prefix_match_needs_path_prefix_matches() -> None:
    rewrite = [{"type": "URLRewrite", "urlRewrite": {
        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/x"}}}]
    result = build(base(), http_route("r", http_rule({"path": {"type": "Exact", "value": "/e"}},
                                                     filters=rewrite), http_rule(prefix("/ok"))))
    route = served(result, "h", "/e")
    assert route is not None and route.filters == (DirectResponse(500),)


def test_weighted_backends_share_by_weight() -> None:
    route = only_route(http_rule(backends=[backend_ref("v1", weight=70),
                                           backend_ref("v2", weight=30),
                                           backend_ref("v3", weight=0)]))
    assert route.split is not None
    assert [(w.backend.service if w.backend else None, w.weight)
            for w in route.split.backends] == [("v1", 70), ("v2", 30), ("v3", 0)]
    assert route.split.pick(0.69) is not None and route.split.pick(0.69).service == "v1"
    assert route.split.pick(0.71).service == "v2"  # type: ignore[union-attr]


def test_an_unresolved_backend_keeps_its_share_which_gets_500() -> None:
    result = build(base(), http_route("r", http_rule(backends=[
        backend_ref("v1", weight=1), backend_ref("nonexistent", weight=1)])))
    route = served(result, "h", "/")
    assert route is not None and route.split is not None
    assert route.split.pick(0.25) is not None and route.split.pick(0.75) is None
    assert condition(route_parent(result, "r").conditions, "ResolvedRefs") == (
        "False", "BackendNotFound")


@pytest.mark.parametrize("rule", [
    http_rule(backends=[]),
    http_rule(backends=[backend_ref("nonexistent")]),
    http_rule(backends=[backend_ref(group="unknownkind.example.com", kind="NonExistent")]),
    http_rule(backends=[backend_ref("web", namespace="other")]),
    http_rule(backends=[backend_ref("v1", port=9999)]),
])
def test_a_rule_without_a_usable_backend_answers_500(rule: dict[str, Any]) -> None:
    route = only_route(rule)
    assert route.filters == (DirectResponse(500),)


@pytest.mark.parametrize(("ref", "reason"), [
    (backend_ref("nonexistent"), "BackendNotFound"),
    (backend_ref("v1", port=9999), "BackendNotFound"),
    (backend_ref(group="unknownkind.example.com", kind="NonExistent"), "InvalidKind"),
    (backend_ref("web", namespace="other"), "RefNotPermitted"),
])
def test_resolved_refs_reasons(ref: dict[str, Any], reason: str) -> None:
    result = build(base(), http_route("r", http_rule(backends=[ref])))
    parent = route_parent(result, "r")
    assert condition(parent.conditions, "Accepted") == ("True", "Accepted")
    assert condition(parent.conditions, "ResolvedRefs") == ("False", reason)


def test_request_mirrors_copy_to_their_backends_for_a_share_of_requests() -> None:
    # Conformance: HTTPRouteRequestMirror, -MultipleMirrors, -PercentageMirror.
    route = only_route(http_rule(filters=[
        *mirror({"name": "v2", "port": 8080}),
        *mirror({"name": "v3", "port": 8080}, percent=20),
        *mirror({"name": "v3", "port": 8080}, fraction={"numerator": 1, "denominator": 4}),
        *mirror({"name": "v2", "port": 8080}, fraction={"numerator": 7}),
    ]))
    assert [(type(f), f.backend.service if isinstance(f, Mirror) and f.backend else None,
             getattr(f, "ratio", None)) for f in route.filters] == [
        (Mirror, "v2", 1.0), (Mirror, "v3", 0.2), (Mirror, "v3", 0.25), (Mirror, "v2", 0.07)]
    assert route.backend.service == "v1"


@pytest.mark.parametrize(("ref", "reason"), [
    ({"name": "nonexistent", "port": 8080}, "BackendNotFound"),
    ({"name": "web", "namespace": "other", "port": 8080}, "RefNotPermitted"),
])
def test_a_mirror_that_cannot_be_resolved_mirrors_nothing_and_the_rule_serves(
    ref: dict[str, Any], reason: str,
) -> None:
    result = build(base(), http_route("r", http_rule(filters=mirror(ref))))
    route = served(result, "h", "/")
    assert route is not None and route.filters == () and route.backend.service == "v1"
    assert condition(route_parent(result, "r").conditions, "ResolvedRefs") == ("False", reason)


def test_the_usual_https_redirect_pair_on_one_host_and_path() -> None:
    gw = gateway("gw", listener("http"), https_listener("https"))
    to_https = http_route("to-https", http_rule(filters=redirect(scheme="https", statusCode=301),
                                                backends=[]),
                          parents=[{"name": "gw", "sectionName": "http"}])
    app = http_route("app", parents=[{"name": "gw", "sectionName": "https"}])
    result = build(base(), gw, to_https, app, certificate_secret())
    plain = served(result, "shop.com", "/cart")
    assert plain is not None and plain.filters == (RequestRedirect(301, "https"),)
    secure = served(result, "shop.com", "/cart", secure=True)
    assert secure is not None and secure.filters == () and secure.backend.service == "v1"
