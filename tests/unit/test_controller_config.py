"""The controller ConfigMap (--configmap): ingress-nginx's keys, defaults and problems.

Defaults are ingress-nginx's (internal/ingress/controller/config/config.go,
NewDefault); the settings e2e tests (test/e2e/settings/*.go) give the values.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from build_objects import endpoint, endpoint_slice, ingress, path, problem_fields, rule, run, web
from build_objects import service as service_object

from ingress.build.annotations.extauth import template
from ingress.build.config.catalog import CATALOG, DIFFERENT, SUPPORTED
from ingress.build.config.keys import READINGS
from ingress.build.result import BuildResult
from ingress.model import Balancer, Buffering, RetryPolicy, Route, SslRedirect
from ingress.model.filters.blocking import BlockedClients
from ingress.model.filters.core import (
    DirectResponse,
    HeaderEdits,
    Redirect,
    ResponseHeaders,
    SourceRanges,
)
from ingress.model.filters.headers import ProxySetHeaders
from ingress.model.filters.responses import CookiePath
from ingress.model.filters.routing import HostRedirect
from ingress.settings import BuildSettings, Settings, with_overrides
from kube import objects as o
from scripts.annotation_table import with_configmap_table

SETTINGS = BuildSettings(configmap="ingress-nginx/controller")
P = "nginx.ingress.kubernetes.io/"


def controller(data: dict[str, Any]) -> dict[str, Any]:
    return o.config_map("controller", data, "ingress-nginx")


def build_with(data: dict[str, Any] | None, annotations: dict[str, str] | None = None,
               *objects: dict[str, Any]) -> tuple[Route, BuildResult]:
    found = [controller(data)] if data is not None else []
    result = run(ingress("a", [rule("foo.com", path("/"))], annotations=annotations),
                 *web(), *found, *objects, settings=SETTINGS)
    route = result.table.route("foo.com", "/")
    assert route is not None
    return route, result


def test_every_supported_key_is_read_and_every_read_key_documented() -> None:
    supported = {key.name for key in CATALOG if key.status in (SUPPORTED, DIFFERENT)}
    assert supported == set(READINGS)


def test_a_missing_config_map_means_ingress_nginx_defaults() -> None:
    route, result = build_with(None)
    assert problem_fields(result) == [("ConfigMap ingress-nginx/controller", "",
                                       "ConfigMapNotFound")]
    assert route.upstream.send_timeout == 60.0
    assert route.upstream.retry == RetryPolicy(frozenset({"error", "timeout"}), 3, 0.0)
    assert route.upstream.buffering == Buffering(request=True, body_in_memory=8192,
                                                 response=False, buffer_size=4096, buffers=4,
                                                 max_temp_file=1 << 30)
    settings = result.table.settings
    assert (settings["max_body_size"], settings["connect_timeout"],
            settings["upstream_read_timeout"], settings["keepalive_timeout"],
            settings["keepalive_requests"], settings["max_header_size"],
            settings["upstream_keepalive"], settings["hsts"], settings["hsts_include_subdomains"],
            settings["tls_min_version"], settings["tls_max_version"]) == (
        1 << 20, 5.0, 60.0, 75.0, 1000, 32768, 320, True, True, "1.2", "1.3")
    Settings(**settings)  # every name is a Settings field of the right kind


def test_without_configmap_portico_keeps_its_own_defaults() -> None:
    result = run(ingress("a", [rule("foo.com", path("/"))]), *web())
    route = result.table.route("foo.com", "/")
    assert route is not None and route.upstream.retry is None and route.upstream.buffering is None
    assert result.table.settings == {}


def test_keys_override_defaults_and_annotations_override_keys() -> None:
    data = {
        # ingress-nginx's settings e2e tests: proxy_next_upstream and proxy_send_timeout
        "proxy-next-upstream": "timeout http_502", "proxy-next-upstream-timeout": "999999",
        "proxy-next-upstream-tries": "888888", "proxy-send-timeout": "20",
        "ssl-redirect": "false", "load-balance": "least_conn",
        "proxy-request-buffering": "off",
        "proxy-cookie-path": "/one/ /", "hsts": "false", "ssl-protocols": "TLSv1.3",
        "keep-alive": "10", "large-client-header-buffers": "4 16k",
        "upstream-keepalive-connections": "10", "disable-access-log": "true",
    }
    route, result = build_with(data)
    assert not result.problems
    assert route.upstream.retry == RetryPolicy(frozenset({"timeout", "http_502"}), 888888,
                                               999999.0)
    assert route.upstream.send_timeout == 20.0 and route.ssl_redirect == SslRedirect(False)
    assert route.backend.balancer is Balancer.LEAST_CONN
    assert route.upstream.buffering is not None and not route.upstream.buffering.request
    assert [type(f) for f in route.response_filters] == [CookiePath]
    settings = result.table.settings
    assert (settings["hsts"], settings["tls_min_version"], settings["keepalive_timeout"],
            settings["max_header_size"], settings["upstream_keepalive"],
            settings["access_log"]) == (False, "1.3", 10.0, 65536, 10, False)
    route, _ = build_with(data, {P + "proxy-send-timeout": "30", P + "ssl-redirect": "true",
                                 P + "proxy-next-upstream-tries": "1",
                                 P + "proxy-cookie-path": "off"})
    assert route.upstream.send_timeout == 30.0 and route.ssl_redirect == SslRedirect(True)
    assert route.upstream.retry == RetryPolicy(frozenset({"timeout", "http_502"}), 1, 999999.0)
    assert route.response_filters == ()


def test_client_address_and_limit_keys() -> None:
    data = {"use-forwarded-headers": "true", "proxy-real-ip-cidr": "10.0.0.0/8, 192.168.0.0/16",
            "forwarded-for-header": "CF-Connecting-IP", "compute-full-forwarded-for": "true",
            "client-body-timeout": "30", "max-worker-connections": "100",
            "http2-max-concurrent-streams": "32"}
    _, result = build_with(data)
    assert not result.problems
    settings = Settings(**result.table.settings)
    assert settings.use_forwarded_headers and settings.compute_full_forwarded_for
    assert settings.proxy_real_ip_cidr == "10.0.0.0/8, 192.168.0.0/16"
    assert settings.forwarded_for_header == "CF-Connecting-IP"
    assert (settings.client_body_timeout, settings.max_connections) == (30.0, 100)
    assert settings.http2_max_concurrent_streams == 32
    _, result = build_with({"enable-real-ip": "true", "proxy-real-ip-cidr": "10.0.0.0/33"})
    assert problem_fields(result) == [("ConfigMap ingress-nginx/controller",
                                       'data["proxy-real-ip-cidr"]', "InvalidConfigMap")]
    settings = Settings(**result.table.settings)
    assert settings.use_forwarded_headers and settings.proxy_real_ip_cidr == "0.0.0.0/0"


def test_proxy_protocol_keys_and_the_flag_that_keeps_it_on() -> None:
    _, result = build_with({"use-proxy-protocol": "true", "proxy-protocol-header-timeout": "2s"})
    assert not result.problems
    settings = Settings(**result.table.settings)
    assert (settings.proxy_protocol, settings.proxy_protocol_timeout) == (True, 2.0)
    _, result = build_with({"proxy-protocol-header-timeout": "soon"})
    assert problem_fields(result) == [("ConfigMap ingress-nginx/controller",
                                       'data["proxy-protocol-header-timeout"]',
                                       "InvalidConfigMap")]
    assert Settings(**result.table.settings).proxy_protocol_timeout == 5.0
    # --proxy-protocol stays on behind a TCP balancer whatever the ConfigMap says; the
    # ConfigMap alone can switch it on and off.
    off = {"proxy_protocol": False}
    assert with_overrides(Settings(workers=1, proxy_protocol=True), off).proxy_protocol
    assert not with_overrides(Settings(workers=1), off).proxy_protocol
    assert with_overrides(Settings(workers=1), {"proxy_protocol": True}).proxy_protocol


def test_retry_non_idempotent_adds_to_every_next_upstream() -> None:
    route, _ = build_with({"retry-non-idempotent": "true"},
                          {P + "proxy-next-upstream": "error http_503"})
    assert route.upstream.retry is not None
    assert route.upstream.retry.conditions == {"error", "http_503", "non_idempotent"}
    route, _ = build_with({"retry-non-idempotent": "true"})
    assert route.upstream.retry is not None and route.upstream.retry.non_idempotent


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        ({"no-such-key": "1"}, "no-such-key", "UnknownConfigKey"),
        ({"use-gzip": "true"}, "use-gzip", "UnsupportedConfigKey"),
        ({"server-snippet": "return 200;"}, "server-snippet", "UnsupportedConfigKey"),
        ({"proxy-send-timeout": "20k"}, "proxy-send-timeout", "InvalidConfigMap"),
        ({"hsts": "maybe"}, "hsts", "InvalidConfigMap"),
        ({"ssl-protocols": "TLSv1 TLSv1.2"}, "ssl-protocols", "InvalidConfigMap"),
        ({"ssl-ciphers": "NOT-A-CIPHER"}, "ssl-ciphers", "InvalidConfigMap"),
        ({"custom-http-errors": "404,2000"}, "custom-http-errors", "InvalidConfigMap"),
        ({"proxy-cookie-domain": "one"}, "proxy-cookie-domain", "InvalidConfigMap"),
        ({"keep-alive": 10}, "keep-alive", "InvalidConfigMap"),
        # nginx's bounds: one buffer (4k) to all of them but one (3 x 4k), by default.
        ({"proxy-busy-buffers-size": "2k"}, "proxy-busy-buffers-size", "InvalidConfigMap"),
        ({"proxy-busy-buffers-size": "16k"}, "proxy-busy-buffers-size", "InvalidConfigMap"),
        ({"proxy-busy-buffers-size": "16k", "proxy-buffers-number": "2",
          "proxy-buffer-size": "8k"}, "proxy-busy-buffers-size", "InvalidConfigMap"),
        ({"proxy-busy-buffers-size": "lots"}, "proxy-busy-buffers-size", "InvalidConfigMap"),
    ],
)
def test_a_bad_key_is_a_problem_naming_it_and_the_rest_applies(
    data: dict[str, Any], key: str, reason: str
) -> None:
    route, result = build_with({**data, "proxy-send-timeout": data.get("proxy-send-timeout",
                                                                        "7")})
    assert problem_fields(result) == [("ConfigMap ingress-nginx/controller",
                                       f'data["{key}"]', reason)]
    expected_send = 60.0 if key == "proxy-send-timeout" else 7.0
    assert route.upstream.send_timeout == expected_send


@pytest.mark.parametrize("data", [
    {"proxy-busy-buffers-size": ""},  # nginx's own choice
    {"proxy-busy-buffers-size": "4k"},
    {"proxy-busy-buffers-size": "12k"},
    {"proxy-busy-buffers-size": "16k", "proxy-buffers-number": "8", "proxy-buffer-size": "8k"},
])
def test_proxy_busy_buffers_size_within_nginx_bounds_is_accepted(data: dict[str, str]) -> None:
    route, result = build_with(data)
    assert not result.problems
    buffers = int(data.get("proxy-buffers-number", "4"))
    assert route.upstream.buffering is not None and route.upstream.buffering.buffers == buffers


def test_custom_http_errors_go_to_the_controllers_default_backend() -> None:
    errors = (service_object("errors"),
              endpoint_slice("errors-abc", "errors", [endpoint("10.0.0.9")]))
    result = run(ingress("a", [rule("foo.com", path("/"))]), *web(), *errors,
                 controller({"custom-http-errors": "404, 503"}),
                 settings=BuildSettings(configmap="ingress-nginx/controller",
                                        default_backend_service="default/errors"))
    route = result.table.route("foo.com", "/")
    assert route is not None and route.errors is not None
    assert route.errors.codes == {404, 503} and route.errors.backend.service == "errors"
    unrouted = result.table.route("nowhere.com", "/")
    # enable-access-log-for-default-backend is false by default in ingress-nginx
    assert unrouted is not None and not unrouted.access_log


@pytest.mark.parametrize(
    ("data", "annotations", "relative", "with_port"),
    [
        ({}, {}, False, False),
        ({"relative-redirects": "true", "use-port-in-redirects": "true"}, {}, True, True),
        ({"relative-redirects": "true"}, {P + "relative-redirects": "false"}, False, False),
        ({"use-port-in-redirects": "true"}, {P + "use-port-in-redirects": "false"}, False,
         False),
    ],
)
def test_relative_and_port_in_redirects(data: dict[str, str], annotations: dict[str, str],
                                        relative: bool, with_port: bool) -> None:
    route, result = build_with(data, {P + "permanent-redirect": "/new", **annotations})
    assert not result.problems
    assert route.filters == (Redirect(301, "/new", relative, with_port),)


@pytest.mark.parametrize(
    ("data", "annotations", "codes"),
    [
        # ingress-nginx: the ConfigMap key turns interception off for the ConfigMap's codes,
        # the annotation for the Ingress's own (disableproxyintercepterrors.go).
        ({"custom-http-errors": "404"}, {}, {404}),
        ({"custom-http-errors": "404", "disable-proxy-intercept-errors": "true"}, {}, set()),
        ({"custom-http-errors": "404", "disable-proxy-intercept-errors": "true"},
         {P + "custom-http-errors": "503"}, {503}),
        ({}, {P + "custom-http-errors": "404", P + "disable-proxy-intercept-errors": "true"},
         set()),
        ({"custom-http-errors": "404"}, {P + "disable-proxy-intercept-errors": "true"}, {404}),
    ],
)
def test_disable_proxy_intercept_errors(data: dict[str, str], annotations: dict[str, str],
                                        codes: set[int]) -> None:
    errors = (service_object("errors"),
              endpoint_slice("errors-abc", "errors", [endpoint("10.0.0.9")]))
    result = run(ingress("a", [rule("foo.com", path("/"))], annotations=annotations), *web(),
                 *errors, controller(data),
                 settings=BuildSettings(configmap="ingress-nginx/controller",
                                        default_backend_service="default/errors"))
    assert not result.problems
    route = result.table.route("foo.com", "/")
    assert route is not None
    assert (route.errors.codes if route.errors is not None else set()) == codes
    assert route.intercepts == codes


@pytest.mark.parametrize(("data", "problems"), [({}, 1), ({"strict-validate-path-type": "false"},
                                                          0)])
def test_strict_validate_path_type(data: dict[str, str], problems: int) -> None:
    result = run(ingress("a", [rule("foo.com", path("/a"), path("/b$x"),
                                    path("/c.*", path_type="ImplementationSpecific"))]),
                 *web(), controller(data), settings=SETTINGS)
    assert len(result.problems) == problems
    assert (result.table.route("foo.com", "/b$x") is not None) is (problems == 0)


def test_readme_configmap_reference_is_generated_from_the_catalog() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert with_configmap_table(readme) == readme, "run `make annotations-table`"


def nets(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(text) for text in texts)


@pytest.mark.parametrize(
    ("data", "annotations", "expected"),
    [
        ({}, {}, None),
        # ingress-nginx: the ConfigMap's lists are the defaults of Ingresses without annotations
        ({"whitelist-source-range": "10.0.0.0/8, 192.168.0.1"}, {},
         SourceRanges(allow=nets("10.0.0.0/8", "192.168.0.1/32"))),
        ({"whitelist-source-range": "10.0.0.0/8"}, {"whitelist-source-range": "172.16.0.0/12"},
         SourceRanges(allow=nets("172.16.0.0/12"))),
        ({"whitelist-source-range": "10.0.0.0/8", "denylist-source-range": "10.1.0.0/16"},
         {"denylist-source-range": "10.2.0.0/16"},
         SourceRanges(allow=nets("10.0.0.0/8"), deny=nets("10.2.0.0/16"))),
        ({"denylist-source-range": "10.1.0.0/16"}, {"allowlist-source-range": "10.0.0.0/8"},
         SourceRanges(allow=nets("10.0.0.0/8"), deny=nets("10.1.0.0/16"))),
        # block-cidrs are denied everywhere, an Ingress's own lists or not.
        ({"block-cidrs": "192.0.2.0/24"}, {}, SourceRanges(deny=nets("192.0.2.0/24"))),
        ({"block-cidrs": "192.0.2.0/24", "denylist-source-range": "10.1.0.0/16"},
         {"whitelist-source-range": "192.0.0.0/8"},
         SourceRanges(allow=nets("192.0.0.0/8"), deny=nets("192.0.2.0/24", "10.1.0.0/16"))),
        ({"block-cidrs": "192.0.2.0/24"}, {"denylist-source-range": "10.1.0.0/16"},
         SourceRanges(deny=nets("192.0.2.0/24", "10.1.0.0/16"))),
    ],
)
def test_default_ip_lists_and_block_cidrs(data: dict[str, str], annotations: dict[str, str],
                                          expected: SourceRanges | None) -> None:
    route, result = build_with(data, {P + k: v for k, v in annotations.items()})
    assert not result.problems
    assert route.filters == ((expected,) if expected else ())


@pytest.mark.parametrize("key", ["whitelist-source-range", "denylist-source-range",
                                 "block-cidrs"])
def test_an_unreadable_ip_list_closes_the_routes(key: str) -> None:
    route, result = build_with({key: "10.0.0.0/33"})
    assert problem_fields(result) == [("ConfigMap ingress-nginx/controller", f'data["{key}"]',
                                       "InvalidConfigMap")]
    assert "answer 503 until it is fixed" in result.problems[0].message
    assert route.filters == (DirectResponse(503),)
    # An Ingress's own list does not reopen them.
    route, _ = build_with({key: "10.0.0.0/33"}, {P + "whitelist-source-range": "10.0.0.0/8"})
    assert route.filters == (DirectResponse(503),)


@pytest.mark.parametrize(
    ("value", "blocked", "passed"),
    [
        # ingress-nginx's global_access_block.go
        (r"~*chrome\/68\.0\.3440\.106\ safari\/537\.36,AlphaBot",
         ["Mozilla/5.0 (X11) Chrome/68.0.3440.106 Safari/537.36", "AlphaBot", "ALPHABOT"],
         ["Mozilla/5.0 (iPhone) Version/11.0 Mobile/15E148 Safari/604.1", "AlphaBot/2", None]),
        (r"~*example\.com,qwerty", ["example.com", "https://www.EXAMPLE.com/x", "qwerty"],
         ["qwerty123", "example-com", ""]),
        ("~Bot$", ["AlphaBot"], ["alphabot", "Bots"]),  # `~`: the case counts
        (r"\default, ", ["default"], ["x"]),  # `\` before one of map's own words
    ],
)
def test_block_user_agents_and_referers_match_as_nginx_map(
    value: str, blocked: list[str], passed: list[str | None]
) -> None:
    route, result = build_with({"block-user-agents": value, "block-referers": value})
    assert not result.problems
    [flt] = route.filters
    assert isinstance(flt, BlockedClients)
    for lists in (flt.user_agents, flt.referers):
        assert [text for text in blocked if not lists.matches(text.encode())] == []
        assert [text for text in passed
                if lists.matches(None if text is None else text.encode())] == []


def test_a_block_list_regex_re2_cannot_read_is_reported() -> None:
    route, result = build_with({"block-user-agents": "AlphaBot,~(?<=x)y"})
    assert problem_fields(result) == [("ConfigMap ingress-nginx/controller",
                                       'data["block-user-agents"]', "InvalidConfigMap")]
    assert route.filters == ()


@pytest.mark.parametrize(
    ("data", "annotations", "expected"),
    [
        ({}, {}, SslRedirect()),
        ({"http-redirect-code": "301", "preserve-trailing-slash": "true"}, {},
         SslRedirect(preserve_trailing_slash=True, code=301)),
        # An annotation sets its own part; the rest is the ConfigMap's (ingress-nginx's
        # defBackend).
        ({"http-redirect-code": "302", "preserve-trailing-slash": "true",
          "force-ssl-redirect": "true"}, {"ssl-redirect": "false"},
         SslRedirect(enabled=False, forced=True, preserve_trailing_slash=True, code=302)),
        ({"ssl-redirect": "false"}, {"force-ssl-redirect": "true"},
         SslRedirect(enabled=False, forced=True)),
        ({"preserve-trailing-slash": "true"}, {"preserve-trailing-slash": "false"},
         SslRedirect()),
    ],
)
def test_http_redirect_code_and_preserve_trailing_slash(
    data: dict[str, str], annotations: dict[str, str], expected: SslRedirect
) -> None:
    route, result = build_with(data, {P + k: v for k, v in annotations.items()})
    assert not result.problems
    assert route.ssl_redirect == expected


@pytest.mark.parametrize(("value", "code"), [("307", 307), ("303", 308), ("x", 308)])
def test_http_redirect_code_sends_from_to_www_too(value: str, code: int) -> None:
    route, result = build_with({"http-redirect-code": value},
                               {P + "from-to-www-redirect": "true"})
    assert bool(result.problems) == (code != int(value) if value.isdigit() else True)
    www = result.table.route("www.foo.com", "/")
    assert www is not None and www.filters == (HostRedirect("foo.com", code),)
    assert route.ssl_redirect.code == code


def config_map(name: str, data: dict[str, Any], ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": data}


def test_proxy_set_headers_and_add_headers_name_config_maps() -> None:
    route, result = build_with(
        {"proxy-set-headers": "default/set", "add-headers": "added"}, None,
        config_map("set", {"X-Different-Name": "true", "X-Seen": "$host$request_uri"}),
        config_map("added", {"X-Frame-Options": "DENY"}, "ingress-nginx"))
    assert not result.problems
    assert route.filters == (ProxySetHeaders((
        (b"x-different-name", template("true")), (b"x-seen", template("$host$request_uri")))),)
    assert route.response_filters == (ResponseHeaders(HeaderEdits(
        set=((b"x-frame-options", b"DENY"),))),)
    # Both are watched (the Kubernetes source keeps what a build read).
    assert {("default", "set"), ("ingress-nginx", "added")} <= result.referenced_config_maps
    # An Ingress's own annotations do not drop them.
    route, _ = build_with({"proxy-set-headers": "default/set"}, {P + "proxy-send-timeout": "9"},
                          config_map("set", {"X-A": "b"}))
    assert route.filters == (ProxySetHeaders(((b"x-a", template("b")),)),)


@pytest.mark.parametrize(
    ("data", "objects", "filters", "response_filters"),
    [
        # ingress-nginx: a ConfigMap that is not there adds nothing (and logs it).
        ({"add-headers": "default/nothing"}, [], (), ()),
        ({"proxy-set-headers": "nothing"}, [], (), ()),
        # Bad entries are left out, the others stay.
        ({"add-headers": "default/added"},
         [config_map("added", {"X-Id": "$request_id", "X-Ok": "yes"})], (),
         (ResponseHeaders(HeaderEdits(set=((b"x-ok", b"yes"),))),)),
        ({"proxy-set-headers": "default/set"},
         [config_map("set", {"bad name": "x", "X-Var": "$no_such_variable"})], (), ()),
    ],
)
def test_header_config_maps_that_cannot_be_used_are_reported(
    data: dict[str, str], objects: list[dict[str, Any]], filters: tuple[Any, ...],
    response_filters: tuple[Any, ...]
) -> None:
    route, result = build_with(data, None, *objects)
    [key] = data
    assert {field for _, field, _ in problem_fields(result)} == {f'data["{key}"]'}
    assert route.filters == filters and route.response_filters == response_filters
