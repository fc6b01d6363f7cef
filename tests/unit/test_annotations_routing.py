"""The routing annotation groups, each a pure parser: annotation text → RouteSpec fields."""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import spec_of

from ingress.build.annotations import RouteSpec, parse_annotations
from ingress.model import Balancer, HashKey, HashPart, HashSource, ObjectRef, SessionCookie
from ingress.model.filters.core import DirectResponse
from ingress.model.filters.routing import RewritePath, Template

P = "nginx.ingress.kubernetes.io/"
OBJ = ObjectRef("Ingress", "default", "a")


def reported(spec: RouteSpec) -> list[str]:
    """The annotations named by the problems."""
    return [p.field.split('"')[1].removeprefix(P) for p in spec.problems]


@pytest.mark.parametrize(
    ("annotations", "rewrite", "use_regex"),
    [
        ({"rewrite_target": "/"}, RewritePath(Template(("/",))), False),
        ({"rewrite_target": "/new/backend/$1", "use_regex": "true"},
         RewritePath(Template(("/new/backend/", 1))), True),
        ({"rewrite_target": "/$2$1x"}, RewritePath(Template(("/", 2, 1, "x"))), False),
        ({"rewrite_target": "$1"}, RewritePath(Template((1,))), False),
        ({"rewrite_target": "/foo", "x_forwarded_prefix": "/test/value"},
         RewritePath(Template(("/foo",)), Template(("/test/value",))), False),
        ({"rewrite_target": "/foo", "x_forwarded_prefix": ""},
         RewritePath(Template(("/foo",))), False),
        ({"x_forwarded_prefix": "/only"}, None, False),  # used by rewrites only
        ({"rewrite_target": "/$1", "enable_rewrite_log": "true"},
         RewritePath(Template(("/", 1)), log=True), False),
        ({"rewrite_target": "/", "enable_rewrite_log": "false"},
         RewritePath(Template(("/",))), False),
        ({"enable_rewrite_log": "true"}, None, False),  # nothing to log without a rewrite
        ({"use_regex": "True"}, None, True),
    ],
)
def test_rewrite(annotations: dict[str, str], rewrite: RewritePath | None,
                 use_regex: bool) -> None:
    spec = spec_of(**annotations)
    assert spec.problems == []
    assert (spec.rewrite, spec.use_regex) == (rewrite, use_regex)


def test_template_expansion_leaves_missing_groups_empty() -> None:
    assert Template(("/a/", 1, "/", 3, "/", 0)).expand(None) == "/a///"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$request_uri", (HashPart(HashSource.REQUEST_URI),)),
        ("$request_uri$host", (HashPart(HashSource.REQUEST_URI), HashPart(HashSource.HOST))),
        ("${request_uri}-text-value",
         (HashPart(HashSource.REQUEST_URI), HashPart(HashSource.TEXT, "-text-value"))),
        ("$remote_addr", (HashPart(HashSource.REMOTE_ADDR),)),
        ("$http_x_user_id", (HashPart(HashSource.HEADER, "x-user-id"),)),
        ("$cookie_session", (HashPart(HashSource.COOKIE, "session"),)),
        ("$arg_id-$uri", (HashPart(HashSource.ARG, "id"), HashPart(HashSource.TEXT, "-"),
                          HashPart(HashSource.URI))),
    ],
)
def test_upstream_hash_by(value: str, expected: tuple[HashPart, ...]) -> None:
    spec = spec_of(upstream_hash_by=value)
    assert spec.problems == [] and spec.hash_key == HashKey(value, expected)


def test_hash_by_subset_sizes() -> None:
    key = (HashPart(HashSource.REQUEST_URI),)
    assert spec_of(upstream_hash_by="$request_uri", upstream_hash_by_subset="true").hash_key == \
        HashKey("$request_uri", key, 3)
    assert spec_of(upstream_hash_by="$request_uri", upstream_hash_by_subset="true",
                   upstream_hash_by_subset_size="5").hash_key == HashKey("$request_uri", key, 5)
    # Without upstream-hash-by-subset the size means nothing.
    assert spec_of(upstream_hash_by="$request_uri",
                   upstream_hash_by_subset_size="5").hash_key == HashKey("$request_uri", key)


