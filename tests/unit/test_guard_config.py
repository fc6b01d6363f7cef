"""The guards' keys of the controller ConfigMap, and auth-proxy-set-headers' ConfigMap.

global-auth-* give routes without auth-url an external auth (unless
enable-global-auth is false); no-auth-locations, limit-req-status-code,
limit-conn-status-code and limit-rate(-after) change what annotations get.
"""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import ingress, path, problem_fields, rule, run, web

from ingress.build.result import BuildResult
from ingress.model import Route
from ingress.model.filters.core import DirectResponse
from ingress.model.filters.extauth import CacheRule, ExternalAuth, Template
from ingress.model.filters.ratelimit import RateLimit, RequestRate, ResponseRate
from ingress.settings import BuildSettings
from kube import objects as o

SETTINGS = BuildSettings(configmap="ingress-nginx/controller")
P = "nginx.ingress.kubernetes.io/"


def built(data: dict[str, str], annotations: dict[str, str] | None = None,
          paths: tuple[str, ...] = ("/",), *objects: dict[str, Any]) -> BuildResult:
    body = ingress("a", [rule("foo.com", *(path(p) for p in paths))],
                   annotations={P + k: v for k, v in (annotations or {}).items()})
    return run(body, *web(), o.config_map("controller", data, "ingress-nginx"), *objects,
               settings=SETTINGS)


def route_of(result: BuildResult, at: str = "/") -> Route:
    route = result.table.route("foo.com", at)
    assert route is not None
    return route


GLOBAL = {"global-auth-url": "http://auth.svc/check?x=$host",
          "global-auth-signin": "https://sso.example.com/start",
          "global-auth-signin-redirect-param": "back",
          "global-auth-method": "POST",
          "global-auth-response-headers": "X-User",
          "global-auth-request-redirect": "https://$host/",
          "global-auth-cache-key": "$cookie_session",
          "global-auth-cache-duration": "200 1m",
          "global-auth-always-set-cookie": "true"}


def test_global_auth_applies_to_routes_without_their_own() -> None:
    result = built(GLOBAL)
    assert problem_fields(result) == []
    [auth] = route_of(result).filters
    assert isinstance(auth, ExternalAuth)
    assert auth.url.variables == ("host",) and auth.method == "POST"
    assert auth.signin is not None and "back=$pass_access_scheme" in "".join(
        p if i % 2 == 0 else f"${p}" for i, p in enumerate(auth.signin.parts))
    assert auth.response_headers == ("X-User",) and auth.always_set_cookie
    assert auth.cache_key == Template(("", "cookie_session", ""))
    assert auth.cache_rules == (CacheRule(200, 60.0),)


def test_an_ingress_opts_out_or_brings_its_own() -> None:
    assert route_of(built(GLOBAL, {"enable-global-auth": "false"})).filters == ()
    [own] = route_of(built(GLOBAL, {"auth-url": "http://mine/check"})).filters
    assert isinstance(own, ExternalAuth) and own.url == Template(("http://mine/check",))


def test_an_unusable_global_auth_url_closes_the_routes_that_use_it() -> None:
    result = built({"global-auth-url": "ftp://nope"})
    fields = {field for _, field, _ in problem_fields(result)}
    assert 'data["global-auth-url"]' in fields
    assert f'metadata.annotations["{P}enable-global-auth"]' in fields
    assert route_of(result).filters == (DirectResponse(503),)
    assert route_of(built({"global-auth-url": "ftp://nope"},
                          {"enable-global-auth": "false"})).filters == ()


def test_no_auth_locations() -> None:
    result = built({**GLOBAL, "no-auth-locations": "/public, /health"},
                   paths=("/", "/public/docs", "/.well-known/acme-challenge"))
    assert len(route_of(result).filters) == 1
    assert route_of(result, "/public/docs").filters == ()
    # The list replaces ingress-nginx's default, as there.
    assert len(route_of(result, "/.well-known/acme-challenge/x").filters) == 1


def test_limit_statuses_and_default_response_rate() -> None:
    result = built({"limit-req-status-code": "429", "limit-conn-status-code": "430",
                    "limit-rate": "100", "limit-rate-after": "10"},
                   {"limit-rps": "2", "limit-connections": "1"})
    assert problem_fields(result) == []
    limit, rate = route_of(result).filters
    assert limit == RateLimit("default/a", (RequestRate(2, 10),), 1, (), 429, 430)
    assert rate == ResponseRate(102400, 10240)
    # The annotation wins over the ConfigMap's.
    [rate] = route_of(built({"limit-rate": "100"}, {"limit-rate": "1"})).filters
    assert rate == ResponseRate(1024, 0)


@pytest.mark.parametrize("key", ["limit-req-status-code", "limit-conn-status-code"])
def test_a_bad_status_code_is_reported_and_503_stays(key: str) -> None:
    result = built({key: "200"}, {"limit-rps": "1", "limit-connections": "1"})
    assert [field for _, field, _ in problem_fields(result)] == [f'data["{key}"]']
    [limit] = route_of(result).filters
    assert isinstance(limit, RateLimit)
    assert (limit.request_status, limit.connection_status) == (503, 503)


def test_auth_proxy_set_headers_from_a_config_map() -> None:
    headers = o.config_map("auth-headers", {"X-Tenant": "acme", "X-Original-Host": "$host"})
    result = built({}, {"auth-url": "http://auth/check",
                        "auth-proxy-set-headers": "auth-headers"}, ("/",), headers)
    assert problem_fields(result) == []
    [auth] = route_of(result).filters
    assert isinstance(auth, ExternalAuth)
    assert auth.proxy_set_headers == (("X-Original-Host", Template(("", "host", ""))),
                                      ("X-Tenant", Template(("acme",))))
    assert ("default", "auth-headers") in result.referenced_config_maps


@pytest.mark.parametrize(
    ("reference", "objects"),
    [("missing", []),
     ("other/auth-headers", [o.config_map("auth-headers", {"X-A": "1"}, "other")]),
     ("auth-headers", [o.config_map("auth-headers", {"X A": "1"})])],
)
def test_auth_proxy_set_headers_that_cannot_be_read_deny(
    reference: str, objects: list[dict[str, Any]]
) -> None:
    result = built({}, {"auth-url": "http://auth/check", "auth-proxy-set-headers": reference},
                   ("/",), *objects)
    assert [field for _, field, _ in problem_fields(result)] == [
        f'metadata.annotations["{P}auth-proxy-set-headers"]']
    assert route_of(result).filters == (DirectResponse(503),)


def test_cross_namespace_secrets_with_allow_cross_namespace_resources() -> None:
    users = {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "users", "namespace": "shared"},
             "data": {"auth": "YTp7UExBSU59Yg=="}}  # a:{PLAIN}b
    annotations = {"auth-type": "basic", "auth-secret": "shared/users"}
    denied = built({}, annotations, ("/",), users)
    assert route_of(denied).filters == (DirectResponse(503),)
    allowed = built({"allow-cross-namespace-resources": "true"}, annotations, ("/",), users)
    assert problem_fields(allowed) == []
    assert ("shared", "users") in allowed.referenced_secrets
    assert type(route_of(allowed).filters[0]).__name__ == "BasicAuth"
