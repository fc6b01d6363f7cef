"""auth-tls-* annotations → a host's ClientAuth, and every route of that host checking it."""

from __future__ import annotations

import base64
import pickle
from typing import Any

import pytest
import trustme
from build_objects import ingress, path, problem_fields, rule, run, service
from cryptography import x509
from cryptography.x509.oid import NameOID

from ingress.model import ObjectRef, Route, RoutingTable
from ingress.model.filters.basicauth import BasicAuth, HashScheme
from ingress.model.filters.clientcert import ClientAuth, ClientCertificateCheck, VerifyClient
from ingress.model.filters.cors import CorsHeaders
from ingress.model.filters.satisfy import SatisfyAny
from ingress.model.pickling import dumps
from ingress.tls.peer import distinguished_name

P = "nginx.ingress.kubernetes.io/"
CA = trustme.CA()
CA_PEM = CA.cert_pem.bytes()


def ca_secret(name: str = "ca", namespace: str = "default", **extra: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name,
                                                               "namespace": namespace},
            "data": {"ca.crt": base64.b64encode(CA_PEM).decode(), **extra}}


def build(*bodies: dict[str, Any]) -> tuple[RoutingTable, list[tuple[str, str, str]]]:
    result = run(*bodies, service("web"))
    return result.table, problem_fields(result)


def app(name: str, host: str, route_path: str = "/", created: str = "2024-01-01T00:00:00Z",
        **annotations: str) -> dict[str, Any]:
    return ingress(name, [rule(host, path(route_path))], created=created,
                   annotations={P + k.replace("_", "-"): v for k, v in annotations.items()})


def check_of(route: Route | None) -> ClientAuth:
    assert route is not None
    first = route.filters[0]
    assert isinstance(first, ClientCertificateCheck)
    return first.policy


def test_policy_from_the_annotations() -> None:
    table, problems = build(ca_secret(), app(
        "a", "foo.com", auth_tls_secret="default/ca", auth_tls_verify_client="optional",
        auth_tls_verify_depth="2", auth_tls_error_page="https://errors.example.com/tls",
        auth_tls_pass_certificate_to_upstream="true", auth_tls_match_cn="CN=(alice|bob)"))
    assert problems == []
    policy = check_of(table.route("foo.com", "/"))
    assert (policy.secret, policy.ca_pem, policy.verify, policy.depth) == (
        ObjectRef("Secret", "default", "ca"), CA_PEM, VerifyClient.OPTIONAL, 2)
    assert policy.error_page == "https://errors.example.com/tls" and policy.pass_certificate
    assert policy.match_cn is not None
    assert policy.match_cn.prefix_match("O=Acme,CN=bob") is not None
    assert policy.match_cn.prefix_match("CN=carol") is None
    assert table.hosts["foo.com"].client_auth == policy and policy.requests_certificate


def test_defaults() -> None:
    table, problems = build(ca_secret(), app("a", "foo.com", auth_tls_secret="ca"))
    policy = check_of(table.route("foo.com", "/"))
    assert problems == []
    assert (policy.verify, policy.depth, policy.error_page, policy.pass_certificate,
            policy.match_cn) == (VerifyClient.ON, 1, None, False, None)


def test_the_oldest_ingress_decides_for_every_route_of_the_host() -> None:
    table, _ = build(
        ca_secret(),
        app("new", "foo.com", "/new", created="2024-02-01T00:00:00Z", auth_tls_secret="ca",
            auth_tls_verify_client="off"),
        app("old", "foo.com", "/old", auth_tls_secret="ca"),
        app("bare", "foo.com", "/bare"),
        app("elsewhere", "bar.com"),
    )
    policies = {check_of(table.route("foo.com", p)) for p in ("/new", "/old", "/bare")}
    assert len(policies) == 1 and policies.pop().verify is VerifyClient.ON
    route = table.route("bar.com", "/")
    assert route is not None and route.filters == () and route.plain


