"""The routing table: what the builder produces and the proxy reads.

Everything here is immutable. A rebuild produces a new `RoutingTable`; the
proxy swaps one reference, so a request keeps the table it started with.
Mappings are plain dicts that nothing mutates after `build()` returns (they
are cheaper to look up than `MappingProxyType` and pickle for the workers).
"""

from ingress.model.backends import (
    NO_ENDPOINTS,
    Backend,
    BackendSplit,
    Balancer,
    Endpoint,
    EndpointSet,
    WeightedBackend,
)
from ingress.model.balancing import HashKey, HashPart, HashSource, SessionCookie
from ingress.model.canary import Canary, CanaryRules, HeaderRule
from ingress.model.error_pages import ErrorPages
from ingress.model.matches import (
    NO_REQUEST,
    HeaderMatch,
    QueryMatch,
    Regex,
    RequestView,
    RouteMatch,
    ValueMatch,
    compile_regex,
)
from ingress.model.objects import ObjectRef, Problem
from ingress.model.routes import (
    DEFAULT_SSL_REDIRECT,
    DEFAULT_UPSTREAM,
    PathType,
    Route,
    SslRedirect,
    UpstreamPolicy,
)
from ingress.model.servers import ServerTls
from ingress.model.table import (
    EMPTY_TABLE,
    Certificate,
    RoutingTable,
    VirtualHost,
    normalize_prefix,
)
from ingress.model.tracing import TRACED, Tracing
from ingress.model.upstream import (
    DEFAULT_RETRY,
    H2_PROTOCOLS,
    BackendProtocol,
    Buffering,
    RetryPolicy,
    UpstreamTls,
)

__all__ = [
    "DEFAULT_RETRY",
    "DEFAULT_SSL_REDIRECT",
    "DEFAULT_UPSTREAM",
    "EMPTY_TABLE",
    "H2_PROTOCOLS",
    "NO_ENDPOINTS",
    "NO_REQUEST",
    "TRACED",
    "Backend",
    "BackendProtocol",
    "BackendSplit",
    "Balancer",
    "Buffering",
    "Canary",
    "CanaryRules",
    "Certificate",
    "Endpoint",
    "EndpointSet",
    "ErrorPages",
    "HashKey",
    "HashPart",
    "HashSource",
    "HeaderMatch",
    "HeaderRule",
    "ObjectRef",
    "PathType",
    "Problem",
    "QueryMatch",
    "Regex",
    "RequestView",
    "RetryPolicy",
    "Route",
    "RouteMatch",
    "RoutingTable",
    "ServerTls",
    "SessionCookie",
    "SslRedirect",
    "Tracing",
    "UpstreamPolicy",
    "UpstreamTls",
    "ValueMatch",
    "VirtualHost",
    "WeightedBackend",
    "compile_regex",
    "normalize_prefix",
]
