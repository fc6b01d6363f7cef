"""CORS annotations → CorsPolicy; origin matching as ingress-nginx's e2e tests (cors.go) assert."""

from __future__ import annotations

import pytest

from ingress.build.annotations import cors
from ingress.build.annotations.spec import PREFIX, Annotations, Lookups, RouteSpec
from ingress.model import ObjectRef
from ingress.model.filters.cors import CorsHeaders, CorsPolicy, CorsPreflight

OBJ = ObjectRef("Ingress", "default", "a")


def parsed(**raw: str) -> tuple[CorsPolicy | None, list[str]]:
    named = {PREFIX + k.replace("_", "-"): v for k, v in raw.items()}
    annotations = Annotations.of(named, OBJ, Lookups())
    spec = RouteSpec()
    cors.parse(annotations, spec)
    problems = [p.field.split(PREFIX)[1].rstrip('"]') for p in annotations.problems]
    if not spec.filters:
        assert not spec.response_filters
        return None, problems
    [preflight], [headers] = spec.filters, spec.response_filters
    assert isinstance(preflight, CorsPreflight) and isinstance(headers, CorsHeaders)
    assert preflight.policy is headers.policy
    return preflight.policy, problems


def test_defaults_are_ingress_nginx_defaults() -> None:
    policy, problems = parsed(enable_cors="true")
    assert problems == [] and policy is not None
    assert policy.origins is None  # "*"
    assert dict(policy.headers) == {
        b"access-control-allow-credentials": b"true",
        b"access-control-allow-methods": b"GET, PUT, POST, DELETE, PATCH, OPTIONS",
        b"access-control-allow-headers": b"DNT,Keep-Alive,User-Agent,X-Requested-With,"
        b"If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
        b"access-control-max-age": b"1728000",
    }
    assert policy.allowed_origin(None) == b"*"
    assert policy.allowed_origin(b"https://anything.example") == b"*"


def test_cors_is_off_unless_enabled() -> None:
    assert parsed(cors_allow_origin="https://a.com")[0] is None
    assert parsed(enable_cors="false", cors_max_age="5")[0] is None


@pytest.mark.parametrize(
    ("annotations", "header", "value"),
    [
        ({"cors_allow_methods": "POST, GET"}, b"access-control-allow-methods", b"POST, GET"),
        ({"cors_max_age": "200"}, b"access-control-max-age", b"200"),
        ({"cors_allow_headers": "DNT, User-Agent"}, b"access-control-allow-headers",
         b"DNT, User-Agent"),
        ({"cors_expose_headers": "X-CustomResponseHeader, X-CustomSecondHeader"},
         b"access-control-expose-headers", b"X-CustomResponseHeader, X-CustomSecondHeader"),
        ({"cors_allow_credentials": "false"}, b"access-control-allow-credentials", None),
    ],
)
def test_header_values(annotations: dict[str, str], header: bytes, value: bytes | None) -> None:
    policy, problems = parsed(enable_cors="true", **annotations)
    assert problems == [] and policy is not None
    assert dict(policy.headers).get(header) == value


# (cors-allow-origin, Origin sent, Access-Control-Allow-Origin expected or None)
E2E_CASES = [
    ("https://origin.cors.com:8080", "https://origin.cors.com:8080", "https://origin.cors.com:8080"),
    ("https://origin.cors.com:8080, https://origin2.cors.com", "https://origin.cors.com:8080",
     "https://origin.cors.com:8080"),
    ("http://origin2.cors.com, https://origin.com", "http://no.origin.com", None),
    ("origin.cors.com:8080, https://origin2.cors.com, https://origin.com",
     "origin.cors.com:8080", None),
    ("origin.cors.com:8080, https://origin2.cors.com, https://origin.com",
     "https://origin2.cors.com", "https://origin2.cors.com"),
    ("origin.cors.com:8080, https://origin2.cors.com, https://origin.com",
     "https://origin.com", "https://origin.com"),
    ("*", None, "*"),
    ("*, foo.bar.com", None, "*"),
    ("https://foo.bar.com", "https://fooxbar.com", None),
    ("http://origin.cors.com:8080, http://origin.com:8080", "http://origin.com:8080",
     "http://origin.com:8080"),
    ("https://origin2.cors.com, http://origin.com", "http://origin.com:8080", None),
    ("http://origin.cors.com:8080, http://origin.com:8080", "http://origin.com", None),
    ("http://*.origin.cors.com, http://*.origin.com:8080", "http://foo.origin.cors.com",
     "http://foo.origin.cors.com"),
    ("http://*.origin.cors.com, http://*.origin.com:8080", "http://bar-foo.origin.cors.com",
     "http://bar-foo.origin.cors.com"),
    ("http://*.origin.cors.com, http://*.origin.com:8080", "http://bar.foo.origin.cors.com",
     None),
    ("http://origin.cors.com:8080, http://*.origin.com:8080", "http://abc.origin.com:8080",
     "http://abc.origin.com:8080"),
    ("http://origin.cors.com:8080, http://*.origin.com:8080", "http://abc.origin.com", None),
    ("http://origin.cors.com:8080, http://*.origin.com:8080", "http://origin.com:8080", None),
    ("      ", "http://book.origin.com", "*"),
    ("      ", "test.origin.com", "*"),
    ("https://origin-123.cors.com:8080,   ,https://origin-321.cors.com:8080,",
     "https://origin-321.cors.com:8080", "https://origin-321.cors.com:8080"),
    ("https://origin-123.cors.com:8080,   ,https://origin-321.cors.com:8080,",
     "https://unknown.cors.com:8080", None),
    ("test://localhost, tauri://localhost:3000", "test://localhost", "test://localhost"),
    ("test://localhost, tauri://localhost:3000", "tauri://localhost:3000",
     "tauri://localhost:3000"),
    # nginx matches origins case-insensitively (~*) and echoes the Origin as sent.
    ("https://App.Example.com", "https://app.example.COM", "https://app.example.COM"),
    ("null", "null", "null"),
]


@pytest.mark.parametrize(("allowed", "origin", "expected"), E2E_CASES)
def test_origins_as_ingress_nginx_e2e(allowed: str, origin: str | None,
                                      expected: str | None) -> None:
    policy, _ = parsed(enable_cors="true", cors_allow_origin=allowed)
    assert policy is not None
    sent = origin.encode() if origin is not None else None
    assert policy.allowed_origin(sent) == (expected.encode() if expected else None)


def test_origin_without_scheme_is_reported() -> None:
    _, problems = parsed(enable_cors="true",
                         cors_allow_origin="origin.cors.com:8080, https://origin.com")
    assert problems == ["cors-allow-origin"]


def test_origins_all_invalid_allow_none_and_say_so() -> None:
    policy, problems = parsed(enable_cors="true", cors_allow_origin="foo.com, bar.com")
    assert problems == ["cors-allow-origin"] * 3 and policy is not None
    assert policy.allowed_origin(b"https://foo.com") is None
    assert policy.allowed_origin(b"") is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("cors_allow_origin", "https://a.com/path"), ("cors_allow_methods", "GET;DELETE"),
     ("cors_allow_headers", "X-A: 1"), ("cors_expose_headers", "X-$a"),
     ("cors_allow_credentials", "maybe"), ("cors_max_age", "1h")],
)
def test_invalid_values_fall_back_to_defaults_and_are_reported(name: str, value: str) -> None:
    policy, problems = parsed(enable_cors="true", **{name: value})
    default, _ = parsed(enable_cors="true")
    assert problems == [name.replace("_", "-")]
    assert policy == default
