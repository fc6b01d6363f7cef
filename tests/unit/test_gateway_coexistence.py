"""Ingresses and HTTPRoutes in one table: shared hosts, conflicts, certificates, wildcards."""

from __future__ import annotations

from build_objects import backend, ingress, path, problem_fields, rule, run, web
from gateway_objects import (
    base,
    build,
    certificate_secret,
    served,
    service_of,
)

from ingress.build.gateway.status import NO_STATUSES
from ingress.settings import BuildSettings
from kube.gateway_objects import (
    gateway,
    http_route,
    http_rule,
    https_listener,
    listener,
    prefix,
)


def test_without_gateway_api_gateway_objects_are_ignored() -> None:
    result = run(*base(), http_route("r"), settings=BuildSettings())
    assert result.gateway == NO_STATUSES and result.table.any_host is None


def web_ingress_in_infra() -> list[dict[str, object]]:
    """Ingress default/shop: shop.com / → Service web (created 2024-01-01)."""
    return [*web(name="web"), ingress("shop", [rule("shop.com", path("/", "web"))],
                                      namespace="default", created="2024-01-01T00:00:00Z")]


def test_ingress_and_http_route_paths_of_one_host_coexist() -> None:
    result = build(base(), *web_ingress_in_infra(),
                   http_route("r", http_rule(prefix("/api")), hostnames=["shop.com"]))
    assert service_of(result, "shop.com", "/") == "web"
    assert service_of(result, "shop.com", "/api/x") == "v1"
    assert result.problems == ()


def test_the_older_object_keeps_a_host_and_path_both_route() -> None:
    older_route = http_route("r", http_rule(prefix("/")), hostnames=["shop.com"],
                             created="2023-01-01T00:00:00Z")
    result = build(base(), *web_ingress_in_infra(), older_route)
    assert service_of(result, "shop.com", "/") == "v1"
    assert ("Ingress default/shop", "spec.rules", "Conflict") in problem_fields(result)
    newer_route = http_route("r", http_rule(prefix("/")), hostnames=["shop.com"],
                             created="2025-01-01T00:00:00Z")
    result = build(base(), *web_ingress_in_infra(), newer_route)
    assert service_of(result, "shop.com", "/") == "web"
    assert ("HTTPRoute infra/r", "spec.rules", "Conflict") in problem_fields(result)


def test_http_routes_on_an_ingress_tls_host_do_not_redirect_to_https() -> None:
    tls_ingress = ingress("shop", [rule("shop.com", path("/", "web"))], namespace="default",
                          tls=[{"hosts": ["shop.com"]}])
    result = build(base(), *web(name="web"), tls_ingress,
                   http_route("r", http_rule(prefix("/api")), hostnames=["shop.com"]))
    vhost = result.table.virtual_host("shop.com")
    assert vhost is not None and vhost.tls
    api = served(result, "shop.com", "/api")
    assert api is not None and not api.ssl_redirect.enabled
    ingress_route = served(result, "shop.com", "/")
    assert ingress_route is not None and ingress_route.ssl_redirect.enabled


def test_gateway_wildcards_take_any_depth_ingress_wildcards_one_label() -> None:
    wildcard_ingress = ingress("w", [rule("*.shop.com", path("/", "web"))], namespace="default")
    result = build(base(), *web(name="web"), wildcard_ingress,
                   http_route("r", http_rule(prefix("/api")), hostnames=["*.shop.com"]))
    assert service_of(result, "a.shop.com", "/") == "web"
    assert service_of(result, "a.shop.com", "/api") == "v1"
    assert service_of(result, "a.b.shop.com", "/api") == "v1"
    assert service_of(result, "a.b.shop.com", "/") is None


def test_listener_certificates_serve_their_hostname_or_the_names_they_hold() -> None:
    gw = gateway("gw", https_listener("named", "named-cert", hostname="second-example.org"),
                 https_listener("any", "any-cert"))
    result = build(base(), gw, certificate_secret("named-cert", "second-example.org"),
                   certificate_secret("any-cert", "example.org", "*.wildcard.org"))
    named = result.table.certificate("second-example.org")
    assert named is not None and named.secret.name == "named-cert"
    for host in ("example.org", "x.wildcard.org"):
        found = result.table.certificate(host)
        assert found is not None and found.secret.name == "any-cert"
    assert {("infra", "named-cert"), ("infra", "any-cert")} <= result.referenced_secrets


def test_ingress_certificates_win_over_listener_certificates() -> None:
    tls_ingress = ingress("shop", [rule("example.org", path("/", "web"))], namespace="infra",
                          tls=[{"hosts": ["example.org"], "secretName": "ingress-cert"}])
    gw = gateway("gw", https_listener("https", "gw-cert", hostname="example.org"))
    result = build(base(), gw, tls_ingress, *web(name="web"),
                   certificate_secret("ingress-cert", "example.org"),
                   certificate_secret("gw-cert", "example.org"))
    found = result.table.certificate("example.org")
    assert found is not None and found.secret.name == "ingress-cert"


def test_http_listener_routes_are_not_served_over_https_alone() -> None:
    gw = gateway("gw", listener(hostname="plain.com"))
    result = build(base(), gw, http_route("r"))
    assert service_of(result, "plain.com", "/") == "v1"
    assert service_of(result, "plain.com", "/", secure=True) is None


def test_default_backend_of_an_ingress_still_catches_what_no_route_takes() -> None:
    catch_all = ingress("all", default_backend=backend("web"), namespace="default")
    result = build(base(), *web(name="web"), catch_all,
                   http_route("r", http_rule(prefix("/api"))))
    assert service_of(result, "x.com", "/api") == "v1"
    assert service_of(result, "x.com", "/other") == "web"


def test_an_ingress_host_with_string_locations_keeps_them_beside_http_routes() -> None:
    legacy = ingress("legacy", [rule("shop.com", path("/static", "web",
                                                       path_type="ImplementationSpecific"))],
                     namespace="default")
    result = build(base(), *web(name="web"), legacy,
                   http_route("r", http_rule(prefix("/api")), hostnames=["shop.com"]))
    assert service_of(result, "shop.com", "/staticfiles/x") == "web"  # nginx's string prefix
    assert service_of(result, "shop.com", "/api/x") == "v1"
