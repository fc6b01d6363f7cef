"""ingress-nginx's per-request families, from the proxy's series, on scrape.

Names, types, label names and bucket bounds are those of ingress-nginx's
socket collector (`internal/ingress/metric/collectors/socket.go`): every
family is labelled `status, method, path, namespace, ingress, service,
canary` (+ `host` with `--metrics-per-host`), where `path` is the Ingress
path and `host` the Ingress rule's host (as written, `*.example.com` for a
wildcard), so cardinality is bounded by the routes, not by the requests.
Requests that matched no route have empty `ingress`, `service` and `path`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import Metric

from ingress.observability.families import Families, bound_labels
from ingress.observability.stats import (
    CONNECT_TIME,
    HEADER_TIME,
    LENGTH_BUCKETS,
    REQUEST_SIZE,
    REQUEST_TIME,
    RESPONSE_SIZE,
    RESPONSE_TIME,
    SIZE_BUCKETS,
    TIME_BUCKETS,
    Histogram,
    ProxyStats,
    RequestSeries,
    RouteLabels,
)

_LABELS = ("status", "method", "path", "namespace", "ingress", "service", "canary")

# (family, help, recorded histogram, exported bounds); `requests` is REQUEST_TIME's count.
_HISTOGRAMS: tuple[tuple[str, str, Histogram, tuple[float, ...]], ...] = (
    ("connect_duration_seconds",
     "The time spent on establishing a connection with the upstream server",
     CONNECT_TIME, TIME_BUCKETS),
    ("header_duration_seconds",
     "The time spent on receiving first header from the upstream server",
     HEADER_TIME, TIME_BUCKETS),
    ("response_duration_seconds",
     "The time spent on receiving the response from the upstream server",
     RESPONSE_TIME, TIME_BUCKETS),
    ("request_duration_seconds", "The request processing time in seconds",
     REQUEST_TIME, TIME_BUCKETS),
    ("response_size",
     "The response length (including request line, header, and request body)",
     RESPONSE_SIZE, LENGTH_BUCKETS),
    ("request_size",
     "The request length (including request line, header, and request body)",
     REQUEST_SIZE, LENGTH_BUCKETS),
    ("bytes_sent", "DEPRECATED The number of bytes sent to a client",
     RESPONSE_SIZE, SIZE_BUCKETS),
)
_UPSTREAM = (CONNECT_TIME, HEADER_TIME, RESPONSE_TIME)


class RequestCollector:
    def __init__(self, get_stats: Callable[[], ProxyStats], families: Families,
                 per_host: bool) -> None:
        self._get_stats = get_stats
        self._families = families
        self._labels = (*_LABELS, "host") if per_host else _LABELS
        self._per_host = per_host

    def collect(self) -> Iterator[Metric]:
        families = self._families
        series = self._grouped(self._get_stats())
        requests = families.new("requests", "The total number of client requests", "counter")
        for values, one in series.items():
            families.sample(requests, "", self._labels, values, one.requests)
        yield requests
        for name, help_text, histogram, bounds in _HISTOGRAMS:
            metric = families.new(name, help_text, "histogram")
            le = bound_labels(bounds)
            upstream = histogram in _UPSTREAM
            for values, one in series.items():
                if upstream and not one.upstream_requests:
                    continue  # ingress-nginx observes upstream times only when there was one
                families.histogram(metric, self._labels, values, le,
                                   histogram.cumulative(one.counts, bounds),
                                   one.sums[histogram.total])
            yield metric

    def _grouped(self, stats: ProxyStats) -> dict[tuple[str, ...], RequestSeries]:
        """Series by exported label values (several merge when `host` is not exported)."""
        grouped: dict[tuple[str, ...], RequestSeries] = {}
        for (route, status, method), one in stats.series.items():
            values = _values(route, status, method, self._per_host)
            found = grouped.get(values)
            if found is None:
                grouped[values] = found = RequestSeries()
            found.add(one)
        return grouped


def _values(route: RouteLabels, status: int, method: bytes, per_host: bool) -> tuple[str, ...]:
    host, namespace, ingress, service, path, canary = route
    values = (str(status), method.decode("latin-1"), path, namespace, ingress, service, canary)
    return (*values, host) if per_host else values
