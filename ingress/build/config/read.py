"""The controller ConfigMap → `ControllerConfig`, with a Problem per key it cannot use.

Every key ingress-nginx documents that the ConfigMap leaves out takes
ingress-nginx's default. A key that is not ingress-nginx's, one Portico
does not support, or a value that does not parse is reported naming the
key; the rest of the ConfigMap still applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingress.build.annotations.buffering import busy_buffers_problem
from ingress.build.annotations.responses import cookie_domain, cookie_path, redirect_location
from ingress.build.annotations.values import InvalidValue
from ingress.build.config.access import CLOSED_WHEN_INVALID, access_config
from ingress.build.config.catalog import BY_NAME
from ingress.build.config.controller import ControllerConfig
from ingress.build.config.guards import guard_config
from ingress.build.config.headers import READINGS as HEADER_READINGS
from ingress.build.config.keys import READINGS
from ingress.build.config.routes import route_config
from ingress.build.fields import FieldError, mapping
from ingress.model import Buffering, ObjectRef, Problem, RetryPolicy, SslRedirect, UpstreamPolicy
from ingress.model.filters.base import ResponseFilter


def _problem(ref: ObjectRef, key: str, message: str, reason: str) -> Problem:
    return Problem(ref, f'data["{key}"]', message, reason)


def _values(data: Mapping[str, Any], ref: ObjectRef, problems: list[Problem]) -> dict[str, Any]:
    """Every supported key's value: the ConfigMap's where it parses, else ingress-nginx's."""
    found: dict[str, Any] = {}
    for key, raw in sorted(data.items()):
        reading = READINGS.get(key)
        if reading is None:
            known = BY_NAME.get(key)
            if known is None:
                problems.append(_problem(ref, key, "is not an ingress-nginx ConfigMap key",
                                         "UnknownConfigKey"))
            else:
                why = f" ({known.note})" if known.note else ""
                problems.append(_problem(ref, key, f"is {known.status.value} in Portico{why}; "
                                         "ignored", "UnsupportedConfigKey"))
            continue
        try:
            if not isinstance(raw, str):
                raise InvalidValue(f"must be a string, not {type(raw).__name__}")
            found[key] = reading.parse(raw)
        except InvalidValue as error:
            outcome = ("the Ingress routes answer 503 until it is fixed"
                       if key in CLOSED_WHEN_INVALID
                       else f"ingress-nginx's default {reading.default!r} applies")
            problems.append(_problem(ref, key, f"{error}; {outcome}", "InvalidConfigMap"))
    for key, reading in READINGS.items():
        if key not in found:
            found[key] = reading.parse(reading.default)
    return found


def _check_busy_buffers(v: Mapping[str, Any], ref: ObjectRef, problems: list[Problem]) -> None:
    """proxy-busy-buffers-size next to the buffers it is a share of, as nginx checks it."""
    busy = v["proxy-busy-buffers-size"]
    if busy is None:
        return
    problem = busy_buffers_problem(busy, Buffering(buffer_size=v["proxy-buffer-size"],
                                                   buffers=v["proxy-buffers-number"]))
    if problem:
        problems.append(_problem(ref, "proxy-busy-buffers-size", f"{problem}; ignored",
                                 "InvalidConfigMap"))


def _response_filters(v: Mapping[str, Any]) -> tuple[ResponseFilter, ...]:
    filters = (
        cookie_domain(v["proxy-cookie-domain"]),
        cookie_path(v["proxy-cookie-path"]),
        redirect_location(v["proxy-redirect-from"], v["proxy-redirect-to"]),
    )
    return tuple(f for f in filters if f is not None)


