"""ssl-ciphers, ssl-prefer-server-ciphers, ssl-passthrough: a pure parser, and per-host
settings in the table.

What ingress-nginx does (test/e2e/annotations/sslciphers.go, controller.go):
the values go into the server block of each host of the Ingress, the
oldest Ingress of a host deciding each one.
"""

from __future__ import annotations

import pytest
from build_objects import ingress, path, problem_fields, rule, run, service, spec_of, web

from ingress.build import BuildResult
from ingress.build.annotations import parse_annotations
from ingress.model import ObjectRef, ServerTls
from ingress.settings import BuildSettings

P = "nginx.ingress.kubernetes.io/"
OBJ = ObjectRef("Ingress", "default", "a")
WEAK = "ALL:!aNULL:!EXPORT56:RC4+RSA:+HIGH:+MEDIUM:+LOW:+SSLv2:+EXP"
LEVELS = "ALL:!aNULL:!EXPORT56:RC4+RSA@STRENGTH:+HIGH@SECLEVEL=0:+MEDIUM:+LOW:+SSLv2:+EXP"


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, None),
        ({"ssl_ciphers": WEAK, "ssl_prefer_server_ciphers": "false"}, ServerTls(WEAK, False)),
        ({"ssl_ciphers": LEVELS, "ssl_prefer_server_ciphers": "true"}, ServerTls(LEVELS, True)),
        ({"ssl_ciphers": " ECDHE-ECDSA-AES128-GCM-SHA256 "},
         ServerTls("ECDHE-ECDSA-AES128-GCM-SHA256")),
        ({"ssl_prefer_server_ciphers": "True"}, ServerTls(prefer_server_ciphers=True)),
    ],
)
def test_values(annotations: dict[str, str], expected: ServerTls | None) -> None:
    spec = spec_of(**annotations)
    assert spec.problems == [] and spec.server_tls == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ssl-ciphers", "NOT-A-CIPHER"),  # OpenSSL selects nothing
        ("ssl-ciphers", "ALL;ssl_protocols SSLv3"),  # ingress-nginx's alphabet
        ("ssl-ciphers", "HIGH@SECLEVEL=9"),
        ("ssl-prefer-server-ciphers", "on"),
    ],
)
def test_bad_values_are_reported_and_leave_the_controllers(name: str, value: str) -> None:
    spec = parse_annotations({P + name: value}, OBJ)
    assert [p.field for p in spec.problems] == [f'metadata.annotations["{P}{name}"]']
    assert spec.server_tls is None


def test_each_setting_comes_from_the_oldest_ingress_of_the_host_that_sets_it() -> None:
    result = run(
        ingress("old", [rule("a.test", path("/")), rule("b.test", path("/b"))],
                annotations={P + "ssl-ciphers": "HIGH"}, created="2024-01-01T00:00:00Z"),
        ingress("new", [rule("a.test", path("/x"))], created="2024-02-01T00:00:00Z",
                annotations={P + "ssl-ciphers": "AES256", P + "ssl-prefer-server-ciphers":
                             "false"}),
        ingress("none", [rule("c.test", path("/"))]),
        ingress("any", [rule(None, path("/"))], annotations={P + "ssl-ciphers": "HIGH"}),
        *web())
    assert problem_fields(result) == []
    table = result.table
    assert table.hosts["a.test"].server_tls == ServerTls("HIGH", False)
    assert table.hosts["b.test"].server_tls == ServerTls("HIGH")
    assert table.hosts["c.test"].server_tls is None
    assert table.any_host is not None and table.any_host.server_tls == ServerTls("HIGH")


def passthrough_build(*ingresses: dict[str, object], enabled: bool = True) -> BuildResult:
    return run(*ingresses, *web(), service("other"),
               settings=BuildSettings(ssl_passthrough=enabled))


def test_ssl_passthrough_goes_to_the_service_of_the_hosts_root_path() -> None:
    # ingress-nginx: the location "/" of the server names the passthrough backend.
    result = passthrough_build(
        ingress("pass", [rule("pass.test", path("/api", service="other"), path("/"))],
                annotations={P + "ssl-passthrough": "true"}),
        ingress("root", [rule("other.test", path("/", service="other"))],
                created="2024-02-01T00:00:00Z"),
        ingress("more", [rule("other.test", path("/x"))], annotations={P + "ssl-passthrough":
                                                                        "true"}))
    assert problem_fields(result) == []
    assert {host: backend.service for host, backend in result.table.passthrough.items()} == {
        "pass.test": "web", "other.test": "other"}
    # Plain HTTP still routes by path.
    api = result.table.route("pass.test", "/api")
    assert api is not None and api.backend.service == "other"


@pytest.mark.parametrize(("rules", "why"), [
    ([rule("nothing-at-root.test", path("/api"))], "has no path '/'"),
    ([rule("*.wild.test", path("/"))], "is not an exact name"),
    ([rule(None, path("/"))], "is not an exact name"),
])
def test_ssl_passthrough_that_cannot_apply_is_reported(rules: list[dict[str, object]],
                                                       why: str) -> None:
    result = passthrough_build(ingress("a", rules, annotations={P + "ssl-passthrough": "true"}))
    assert [(p.field, p.reason) for p in result.problems] == [
        (f'metadata.annotations["{P}ssl-passthrough"]', "PassthroughNotPossible")]
    assert why in result.problems[0].message and result.table.passthrough == {}


def test_ssl_passthrough_without_the_flag_is_reported_and_tls_terminated() -> None:
    result = passthrough_build(ingress("a", [rule("a.test", path("/"))],
                                       annotations={P + "ssl-passthrough": "true"}),
                               enabled=False)
    assert problem_fields(result) == [("Ingress default/a",
                                       f'metadata.annotations["{P}ssl-passthrough"]',
                                       "PassthroughNotEnabled")]
    assert result.table.passthrough == {}
