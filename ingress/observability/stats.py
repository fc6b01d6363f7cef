"""Per-request counters of the data plane, kept as plain ints.

The proxy touches these on every request, so they are dict increments with
tuple keys, never label formatting. The admin endpoint turns them into
Prometheus metrics on scrape; with several workers each worker ships
`snapshot()` to the supervisor, which adds them up with `merge`.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from ingress.model import Route

# Upstream latency histogram bounds, seconds (Prometheus `le` labels).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# (host, ingress namespace, ingress name, service) of a route; all '' when no route matched.
RouteLabels = tuple[str, str, str, str]
NO_ROUTE: RouteLabels = ("", "", "", "")


@dataclass(slots=True)
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def add(self, other: Histogram) -> None:
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.total += other.total


@dataclass(slots=True)
class ProxyStats:
    # (route labels, status class "2xx") → count
    requests: dict[tuple[RouteLabels, str], int] = field(default_factory=dict)
    # route labels → upstream response-header latency
    upstream_latency: dict[RouteLabels, Histogram] = field(default_factory=dict)
    # (namespace/service:port, reason) → count of failed upstream attempts
    upstream_errors: dict[tuple[str, str], int] = field(default_factory=dict)
    retries: int = 0
    active_connections: int = 0
    open_tunnels: int = 0
    tls_handshakes: int = 0

    def request_done(self, route: Route | None, status: int) -> None:
        labels = NO_ROUTE if route is None else route.labels
        key = (labels, _STATUS_CLASS[status // 100 if 0 < status < 600 else 0])
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1

    def upstream_responded(self, route: Route, seconds: float) -> None:
        labels = route.labels
        hist = self.upstream_latency.get(labels)
        if hist is None:
            hist = self.upstream_latency[labels] = Histogram()
        hist.observe(seconds)

    def upstream_failed(self, backend_key: str, reason: str) -> None:
        key = (backend_key, reason)
        self.upstream_errors[key] = self.upstream_errors.get(key, 0) + 1

    def merge(self, other: ProxyStats) -> None:
        """Add another worker's counters into these (gauges add up too)."""
        for rkey, n in other.requests.items():
            self.requests[rkey] = self.requests.get(rkey, 0) + n
        for labels, hist in other.upstream_latency.items():
            self.upstream_latency.setdefault(labels, Histogram()).add(hist)
        for ekey, n in other.upstream_errors.items():
            self.upstream_errors[ekey] = self.upstream_errors.get(ekey, 0) + n
        self.retries += other.retries
        self.active_connections += other.active_connections
        self.open_tunnels += other.open_tunnels
        self.tls_handshakes += other.tls_handshakes


_STATUS_CLASS = ("unknown", "1xx", "2xx", "3xx", "4xx", "5xx")
