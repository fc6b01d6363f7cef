"""Prometheus metrics, computed on scrape from the state the process already keeps.

Nothing here sits on the request path: the proxy bumps plain ints in
`ProxyStats`, the reconciler keeps its counters, the routing table holds the
certificates, and these collectors read them when `/metrics` is fetched.
Each process builds its own `CollectorRegistry` (never the global one), so
tests and several instances in one interpreter do not collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from ingress.build.result import BuildResult
from ingress.model import EMPTY_TABLE, Certificate, RoutingTable
from ingress.observability.stats import LATENCY_BUCKETS, Histogram, ProxyStats

ROUTE_LABELS = ["host", "namespace", "ingress", "service"]
_BUCKET_BOUNDS = [str(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]


class ProxyStatsCollector:
    def __init__(self, get_stats: Callable[[], ProxyStats]) -> None:
        self._get_stats = get_stats

    def collect(self) -> Iterator[Metric]:
        stats = self._get_stats()
        requests = CounterMetricFamily(
            "portico_requests", "Requests answered, by route and status class.",
            labels=[*ROUTE_LABELS, "status"])
        for (route, status), count in stats.requests.items():
            requests.add_metric([*route, status], count)
        yield requests

        latency = HistogramMetricFamily(
            "portico_upstream_response_seconds",
            "Time from sending a request upstream to its response headers.",
            labels=ROUTE_LABELS)
        for route, histogram in stats.upstream_latency.items():
            latency.add_metric(list(route), _cumulative(histogram), histogram.total)
        yield latency

        errors = CounterMetricFamily(
            "portico_upstream_errors", "Failed upstream attempts, by backend and reason.",
            labels=["backend", "reason"])
        for (backend, reason), count in stats.upstream_errors.items():
            errors.add_metric([backend, reason], count)
        yield errors

        yield CounterMetricFamily(
            "portico_upstream_retries", "Requests retried on another endpoint.",
            value=stats.retries)
        yield GaugeMetricFamily(
            "portico_active_connections", "Open client connections.",
            value=stats.active_connections)
        yield GaugeMetricFamily(
            "portico_open_tunnels", "Open WebSocket/upgrade tunnels.", value=stats.open_tunnels)
        yield CounterMetricFamily(
            "portico_tls_handshakes", "Completed TLS handshakes.", value=stats.tls_handshakes)


def _cumulative(histogram: Histogram) -> list[tuple[str, float]]:
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(_BUCKET_BOUNDS, histogram.counts, strict=True):
        running += count
        buckets.append((bound, running))
    return buckets


class ReconcilerState(Protocol):
    """What `Reconciler` exposes about its builds."""

    @property
    def generation(self) -> int: ...  # builds so far

    @property
    def last_build_seconds(self) -> float: ...

    @property
    def last_success_at(self) -> float: ...  # epoch seconds, 0 before the first build

    @property
    def result(self) -> BuildResult | None: ...

    @property
    def last_event_to_swap_seconds(self) -> float: ...


class ReconcilerCollector:
    def __init__(self, reconciler: ReconcilerState) -> None:
        self._reconciler = reconciler

    def collect(self) -> Iterator[Metric]:
        reconciler = self._reconciler
        result = reconciler.result
        yield CounterMetricFamily(
            "portico_config_rebuilds", "Routing table builds.", value=reconciler.generation)
        yield GaugeMetricFamily(
            "portico_config_last_rebuild_duration_seconds", "Duration of the last build.",
            value=reconciler.last_build_seconds)
        yield GaugeMetricFamily(
            "portico_config_last_success_timestamp_seconds",
            "When the last build finished (0: none yet).", value=reconciler.last_success_at)
        yield GaugeMetricFamily(
            "portico_config_event_to_swap_seconds",
            "From the first change of the last batch to its table being published.",
            value=reconciler.last_event_to_swap_seconds)
        yield GaugeMetricFamily(
            "portico_config_generation", "Generation of the routing table being published.",
            value=result.table.generation if result is not None else 0)
        yield GaugeMetricFamily(
            "portico_ingresses_owned", "Ingresses of this controller's class.",
            value=len(result.owned) if result is not None else 0)
        troubled = {p.obj for p in result.problems if p.obj.kind == "Ingress"} if result else set()
        yield GaugeMetricFamily(
            "portico_ingresses_with_problems",
            "Ingresses with at least one invalid part (skipped; see their Events).",
            value=len(troubled))


class CertificateCollector:
    def __init__(self, get_table: Callable[[], RoutingTable]) -> None:
        self._get_table = get_table

    def collect(self) -> Iterator[Metric]:
        table = self._get_table()
        expiry = GaugeMetricFamily(
            "portico_ssl_expire_time_seconds",
            "notAfter of the certificate served for a host (epoch seconds).",
            labels=["host", "secret"])
        served: Iterable[tuple[str, Certificate]] = [
            *table.certificates.items(),
            *((f"*.{suffix}", cert) for suffix, cert in table.wildcard_certificates.items()),
        ]
        if table.default_certificate is not None:
            served = [*served, ("_default", table.default_certificate)]
        for host, cert in served:
            # The generated default certificate has a name but no namespace.
            secret = "/".join(filter(None, (cert.secret.namespace, cert.secret.name)))
            expiry.add_metric([host, secret], cert.not_after)
        yield expiry


def create_registry(
    get_stats: Callable[[], ProxyStats],
    reconciler: ReconcilerState,
    extra: Sequence[Collector] = (),
) -> CollectorRegistry:
    """The process's registry: proxy, config and certificate metrics, plus `extra` (operator).

    Certificates are those of the table last published, the reconciler's latest result.
    """

    def published_table() -> RoutingTable:
        result = reconciler.result
        return result.table if result is not None else EMPTY_TABLE

    registry = CollectorRegistry()
    collectors: list[Collector] = [
        ProxyStatsCollector(get_stats), ReconcilerCollector(reconciler),
        CertificateCollector(published_table), *extra,
    ]
    for collector in collectors:
        registry.register(collector)
    return registry
