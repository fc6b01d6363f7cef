"""What the controller ConfigMap decides, once read: `ControllerConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ingress.build.noauth import DEFAULT_NO_AUTH_LOCATIONS
from ingress.model import (
    DEFAULT_SSL_REDIRECT,
    DEFAULT_UPSTREAM,
    TRACED,
    Balancer,
    SslRedirect,
    Tracing,
    UpstreamPolicy,
)
from ingress.model.filters.base import Filter, ResponseFilter
from ingress.model.filters.core import Network
from ingress.model.filters.extauth import ExternalAuth


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """Controller-wide choices. The defaults are Portico's own (no `--configmap`).

    `upstream`, `ssl_redirect`, `balancer`, `response_filters`,
    `error_codes` and `service_upstream` are what a route gets when its
    Ingress's annotations say nothing; `settings` are proxy `Settings`
    fields by name, which the proxy applies when it swaps the table in.
    """

    upstream: UpstreamPolicy = DEFAULT_UPSTREAM
    ssl_redirect: SslRedirect = DEFAULT_SSL_REDIRECT
    balancer: Balancer = Balancer.ROUND_ROBIN
    response_filters: tuple[ResponseFilter, ...] = ()
    # proxy-redirect-from/-to as written: an annotation may set one of the two.
    redirect_from: str = "off"
    redirect_to: str = "off"
    error_codes: frozenset[int] = frozenset()
    # retry-non-idempotent: every proxy-next-upstream also retries POST, LOCK, PATCH.
    retry_non_idempotent: bool = False
    service_upstream: bool = False
    # custom-headers may set these response headers (names as written, compared exactly).
    allowed_response_headers: frozenset[str] = frozenset()
    # Annotations may name Secrets of other namespaces (proxy-ssl-secret).
    cross_namespace: bool = False
    # Exact and Prefix paths must be plain (letters, digits, `/._-`), as ingress-nginx requires.
    strict_path_types: bool = False
    # Requests answered by the default backend are access-logged.
    log_default_backend: bool = True
    # global-auth-*: routes without auth-url get it unless enable-global-auth is false;
    # `global_auth_denied`: global-auth-url is set but unusable, and those routes answer 503.
    global_auth: ExternalAuth | None = None
    global_auth_denied: bool = False
    # Routes whose path starts with one of these skip authentication.
    no_auth_locations: tuple[str, ...] = DEFAULT_NO_AUTH_LOCATIONS
    # whitelist-/denylist-source-range: the lists of routes whose Ingress sets none;
    # block-cidrs: denied on every route. `filters` start every route's filters (the
    # block lists, proxy-set-headers); `access_denied`: a list is unreadable, routes
    # answer 503.
    allow_ranges: tuple[Network, ...] = ()
    deny_ranges: tuple[Network, ...] = ()
    blocked_ranges: tuple[Network, ...] = ()
    filters: tuple[Filter, ...] = ()
    access_denied: bool = False
    # add-headers, proxy-set-headers: the ConfigMaps they name, (namespace or '', name).
    header_config_maps: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    limit_req_status: int = 503
    limit_conn_status: int = 503
    # Response bandwidth of routes whose annotations set none (bytes a second, 0: none).
    limit_rate: int = 0
    limit_rate_after: int = 0
    # Redirects to a path stay paths (relative-redirects), or name the listening port
    # when it is not the scheme's own (use-port-in-redirects).
    relative_redirects: bool = False
    port_in_redirects: bool = False
    # http-redirect-code: the status of the HTTPS and from-to-www redirects.
    redirect_code: int = 308
    # Routes are traced (with --otlp-endpoint) unless their Ingress says otherwise; the span
    # settings an Ingress that turns tracing on starts from.
    tracing: bool = True
    tracing_defaults: Tracing = TRACED
    settings: Mapping[str, object] = field(default_factory=dict)


DEFAULT_CONFIG = ControllerConfig()