@pytest.mark.parametrize(
    ("objects", "annotations", "reason"),
    [
        ([], {"auth_tls_secret": "ca"}, "SecretNotFound"),
        ([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca",
                                                              "namespace": "default"},
           "data": {"tls.crt": "eA=="}}], {"auth_tls_secret": "ca"}, "InvalidAuthSecret"),
        ([ca_secret(**{"ca.crt": "bm90IGEgY2VydA=="})], {"auth_tls_secret": "ca"},
         "InvalidAuthSecret"),
        ([ca_secret(namespace="other")], {"auth_tls_secret": "other/ca"}, "InvalidAnnotation"),
        ([ca_secret()], {"auth_tls_secret": "ca", "auth_tls_match_cn": "authtls"},
         "InvalidAnnotation"),
    ],
)
def test_a_policy_that_cannot_be_set_up_closes_the_host(
    objects: list[dict[str, Any]], annotations: dict[str, str], reason: str,
) -> None:
    table, problems = build(*objects, app("a", "foo.com", **annotations))
    assert reason in {r for _, _, r in problems}
    policy = check_of(table.route("foo.com", "/"))
    assert policy.error and not policy.requests_certificate


@pytest.mark.parametrize(
    ("name", "value"),
    [("auth-tls-verify-client", "maybe"), ("auth-tls-verify-depth", "-1"),
     ("auth-tls-error-page", "not a url"), ("auth-tls-pass-certificate-to-upstream", "yes")],
)
def test_bad_optional_values_are_reported_and_defaults_apply(name: str, value: str) -> None:
    table, problems = build(ca_secret(), app("a", "foo.com", auth_tls_secret="ca",
                                             **{name.replace("-", "_"): value}))
    assert problems == [("Ingress default/a", f'metadata.annotations["{P}{name}"]',
                         "InvalidAnnotation")]
    policy = check_of(table.route("foo.com", "/"))
    assert not policy.error and policy.verify is VerifyClient.ON


def test_a_revocation_list_is_reported_as_not_checked() -> None:
    _, problems = build(ca_secret(**{"ca.crl": "eA=="}), app("a", "foo.com",
                                                             auth_tls_secret="ca"))
    assert problems == [("Ingress default/a", f'metadata.annotations["{P}auth-tls-secret"]',
                         "Difference")]


def test_names_are_written_as_nginx_writes_them() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme, Inc."),
                      x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@acme.test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    assert distinguished_name(name) == r"CN=alice,emailAddress=a@acme.test,O=Acme\, Inc.,C=US"


def test_an_error_page_path_is_redirected_to_and_says_so() -> None:
    table, problems = build(ca_secret(), app("a", "foo.com", auth_tls_secret="ca",
                                             auth_tls_error_page="/tls-error"))
    assert problems == [("Ingress default/a", f'metadata.annotations["{P}auth-tls-error-page"]',
                         "Difference")]
    assert check_of(table.route("foo.com", "/")).error_page == "/tls-error"


def test_tables_with_every_guard_reach_the_workers_whole() -> None:
    # Workers get the table pickled as the supervisor does it: the guards' precomputed
    # fields must survive the trip.
    users = base64.b64encode(b"alice:{PLAIN}secret\n").decode()
    table, problems = build(
        ca_secret(),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "users",
                                                            "namespace": "default"},
         "data": {"auth": users}},
        app("a", "foo.com", auth_tls_secret="ca", auth_tls_match_cn="CN=alice",
            auth_type="basic", auth_secret="users", auth_url="http://auth/check",
            auth_signin="https://sso/start", satisfy="any", enable_cors="true",
            cors_allow_origin="https://*.example.com", limit_rps="5",
            limit_connections="3", limit_rate="10"),
    )
    assert problems == []
    route = table.route("foo.com", "/")
    copy = pickle.loads(dumps(table)).route("foo.com", "/")
    assert route is not None and copy is not None
    assert copy.filters == route.filters and copy.response_filters == route.response_filters
    assert [type(f).__name__ for f in copy.filters] == [
        "ClientCertificateCheck", "CorsPreflight", "RateLimit", "SatisfyAny", "RequestHeaders",
        "ResponseRate"]
    satisfy = copy.filters[3]
    assert isinstance(satisfy, SatisfyAny)
    basic = satisfy.checks[0]
    assert isinstance(basic, BasicAuth) and basic.by_name["alice"].scheme is HashScheme.SHA256
    cors = copy.response_filters[0]
    assert isinstance(cors, CorsHeaders)
    assert cors.policy.allowed_origin(b"https://app.example.com") == b"https://app.example.com"
    check = copy.filters[0]
    assert isinstance(check, ClientCertificateCheck)
    assert check.policy.fingerprint == table.hosts["foo.com"].client_auth.fingerprint
