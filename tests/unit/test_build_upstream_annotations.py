"""The upstream annotation groups: timeouts, retries, buffering, protocol/TLS, responses, errors.

Expected values come from ingress-nginx's parsers and e2e tests
(internal/ingress/annotations/{proxy,proxyssl,backendprotocol,...},
test/e2e/annotations/*.go).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import trustme
from build_objects import (
    endpoint,
    endpoint_slice,
    ingress,
    path,
    problem_fields,
    rule,
    run,
    service,
    web,
)

from ingress.build.result import BuildResult
from ingress.model import (
    BackendProtocol,
    Buffering,
    Endpoint,
    RetryPolicy,
    Route,
    UpstreamPolicy,
    UpstreamTls,
)
from ingress.model.filters.core import DirectResponse, HeaderEdits, ResponseHeaders
from ingress.model.filters.responses import CookieDomain, CookiePath, RedirectLocation
from ingress.settings import BuildSettings
from kube import objects as o

P = "nginx.ingress.kubernetes.io/"
ANNOTATION = 'metadata.annotations["nginx.ingress.kubernetes.io/{}"]'


def build_with(annotations: dict[str, Any], *objects: dict[str, Any],
               settings: BuildSettings | None = None) -> tuple[Route, BuildResult]:
    result = run(ingress("a", [rule("foo.com", path("/"))], annotations=annotations),
                 *web(), *objects, settings=settings)
    route = result.table.route("foo.com", "/")
    assert route is not None
    return route, result


def reported(result: BuildResult) -> set[str]:
    return {field for _, field, _ in problem_fields(result)}


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({P + "proxy-send-timeout": "20"}, UpstreamPolicy(send_timeout=20.0)),
        ({P + "proxy-http-version": "1.0"}, UpstreamPolicy(http10=True)),
        ({P + "proxy-http-version": "1.1"}, UpstreamPolicy()),
        ({P + "connection-proxy-header": "keep-alive"}, UpstreamPolicy(connection=b"keep-alive")),
        # ingress-nginx's e2e "should build proxy next upstream"
        ({P + "proxy-next-upstream": "error timeout http_502",
          P + "proxy-next-upstream-timeout": "999999", P + "proxy-next-upstream-tries": "888888"},
         UpstreamPolicy(retry=RetryPolicy(frozenset({"error", "timeout", "http_502"}), 888888,
                                          999999.0))),
        ({P + "proxy-next-upstream": "off"}, UpstreamPolicy(retry=RetryPolicy(frozenset()))),
        ({P + "proxy-next-upstream": "error off"}, UpstreamPolicy(retry=RetryPolicy(frozenset()))),
        ({P + "proxy-next-upstream-tries": "0"}, UpstreamPolicy(retry=RetryPolicy(tries=0))),
        ({P + "proxy-request-buffering": "on", P + "client-body-buffer-size": "1K"},
         UpstreamPolicy(buffering=Buffering(request=True, body_in_memory=1024))),
    ],
)
def test_upstream_policy(annotations: dict[str, str], expected: UpstreamPolicy) -> None:
    route, result = build_with(annotations)
    assert route.upstream == expected
    assert not result.problems


def test_response_buffering() -> None:
    # ingress-nginx's e2e "should turn on proxy-buffering"
    names = ("proxy-buffering", "proxy-buffers-number", "proxy-buffer-size",
             "proxy-max-temp-file-size")
    route, result = build_with(dict(zip([P + n for n in names], ["on", "8", "8k", "0"],
                                        strict=True)))
    assert route.upstream.buffering == Buffering(response=True, buffers=8, buffer_size=8192,
                                                 max_temp_file=0)
    assert not result.problems


@pytest.mark.parametrize(
    ("annotations", "problem"),
    [
        # ingress-nginx's e2e "should turn on proxy-buffering"
        ({"proxy-buffers-number": "8", "proxy-buffer-size": "8k",
          "proxy-busy-buffers-size": "16k"}, ""),
        ({"proxy-busy-buffers-size": "4k"}, ""),  # the default 4 buffers of 4k
        ({"proxy-busy-buffers-size": "12k"}, ""),
        ({"proxy-busy-buffers-size": "3k"}, "must be at least proxy-buffer-size (4096 bytes)"),
        ({"proxy-busy-buffers-size": "16k"}, "must be at most proxy-buffers-number - 1 times"),
        ({"proxy-buffers-number": "2", "proxy-buffer-size": "8k",
          "proxy-busy-buffers-size": "16k"}, "(8192 bytes)"),
        ({"proxy-buffer-size": "16k", "proxy-busy-buffers-size": "8k"}, "at least"),
        ({"proxy-busy-buffers-size": "1b"}, "size"),
    ],
)
def test_proxy_busy_buffers_size_is_checked_and_has_no_effect(annotations: dict[str, str],
                                                              problem: str) -> None:
    route, result = build_with({P + k: v for k, v in annotations.items()})
    without, _ = build_with({P + k: v for k, v in annotations.items()
                             if k != "proxy-busy-buffers-size"})
    assert route.upstream == without.upstream
    messages = {p.field: p.message for p in result.problems}
    if problem:
        assert list(messages) == [ANNOTATION.format("proxy-busy-buffers-size")]
        assert problem in messages[ANNOTATION.format("proxy-busy-buffers-size")]
    else:
        assert messages == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("proxy-send-timeout", "20k"),  # ingress-nginx's "should not set invalid proxy timeouts"
        ("proxy-http-version", "2.0"),
        ("connection-proxy-header", "upgrade"),
        ("proxy-next-upstream", "error sometimes"),
        ("proxy-next-upstream-tries", "-1"),
        ("proxy-request-buffering", "yes"),
        ("client-body-buffer-size", "1b"),  # ingress-nginx's "should not set ... invalid 1b"
        ("proxy-buffers-number", "0"),
        ("backend-protocol", "SMTP"),
        ("service-upstream", "maybe"),
        ("custom-http-errors", "404,abc"),
        ("enable-access-log", "no"),
        ("proxy-cookie-domain", "localhost"),
        ("proxy-cookie-path", "/one/ / x"),
    ],
)
def test_bad_values_are_reported_and_ignored(name: str, value: str) -> None:
    route, result = build_with({P + name: value})
    assert reported(result) == {ANNOTATION.format(name)}
    assert route.upstream == UpstreamPolicy() and route.filters == ()


def test_responses_rewrite_cookies_and_redirects() -> None:
    # ingress-nginx's e2e "should setup proxy cookies" and proxy_redirect FROM TO.
    route, result = build_with({
        P + "proxy-cookie-domain": "localhost example.org",
        P + "proxy-cookie-path": "/one/ /",
        P + "proxy-redirect-from": "http://hello.com/",
        P + "proxy-redirect-to": "https://goodbye.com/",
    })
    assert not result.problems
    assert [type(f) for f in route.response_filters] == [CookieDomain, CookiePath,
                                                          RedirectLocation]
    domain, cookie_path, location = route.response_filters
    assert isinstance(domain, CookieDomain) and domain.rule.match == "localhost"
    assert isinstance(cookie_path, CookiePath) and cookie_path.rule.replacement == "/"
    assert isinstance(location, RedirectLocation)
    assert location.rule.match == "http://hello.com/"


@pytest.mark.parametrize("source", ["off", "default"])
def test_proxy_redirect_off_and_default_rewrite_nothing(source: str) -> None:
    route, _ = build_with({P + "proxy-redirect-from": source, P + "proxy-redirect-to": "x.com"})
    assert route.response_filters == ()


CONTROLLER = BuildSettings(configmap="ingress-nginx/controller")


def test_custom_headers_from_an_allowed_config_map() -> None:
    route, result = build_with(
        {P + "custom-headers": "default/custom-headers"},
        o.config_map("custom-headers", {"My-Custom-Header": "42",
                                      "My-Custom-Header-Dollar": "$remote_addr"}),
        o.config_map("controller", {"global-allowed-response-headers":
                                  "My-Custom-Header,My-Custom-Header-Dollar"}, "ingress-nginx"),
        settings=CONTROLLER,
    )
    assert route.response_filters == (ResponseHeaders(HeaderEdits(set=(
        (b"my-custom-header", b"42"), (b"my-custom-header-dollar", b"$remote_addr")))),)
    assert ("default", "custom-headers") in result.referenced_config_maps
    assert not [p for p in result.problems if p.obj.kind == "Ingress"]


@pytest.mark.parametrize(
    ("objects", "why"),
    [
        ([], "not found"),  # ingress-nginx's e2e: 503 with a missing ConfigMap
        ([o.config_map("custom-headers", {"My-Custom-Header": "42"})], "global-allowed"),
        ([o.config_map("custom-headers", {"Bad Header": "42"})], "invalid header"),
    ],
)
def test_unusable_custom_headers_answer_503(objects: list[dict[str, Any]], why: str) -> None:
    route, result = build_with({P + "custom-headers": "custom-headers"}, *objects)
    assert route.filters == (DirectResponse(503),)
    messages = [p.message for p in result.problems if p.obj.kind == "Ingress"]
    assert len(messages) == 1 and why in messages[0]


def test_custom_headers_of_another_namespace_need_cross_namespace_resources() -> None:
    objects = (o.config_map("h", {"X-A": "1"}, "other"),)
    route, _ = build_with({P + "custom-headers": "other/h"}, *objects)
    assert route.filters == (DirectResponse(503),)
    allowed = o.config_map("controller", {"allow-cross-namespace-resources": "true",
                                        "global-allowed-response-headers": "X-A"},
                         "ingress-nginx")
    route, _ = build_with({P + "custom-headers": "other/h"}, *objects, allowed,
                          settings=CONTROLLER)
    assert route.filters == () and route.response_filters


def tls_secret_with_ca(name: str, ca: trustme.CA, with_pair: bool) -> dict[str, Any]:
    data = {"ca.crt": base64.b64encode(ca.cert_pem.bytes()).decode()}
    if with_pair:
        leaf = ca.issue_cert("client.test")
        data["tls.crt"] = base64.b64encode(leaf.cert_chain_pems[0].bytes()).decode()
        data["tls.key"] = base64.b64encode(leaf.private_key_pem.bytes()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name,
            "namespace": "default"}, "data": data}


def test_https_backend_without_a_secret_uses_nginx_defaults() -> None:
    route, result = build_with({P + "backend-protocol": "https"})  # lower case, as the e2e
    assert route.backend.protocol is BackendProtocol.HTTPS
    assert route.backend.tls == UpstreamTls()
    assert route.backend.tls.protocols == ("TLSv1.2", "TLSv1.3") and not route.backend.tls.verify
    assert not result.problems


@pytest.mark.parametrize("with_pair", [False, True])
def test_proxy_ssl_annotations_need_and_use_the_secret(with_pair: bool) -> None:
    ca = trustme.CA()
    route, result = build_with({
        P + "backend-protocol": "HTTPS", P + "proxy-ssl-secret": "default/pod-ca",
        P + "proxy-ssl-verify": "on", P + "proxy-ssl-verify-depth": "2",
        P + "proxy-ssl-server-name": "on", P + "proxy-ssl-name": "pod.internal",
        P + "proxy-ssl-protocols": "TLSv1.3 TLSv1.2", P + "proxy-ssl-ciphers": "HIGH:!AES",
    }, tls_secret_with_ca("pod-ca", ca, with_pair))
    tls = route.backend.tls
    assert not result.problems and tls is not None
    assert (tls.verify, tls.verify_depth, tls.server_name, tls.name) == (
        True, 2, True, "pod.internal")
    assert tls.protocols == ("TLSv1.2", "TLSv1.3") and tls.ciphers == "HIGH:!AES"
    assert tls.ca_pem == ca.cert_pem.bytes() and bool(tls.key_pem) is with_pair
    assert ("default", "pod-ca") in result.referenced_secrets


def test_a_secret_without_protocols_gets_ingress_nginx_defaults() -> None:
    ca = trustme.CA()
    route, _ = build_with({P + "backend-protocol": "HTTPS", P + "proxy-ssl-secret": "pod-ca"},
                          tls_secret_with_ca("pod-ca", ca, False))
    assert route.backend.tls is not None
    assert (route.backend.tls.protocols, route.backend.tls.ciphers,
            route.backend.tls.verify_depth) == (("TLSv1.2",), "DEFAULT", 1)


@pytest.mark.parametrize("reference", ["default/missing", "other/pod-ca"])
def test_an_unusable_proxy_ssl_secret_answers_503(reference: str) -> None:
    route, result = build_with({P + "backend-protocol": "HTTPS",
                                P + "proxy-ssl-secret": reference})
    assert route.filters == (DirectResponse(503),)
    assert reported(result) == {ANNOTATION.format("proxy-ssl-secret")}


def test_proxy_ssl_settings_without_a_secret_are_reported() -> None:
    _, result = build_with({P + "proxy-ssl-verify": "on"})
    assert reported(result) == {ANNOTATION.format("proxy-ssl-verify")}


@pytest.mark.parametrize(
    ("value", "protocol", "tls"),
    [("GRPC", BackendProtocol.GRPC, False), ("grpcs", BackendProtocol.GRPCS, True),
     ("HTTPS", BackendProtocol.HTTPS, True)],
)
def test_backend_protocols_portico_speaks(value: str, protocol: BackendProtocol,
                                          tls: bool) -> None:
    route, result = build_with({P + "backend-protocol": value})
    assert not result.problems and route.filters == ()
    assert route.backend.protocol is protocol
    assert (route.backend.tls is not None) is tls
    # Routes to HTTP/2 pods leave the proxy's fast path, which speaks HTTP/1.1.
    assert route.plain is (protocol is BackendProtocol.HTTPS)


def test_grpcs_takes_the_proxy_ssl_settings() -> None:
    ca = trustme.CA()
    route, result = build_with({P + "backend-protocol": "GRPCS", P + "proxy-ssl-secret": "pod-ca",
                                P + "proxy-ssl-verify": "on"},
                               tls_secret_with_ca("pod-ca", ca, False))
    assert not result.problems
    assert route.backend.tls is not None and route.backend.tls.verify


@pytest.mark.parametrize("protocol", ["AUTO_HTTP", "FCGI"])
def test_protocols_portico_does_not_speak_answer_503_and_say_so(protocol: str) -> None:
    route, result = build_with({P + "backend-protocol": protocol})
    assert route.filters == (DirectResponse(503),)
    assert route.backend.protocol is BackendProtocol.HTTP
    assert problem_fields(result)[0][2] == "UnsupportedAnnotation"


def test_service_upstream_uses_the_cluster_ip_and_service_port() -> None:
    svc = service("web", [{"port": 80, "targetPort": 8080}])
    svc["spec"]["clusterIP"] = "10.96.0.10"
    result = run(ingress("a", [rule("foo.com", path("/"))],
                         annotations={P + "service-upstream": "true"}),
                 svc, endpoint_slice("web-abc", "web", [endpoint("10.0.0.1")]))
    route = result.table.route("foo.com", "/")
    assert route is not None
    assert result.table.endpoint_set(route.backend).ready == (Endpoint("10.96.0.10", 80),)
    # The pods' endpoints change without a rebuild; the ClusterIP is the Service's.
    assert ("default", "web") not in result.backends_by_service


def external_service(name: str, external: str, ports: list[dict[str, Any]] | None = None,
                     ) -> dict[str, Any]:
    svc = service(name, ports or [], type_="ExternalName")
    svc["spec"]["externalName"] = external
    return svc


@pytest.mark.parametrize(
    ("ports", "backend_port", "expected"),
    [
        ([], 80, 80),  # no port defined: the Ingress's number
        ([{"name": "http", "port": 80, "targetPort": 8080}], 80, 8080),
        ([{"name": "http", "port": 80}], "http", 80),
    ],
)
def test_external_name_services_are_resolved_by_the_proxy(
    ports: list[dict[str, Any]], backend_port: int | str, expected: int
) -> None:
    result = run(ingress("a", [rule("foo.com", path("/", "ext", backend_port))]),
                 external_service("ext", "pods.example.test.", ports))
    route = result.table.route("foo.com", "/")
    assert route is not None and not result.problems
    assert (route.backend.external_name, route.backend.external_port) == (
        "pods.example.test", expected)


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "not a name"])
def test_external_names_ingress_nginx_refuses(name: str) -> None:
    result = run(ingress("a", [rule("foo.com", path("/", "ext"))]), external_service("ext", name))
    assert result.table.route("foo.com", "/") is None
    assert problem_fields(result)[0][2] in ("UnsupportedBackend", "InvalidService")


def test_disabled_external_names_route_to_no_endpoint() -> None:
    result = run(ingress("a", [rule("foo.com", path("/", "ext"))]),
                 external_service("ext", "pods.example.test"),
                 settings=BuildSettings(disable_svc_external_name=True))
    route = result.table.route("foo.com", "/")
    assert route is not None and not route.backend.external_name
    assert not result.table.endpoint_set(route.backend).usable
    assert problem_fields(result) == [("Service default/ext", "spec.type", "UnsupportedBackend")]


def test_default_backend_answers_errors_and_a_missing_service() -> None:
    # ingress-nginx's e2e "should use a custom default backend as upstream": Service "invalid".
    result = run(
        ingress("a", [rule("foo.com", path("/", "invalid"))],
                annotations={P + "default-backend": "errors", P + "custom-http-errors": "404,503"}),
        service("errors"), endpoint_slice("errors-abc", "errors", [endpoint("10.0.0.7")]),
    )
    route = result.table.route("foo.com", "/")
    assert route is not None and route.errors is not None and not route.plain
    assert route.errors.codes == {404, 503} and route.errors.when_unavailable
    assert route.errors.backend.service == "errors"
    assert route.backend.service == "invalid" and not result.table.endpoint_set(route.backend).ready
    assert result.routed_on_endpoints == {("default", "errors")}


def test_custom_http_errors_without_default_backend_use_the_controllers() -> None:
    objects = (service("errors"), endpoint_slice("errors-abc", "errors", [endpoint("10.0.0.7")]))
    route, _ = build_with({P + "custom-http-errors": "503"}, *objects)
    assert route.errors is None  # no default backend anywhere: nothing intercepts
    route, result = build_with({P + "custom-http-errors": "503"}, *objects,
                               settings=BuildSettings(default_backend_service="default/errors"))
    assert route.errors is not None and route.errors.codes == {503}
    assert not route.errors.when_unavailable
    unrouted = result.table.route("other.com", "/")
    assert unrouted is not None and unrouted.backend.service == "errors"


def test_a_default_backend_without_endpoints_is_ignored() -> None:
    route, result = build_with({P + "default-backend": "errors"}, service("errors"))
    assert route.errors is None
    assert reported(result) == {ANNOTATION.format("default-backend")}


def test_enable_access_log_false_silences_the_route() -> None:
    route, _ = build_with({P + "enable-access-log": "false"})
    assert not route.access_log
