"""A route: what it matches, the filters it runs, and the backends it sends to.

The shape of Gateway API's HTTPRoute rule: Ingress paths (with their
annotations) and HTTPRoute rules are two front ends producing the same
`Route`. A route with no conditions and no filters costs the proxy a
dict lookup and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ingress.model.backends import Backend, BackendSplit
from ingress.model.canary import Canary
from ingress.model.error_pages import ErrorPages
from ingress.model.filters.base import Filter, ResponseFilter
from ingress.model.matches import Regex, RouteMatch
from ingress.model.objects import ObjectRef
from ingress.model.tracing import TRACED, Tracing
from ingress.model.upstream import H2_PROTOCOLS, Buffering, RetryPolicy


class PathType(StrEnum):
    EXACT = "Exact"
    PREFIX = "Prefix"
    REGEX = "RegularExpression"
    # ingress-nginx's meaning: an nginx prefix location (`/foo` matches `/foobar`).
    IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"


@dataclass(frozen=True, slots=True)
class UpstreamPolicy:
    """How requests of a route travel to the backend. None: the controller-wide setting."""

    connect_timeout: float | None = None
    read_timeout: float | None = None
    # Longest wait for the pod to take more of the request (nginx's proxy_send_timeout).
    send_timeout: float | None = None
    max_body_size: int | None = None
    # The Host header sent upstream instead of the client's.
    host: str | None = None
    retry: RetryPolicy | None = None
    buffering: Buffering | None = None
    # HTTP/1.0 to the pod (proxy-http-version), with no keep-alive.
    http10: bool = False
    # The Connection header sent upstream (connection-proxy-header), instead of none.
    connection: bytes | None = None


DEFAULT_UPSTREAM = UpstreamPolicy()


@dataclass(frozen=True, slots=True)
class SslRedirect:
    """Plain-HTTP requests to a TLS host are redirected to HTTPS unless `enabled` is off;
    `forced` redirects even when the host has no TLS. The redirect drops a
    trailing `/` of the target unless `preserve_trailing_slash`; its status is
    `code` (the ConfigMap's http-redirect-code)."""

    enabled: bool = True
    forced: bool = False
    preserve_trailing_slash: bool = False
    code: int = 308


DEFAULT_SSL_REDIRECT = SslRedirect()


# One empty set for every route that intercepts nothing: 216 bytes each otherwise.
_NO_STATUSES: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Route:
    path: str  # as the object wrote it (a metrics label)
    path_type: PathType
    backend: Backend
    source: ObjectRef  # the Ingress or HTTPRoute that asked for it
    host: str = ""
    # The compiled path of a REGEX route, matched from the path's start.
    regex: Regex | None = None
    # Conditions beyond host and path; None: any request.
    match: RouteMatch | None = None
    filters: tuple[Filter, ...] = ()
    response_filters: tuple[ResponseFilter, ...] = ()
    # When set, each request picks its backend from here; `backend` is the first of them.
    split: BackendSplit | None = None
    # A second backend taken by header, cookie or weight (never with `split`).
    canary: Canary | None = None
    upstream: UpstreamPolicy = DEFAULT_UPSTREAM
    ssl_redirect: SslRedirect = DEFAULT_SSL_REDIRECT
    errors: ErrorPages | None = None
    access_log: bool = True  # enable-access-log
    # How its requests are traced with --otlp-endpoint; None: never (enable-opentelemetry).
    tracing: Tracing | None = TRACED
    # The next route on the same host and path, tried when `match` does not hold.
    next: Route | None = None
    # (host, source namespace, source name, service, path, canary): metric labels, built
    # once; canary is '' here and names the canary's upstream in `canary_labels`, which
    # count the requests the canary serves (ingress-nginx's `canary` label).
    labels: tuple[str, str, str, str, str, str] = field(init=False, repr=False, compare=False)
    canary_labels: tuple[str, str, str, str, str, str] = field(
        init=False, repr=False, compare=False)
    # No filters, split, canary, special HTTPS, error pages, ExternalName or HTTP/2 pods:
    # the proxy's fast path. Built once.
    plain: bool = field(init=False, repr=False, compare=False)
    # Response statuses not passed to the client (error pages, retries). Built once.
    intercepts: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        labels = (self.host, self.source.namespace, self.source.name, self.backend.service,
                  self.path, "")
        object.__setattr__(self, "labels", labels)
        canary = self.canary.backend if self.canary is not None else None
        object.__setattr__(self, "canary_labels", labels if canary is None else (
            *labels[:5], f"{canary.namespace}-{canary.service}-{canary.port}"))
        plain = (not self.filters and not self.response_filters and self.split is None
                 and self.canary is None and self.ssl_redirect == DEFAULT_SSL_REDIRECT
                 and self.errors is None and not self.backend.external_name
                 and self.backend.protocol not in H2_PROTOCOLS)
        object.__setattr__(self, "plain", plain)
        retry = self.upstream.retry
        intercepts = retry.statuses if retry is not None else _NO_STATUSES
        if self.errors is not None:
            intercepts |= self.errors.codes
        object.__setattr__(self, "intercepts", intercepts)