def test_affinity_cookie_and_its_attributes() -> None:
    spec = spec_of(affinity="cookie", affinity_mode="persistent", session_cookie_name="SERVERID",
                   session_cookie_path="/foo/bar", session_cookie_domain="foo.bar",
                   session_cookie_samesite="none", session_cookie_conditional_samesite_none="true",
                   session_cookie_expires="172800", session_cookie_max_age="259200",
                   session_cookie_secure="true", session_cookie_change_on_failure="true")
    assert spec.problems == []
    assert spec.session_cookie == SessionCookie(
        "SERVERID", persistent=True, path="/foo/bar", domain="foo.bar", samesite="None",
        conditional_samesite_none=True, expires=172800, max_age=259200, secure=True,
        change_on_failure=True)


def test_affinity_with_use_regex_wants_a_cookie_path() -> None:
    # ingress-nginx logs "session-cookie-path should be set when use-regex is true".
    spec = spec_of(affinity="cookie", use_regex="true")
    assert reported(spec) == ["session-cookie-path"]
    assert spec.problems[0].reason == "MissingAnnotation" and spec.session_cookie is not None
    assert spec_of(affinity="cookie", use_regex="true", session_cookie_path="/foo").problems == []


def test_session_cookie_settings_need_affinity_cookie() -> None:
    assert spec_of(session_cookie_name="X").session_cookie is None
    assert spec_of(affinity="cookie").session_cookie == SessionCookie()


def test_affinity_canary_behavior() -> None:
    assert spec_of().sticky_canary
    assert not spec_of(affinity_canary_behavior="legacy").sticky_canary


def test_load_balance_ewma_is_its_own_algorithm() -> None:
    assert spec_of(load_balance="ewma").balancer is Balancer.EWMA


@pytest.mark.parametrize(
    ("annotations", "bad"),
    [
        ({"upstream_hash_by": "$request_uri/x"}, "upstream-hash-by"),
        ({"upstream_hash_by": "$server_name"}, "upstream-hash-by"),
        ({"upstream_hash_by": "$arg_x", "upstream_hash_by_subset_size": "0"},
         "upstream-hash-by-subset-size"),
        ({"affinity": "ip"}, "affinity"),
        ({"affinity": "cookie", "affinity_mode": "sticky"}, "affinity-mode"),
        ({"affinity": "cookie", "session_cookie_name": "a=b"}, "session-cookie-name"),
        ({"affinity": "cookie", "session_cookie_samesite": "sometimes"},
         "session-cookie-samesite"),
        ({"affinity": "cookie", "session_cookie_max_age": "1d"}, "session-cookie-max-age"),
        ({"affinity": "cookie", "session_cookie_path": "relative"}, "session-cookie-path"),
        ({"affinity_canary_behavior": "other"}, "affinity-canary-behavior"),
        ({"canary": "true", "canary_weight": "-1"}, "canary-weight"),
        ({"canary": "true", "canary_weight_total": "50"}, "canary-weight-total"),
        ({"canary": "true", "canary_by_header": "Bad Header"}, "canary-by-header"),
        ({"rewrite_target": "/x", "x_forwarded_prefix": "/$x"}, "x-forwarded-prefix"),
    ],
)
def test_bad_values_are_reported(annotations: dict[str, str], bad: str) -> None:
    assert reported(spec_of(**annotations)) == [bad]


@pytest.mark.parametrize("name", ["whitelist-source-range", "allowlist-source-range",
                                  "denylist-source-range"])
def test_an_ip_list_that_cannot_be_read_closes_the_paths(name: str) -> None:
    spec = parse_annotations({P + name: "10.0.0.0/8, nonsense"}, OBJ)
    assert reported(spec) == [name]
    assert spec.filters == [DirectResponse(503)]
    assert "answer 503" in spec.problems[0].message


def test_annotations_parse_without_problems_when_absent() -> None:
    spec: Any = spec_of()
    assert (spec.rewrite, spec.canary, spec.hash_key, spec.session_cookie, spec.aliases,
            spec.app_root, spec.from_to_www) == (None, None, None, None, (), None, False)
