"""Canary Ingresses: they add a backend to another Ingress's route and never route themselves."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from build_objects import backend, ingress, path, problem_fields, rule, run, service

from ingress.model import Balancer, CanaryRules, HeaderRule, SessionCookie, compile_regex

P = "nginx.ingress.kubernetes.io/"
SERVICES = [service("main"), service("canary"), service("other")]
CANARY = {P + "canary": "true", P + "canary-by-header": "CanaryByHeader"}


def mainline(created: str = "2024-01-01T00:00:00Z", **annotations: str) -> dict[str, Any]:
    return ingress("main", [rule("foo", path("/info", "main"))], created=created,
                   annotations={P + k: v for k, v in annotations.items()})


def canary(annotations: dict[str, str] | None = None, created: str = "2024-01-01T00:00:01Z",
           path_type: str = "Prefix", service_name: str = "canary",
           host: str = "foo") -> dict[str, Any]:
    return ingress("foo-canary", [rule(host, path("/info", service_name, path_type=path_type))],
                   annotations=annotations if annotations is not None else CANARY,
                   created=created)


def test_canary_adds_its_backend_to_the_mainline_route_whatever_their_ages() -> None:
    for canary_created in ("2023-01-01T00:00:00Z", "2025-01-01T00:00:00Z"):
        for order in itertools.permutations([mainline(), canary(created=canary_created)]):
            result = run(*order, *SERVICES)
            assert result.problems == ()
            route = result.table.route("foo", "/info")
            assert route is not None and route.backend.service == "main"
            assert route.canary is not None and route.canary.backend.service == "canary"
            assert route.canary.rules == CanaryRules(b"canarybyheader")


def test_a_canary_alone_routes_nothing_and_says_why() -> None:
    result = run(canary(), *SERVICES)
    assert result.table.route("foo", "/info") is None
    assert problem_fields(result) == [
        ("Ingress default/foo-canary", "spec.rules[0].http.paths[0]", "CanaryNotMerged")]


@pytest.mark.parametrize(
    "other",
    [canary(path_type="Exact"), canary(host="bar"), canary(service_name="main")],
    ids=["other-path-type", "other-host", "same-backend"],
)
def test_a_canary_must_name_another_backend_at_the_same_host_path_and_type(
    other: dict[str, Any]
) -> None:
    result = run(mainline(), other, *SERVICES)
    route = result.table.route("foo", "/info")
    assert route is not None and route.canary is None
    assert [reason for _, _, reason in problem_fields(result)] == ["CanaryNotMerged"]


def test_one_canary_per_route_the_older_one() -> None:
    second = ingress("second", [rule("foo", path("/info", "other"))], annotations=CANARY,
                     created="2024-01-01T00:00:09Z")
    result = run(mainline(), canary(), second, *SERVICES)
    route = result.table.route("foo", "/info")
    assert route is not None and route.canary is not None
    assert route.canary.backend.service == "canary"
    assert problem_fields(result) == [
        ("Ingress default/second", "spec.rules[0].http.paths[0]", "CanaryNotMerged")]


def test_canary_rules_from_the_annotations() -> None:
    annotations = {
        P + "canary": "true", P + "canary-by-header": "X-Canary",
        P + "canary-by-header-pattern": "^Do[A-Z][a-z]+y$", P + "canary-by-cookie": "c",
        P + "canary-weight": "5", P + "canary-weight-total": "1000",
    }
    route = run(mainline(), canary(annotations), *SERVICES).table.route("foo", "/info")
    assert route is not None and route.canary is not None
    assert route.canary.rules == CanaryRules(
        b"x-canary", HeaderRule.PATTERN, header_pattern=compile_regex("^Do[A-Z][a-z]+y$"),
        cookie="c", weight=5, weight_total=1000)


def test_a_header_value_takes_precedence_over_a_pattern() -> None:
    annotations = {**CANARY, P + "canary-by-header-value": "DoCanary",
                   P + "canary-by-header-pattern": "^Do[A-Z][a-z]+y$"}
    route = run(mainline(), canary(annotations), *SERVICES).table.route("foo", "/info")
    assert route is not None and route.canary is not None
    assert route.canary.rules.header_rule is HeaderRule.VALUE


def test_a_pattern_re2_cannot_read_keeps_header_requests_on_the_mainline() -> None:
    annotations = {**CANARY, P + "canary-by-header-pattern": "[][**da?$&*"}
    result = run(mainline(), canary(annotations), *SERVICES)
    route = result.table.route("foo", "/info")
    assert route is not None and route.canary is not None
    assert route.canary.rules.header_rule is HeaderRule.MAINLINE
    assert problem_fields(result) == [
        ("Ingress default/foo-canary",
         f'metadata.annotations["{P}canary-by-header-pattern"]', "InvalidAnnotation")]


def test_canary_settings_without_canary_true_are_reported_and_it_routes_normally() -> None:
    result = run(canary({P + "canary-weight": "50"}), *SERVICES)
    route = result.table.route("foo", "/info")
    assert route is not None and route.backend.service == "canary" and route.canary is None
    assert problem_fields(result) == [
        ("Ingress default/foo-canary", f'metadata.annotations["{P}canary"]',
         "InvalidAnnotation")]


def test_a_canary_ignores_its_other_annotations_but_balances_its_own_way() -> None:
    annotations = {**CANARY, P + "permanent-redirect": "https://x.com",
                   P + "load-balance": "ewma"}
    route = run(mainline(), canary(annotations), *SERVICES).table.route("foo", "/info")
    assert route is not None and route.filters == () and route.canary is not None
    assert route.canary.backend.balancer is Balancer.EWMA


def test_sticky_canaries_take_the_mainline_session_cookie_and_legacy_ones_keep_theirs() -> None:
    affinity = {"affinity": "cookie", "session-cookie-name": "SERVERID"}
    own = {P + "affinity": "cookie", P + "session-cookie-name": "OWN"}
    sticky = run(mainline(**affinity), canary({**CANARY, **own}), *SERVICES)
    route = sticky.table.route("foo", "/info")
    assert route is not None and route.canary is not None
    assert route.canary.backend.session_cookie == SessionCookie(name="SERVERID")
    assert route.canary.backend.balancer is Balancer.STICKY_BALANCED
    legacy = run(mainline(**affinity), canary(
        {**CANARY, **own, P + "affinity-canary-behavior": "legacy"}), *SERVICES)
    route = legacy.table.route("foo", "/info")
    assert route is not None and route.canary is not None
    assert route.canary.backend.session_cookie == SessionCookie(name="OWN")


def test_a_canary_default_backend_joins_the_default_backend() -> None:
    main = ingress("main", default_backend=backend("main"))
    extra = ingress("extra", default_backend=backend("canary"), annotations=CANARY,
                    created="2024-01-02T00:00:00Z")
    result = run(main, extra, *SERVICES)
    assert result.problems == ()
    route = result.table.route("any", "/x")
    assert route is not None and route.backend.service == "main"
    assert route.canary is not None and route.canary.backend.service == "canary"


def test_a_canary_gives_no_certificate_and_claims_no_tls_host() -> None:
    tls = [{"hosts": ["foo"], "secretName": "missing"}]
    body = ingress("foo-canary", [rule("foo", path("/info", "canary"))], annotations=CANARY,
                   tls=tls)
    result = run(mainline(), body, *SERVICES)
    assert result.problems == () and not result.table.hosts["foo"].tls
