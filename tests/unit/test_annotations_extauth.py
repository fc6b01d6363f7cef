"""External-auth annotations → ExternalAuth, as ingress-nginx's authreq parser reads them."""

from __future__ import annotations

from typing import Any

import pytest

from ingress.build.annotations import extauth
from ingress.build.annotations.spec import PREFIX, Annotations, Lookups, RouteSpec
from ingress.model import ObjectRef
from ingress.model.filters.extauth import CacheRule, ExternalAuth, Template

OBJ = ObjectRef("Ingress", "default", "a")
URL = "http://auth.svc:4180/oauth2/auth"


def parsed(**raw: str) -> tuple[ExternalAuth | None, bool, list[str]]:
    named = {PREFIX + k.replace("_", "-"): v for k, v in raw.items()}
    annotations = Annotations.of(named, OBJ, Lookups())
    spec = RouteSpec()
    extauth.parse(annotations, spec)
    problems = [p.field.split(PREFIX)[1][:-2] for p in annotations.problems]
    [found] = spec.filters or [None]
    assert found is None or isinstance(found, ExternalAuth)
    return found, spec.denied, problems


def text(template: Template | None) -> str | None:
    """A template written back with its variables, as in the annotation."""
    if template is None:
        return None
    return "".join(p if i % 2 == 0 else f"${p}" for i, p in enumerate(template.parts))


def test_defaults() -> None:
    auth, denied, problems = parsed(auth_url=URL)
    assert (denied, problems) == (False, []) and auth is not None
    assert auth == ExternalAuth(Template((URL,)))


# ingress-nginx's TestBuildAuthSignURL
@pytest.mark.parametrize(
    ("signin", "param", "expected"),
    [
        ("http://google.com", None,
         "http://google.com?rd=$pass_access_scheme://$http_host$escaped_request_uri"),
        ("http://google.com", "orig",
         "http://google.com?orig=$pass_access_scheme://$http_host$escaped_request_uri"),
        ("http://google.com?cat=0", None,
         "http://google.com?cat=0&rd=$pass_access_scheme://$http_host$escaped_request_uri"),
        ("http://google.com?cat=0", "orig",
         "http://google.com?cat=0&orig=$pass_access_scheme://$http_host$escaped_request_uri"),
        ("http://google.com?cat&rd=$request", None, "http://google.com?cat&rd=$request"),
        ("http://google.com?cat&orig=$request", "orig", "http://google.com?cat&orig=$request"),
        ("https://$host/oauth2/start?rd=$escaped_request_uri", None,
         "https://$host/oauth2/start?rd=$escaped_request_uri"),
    ],
)
def test_signin_gets_the_original_url(signin: str, param: str | None, expected: str) -> None:
    extra = {"auth_signin_redirect_param": param} if param else {}
    auth, _, problems = parsed(auth_url=URL, auth_signin=signin, **extra)
    assert problems == [] and auth is not None
    assert text(auth.signin) == expected


# ingress-nginx's TestParseStringToCacheDurations / TestCacheDurationAnnotations
@pytest.mark.parametrize(
    ("duration", "rules"),
    [
        ("", [(200, 300), (202, 300), (401, 300)]),
        ("  ", [(200, 300), (202, 300), (401, 300)]),
        ("5m", [(200, 300), (301, 300), (302, 300)]),
        ("200 202 10m, 401 5m", [(200, 600), (202, 600), (401, 300)]),
        (",5m,,401 10m,", [(200, 300), (301, 300), (302, 300), (401, 600)]),
        ("200 202 401 5m, 418 30m", [(200, 300), (202, 300), (401, 300), (418, 1800)]),
        ("any 1h", [(None, 3600)]),
        ("200 30s", [(200, 30)]),
    ],
)
def test_cache_durations(duration: str, rules: list[tuple[int | None, float]]) -> None:
    auth, _, problems = parsed(auth_url=URL, auth_cache_key="$http_authorization",
                               auth_cache_duration=duration)
    assert problems == [] and auth is not None
    assert auth.cache_rules == tuple(CacheRule(status, s) for status, s in rules)
    assert text(auth.cache_key) == "$http_authorization"


@pytest.mark.parametrize("duration", ["200", "5m, xaxax", "5m 200", ",200,", "10 minutes"])
def test_bad_cache_durations_deny(duration: str) -> None:
    _, denied, problems = parsed(auth_url=URL, auth_cache_key="k", auth_cache_duration=duration)
    assert denied and problems == ["auth-cache-duration"]


def test_everything_else() -> None:
    auth, _, problems = parsed(
        auth_url="http://$host/auth?user=$remote_addr", auth_method="POST",
        auth_response_headers="X-Auth-Request-User, X-Auth-Request-Email,",
        auth_request_redirect="https://$host$request_uri", auth_always_set_cookie="true",
        auth_keepalive="10", auth_keepalive_requests="5", auth_keepalive_timeout="9",
        auth_keepalive_share_vars="true")
    assert problems == [] and auth is not None
    assert auth.url.variables == ("host", "remote_addr") and auth.method == "POST"
    assert auth.response_headers == ("X-Auth-Request-User", "X-Auth-Request-Email")
    assert text(auth.request_redirect) == "https://$host$request_uri"
    assert auth.always_set_cookie
    assert (auth.keepalive, auth.keepalive_requests, auth.keepalive_timeout) == (10, 5, 9.0)


@pytest.mark.parametrize(
    ("annotations", "field"),
    [
        ({"auth_url": "https://invalid..auth.url"}, "auth-url"),
        ({"auth_url": "ftp://auth.svc/x"}, "auth-url"),
        ({"auth_url": "/relative"}, "auth-url"),
        ({"auth_url": "http://auth.svc/$unknown_variable"}, "auth-url"),
        ({"auth_url": URL, "auth_method": "get"}, "auth-method"),
        ({"auth_url": URL, "auth_response_headers": "X-Ok, X Bad"}, "auth-response-headers"),
        ({"auth_url": URL, "auth_request_redirect": "a\nb"}, "auth-request-redirect"),
        ({"auth_url": URL, "auth_always_set_cookie": "sometimes"}, "auth-always-set-cookie"),
    ],
)
def test_what_cannot_be_set_up_safely_denies(annotations: dict[str, Any], field: str) -> None:
    auth, denied, problems = parsed(**annotations)
    assert auth is None and denied and problems == [field]


@pytest.mark.parametrize(
    ("annotations", "field"),
    [
        ({"auth_signin": "/relative/signin"}, "auth-signin"),
        ({"auth_signin": "http://$nope/in"}, "auth-signin"),
        ({"auth_signin": "http://x/in", "auth_signin_redirect_param": "a b"},
         "auth-signin-redirect-param"),
        ({"auth_keepalive": "many"}, "auth-keepalive"),
    ],
)
def test_bad_optional_values_are_reported_and_left_out(annotations: dict[str, Any],
                                                       field: str) -> None:
    auth, denied, problems = parsed(auth_url=URL, **annotations)
    assert auth is not None and not denied and problems == [field]
    if field == "auth-signin":
        assert auth.signin is None