def _settings(v: Mapping[str, Any]) -> dict[str, object]:
    """The proxy `Settings` fields the ConfigMap decides, by field name."""
    oldest, newest = v["ssl-protocols"]
    return {
        "max_body_size": v["proxy-body-size"],
        "connect_timeout": v["proxy-connect-timeout"],
        "upstream_read_timeout": v["proxy-read-timeout"],
        "client_header_timeout": v["client-header-timeout"],
        "client_body_timeout": v["client-body-timeout"],
        "max_connections": v["max-worker-connections"],
        "http2_max_concurrent_streams": v["http2-max-concurrent-streams"] or 128,
        "use_forwarded_headers": v["use-forwarded-headers"] or v["enable-real-ip"],
        "proxy_real_ip_cidr": v["proxy-real-ip-cidr"],
        "forwarded_for_header": v["forwarded-for-header"],
        "compute_full_forwarded_for": v["compute-full-forwarded-for"],
        "proxy_protocol": v["use-proxy-protocol"],
        "http2": v["use-http2"],
        "proxy_protocol_timeout": v["proxy-protocol-header-timeout"],
        "keepalive_timeout": v["keep-alive"],
        "keepalive_requests": v["keep-alive-requests"],
        "max_header_size": v["large-client-header-buffers"],
        "upstream_keepalive": v["upstream-keepalive-connections"],
        "upstream_keepalive_timeout": v["upstream-keepalive-timeout"],
        "upstream_keepalive_requests": v["upstream-keepalive-requests"],
        "hsts": v["hsts"],
        "hsts_max_age": v["hsts-max-age"],
        "hsts_include_subdomains": v["hsts-include-subdomains"],
        "hsts_preload": v["hsts-preload"],
        "tls_min_version": oldest,
        "tls_max_version": newest,
        "tls_ciphers": v["ssl-ciphers"],
        "access_log": not v["disable-access-log"],
        "generate_request_id": v["generate-request-id"],
    }


def _config(v: Mapping[str, Any], invalid: set[str]) -> ControllerConfig:
    conditions = v["proxy-next-upstream"]
    if conditions and v["retry-non-idempotent"]:
        conditions = conditions | {"non_idempotent"}
    upstream = UpstreamPolicy(
        send_timeout=v["proxy-send-timeout"],
        retry=RetryPolicy(conditions, v["proxy-next-upstream-tries"],
                          v["proxy-next-upstream-timeout"]),
        buffering=Buffering(
            request=v["proxy-request-buffering"],
            body_in_memory=v["client-body-buffer-size"],
            response=v["proxy-buffering"],
            buffer_size=v["proxy-buffer-size"],
            buffers=v["proxy-buffers-number"],
            max_temp_file=v["proxy-max-temp-file-size"],
        ),
        http10=v["proxy-http-version"],
    )
    return ControllerConfig(
        upstream=upstream,
        ssl_redirect=SslRedirect(v["ssl-redirect"], v["force-ssl-redirect"],
                                 v["preserve-trailing-slash"], v["http-redirect-code"]),
        balancer=v["load-balance"],
        response_filters=_response_filters(v),
        redirect_from=v["proxy-redirect-from"],
        redirect_to=v["proxy-redirect-to"],
        retry_non_idempotent=v["retry-non-idempotent"],
        service_upstream=v["service-upstream"],
        allowed_response_headers=frozenset(v["global-allowed-response-headers"]),
        cross_namespace=v["allow-cross-namespace-resources"],
        strict_path_types=v["strict-validate-path-type"],
        log_default_backend=v["enable-access-log-for-default-backend"],
        settings=_settings(v),
        **guard_config(v, invalid),
        **access_config(v, invalid),
        header_config_maps={key: v[key] for key in HEADER_READINGS if v[key] is not None},
        **route_config(v),
    )


def read_config(body: Mapping[str, Any] | None, ref: ObjectRef) -> tuple[ControllerConfig,
                                                                         list[Problem]]:
    """The ConfigMap's configuration (ingress-nginx's defaults when it is missing)."""
    problems: list[Problem] = []
    data: Mapping[str, Any] = {}
    if body is None:
        problems.append(Problem(ref, "", "not found: ingress-nginx's defaults apply",
                                "ConfigMapNotFound"))
    else:
        try:
            data = mapping(body.get("data"), "data")
        except FieldError as error:
            problems.append(error.problem(ref))
    found = _values(data, ref, problems)
    _check_busy_buffers(found, ref, problems)
    # The keys whose value is unusable: their field is data["key"].
    invalid = {p.field[len('data["'):-len('"]')] for p in problems
               if p.reason == "InvalidConfigMap"}
    return _config(found, invalid), problems
