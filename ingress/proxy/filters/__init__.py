"""The proxy side of route filters: one runner per filter type, grouped like the model."""

from ingress.proxy.filters import (
    basicauth,
    blocking,
    clientcert,
    core,
    cors,
    extauth,
    gateway,
    headers,
    mirror,
    ratelimit,
    responses,
    routing,
    satisfy,
)
from ingress.proxy.filters.registry import (
    ANSWERED,
    NEXT,
    SUSPENDED,
    FilterHost,
    FilterServices,
    apply_response_filters,
    missing_runners,
    run_request_filters,
)

# Importing a group module registers its runners.
GROUPS = (
    core, routing, gateway, responses, cors, ratelimit, basicauth, extauth, satisfy, clientcert,
    mirror, blocking, headers,
)

__all__ = [
    "ANSWERED",
    "GROUPS",
    "NEXT",
    "SUSPENDED",
    "FilterHost",
    "FilterServices",
    "apply_response_filters",
    "missing_runners",
    "run_request_filters",
]
