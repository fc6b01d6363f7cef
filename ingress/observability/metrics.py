"""Prometheus metrics, computed on scrape from the state the process already keeps.

Nothing here sits on the request path: the proxy bumps plain ints in
`ProxyStats`, the reconciler keeps its counters, the routing table holds the
certificates, and these collectors read them when `/metrics` is fetched.
Portico's own families are `portico_*`; ingress-nginx's, with its names,
are built by `request_metrics`, `controller_metrics` and `process`.
Each process builds its own `CollectorRegistry` (never the global one), so
tests and several instances in one interpreter do not collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from ingress.model import EMPTY_TABLE, RoutingTable
from ingress.observability.controller_metrics import (
    ControllerCollector,
    ReloadState,
    served_certificates,
)
from ingress.observability.families import Families
from ingress.observability.process import ProcessCollector
from ingress.observability.request_metrics import RequestCollector
from ingress.observability.stats import HEADER_TIME, UPSTREAM_BUCKETS, ProxyStats, RequestSeries

ROUTE_LABELS = ["host", "namespace", "ingress", "service"]
_BUCKET_BOUNDS = [str(bound) for bound in UPSTREAM_BUCKETS]
_STATUS_CLASS = ("unknown", "1xx", "2xx", "3xx", "4xx", "5xx")


class ProxyStatsCollector:
    """Portico's own request families: per route and status class, derived from the series."""

    def __init__(self, get_stats: Callable[[], ProxyStats]) -> None:
        self._get_stats = get_stats

    def collect(self) -> Iterator[Metric]:
        stats = self._get_stats()
        counts: dict[tuple[str, str, str, str, str], int] = {}
        upstream: dict[tuple[str, str, str, str], RequestSeries] = {}
        for (route, status, _), series in stats.series.items():
            host, namespace, ingress, service, _path, _canary = route
            key = (host, namespace, ingress, service,
                   _STATUS_CLASS[status // 100 if 0 < status < 600 else 0])
            counts[key] = counts.get(key, 0) + series.requests
            if series.upstream_requests:
                upstream.setdefault((host, namespace, ingress, service),
                                    RequestSeries()).add(series)
        requests = CounterMetricFamily(
            "portico_requests", "Requests answered, by route and status class.",
            labels=[*ROUTE_LABELS, "status"])
        for key, count in counts.items():
            requests.add_metric(list(key), count)
        yield requests

        latency = HistogramMetricFamily(
            "portico_upstream_response_seconds",
            "Time from the start of the upstream attempt (connecting, if it had to) to its "
            "response headers.",
            labels=ROUTE_LABELS)
        for labels, series in upstream.items():
            cumulative = HEADER_TIME.cumulative(series.counts, UPSTREAM_BUCKETS)
            latency.add_metric(list(labels), list(zip([*_BUCKET_BOUNDS, "+Inf"], cumulative,
                                                      strict=True)),
                               series.sums[HEADER_TIME.total])
        yield latency

        errors = CounterMetricFamily(
            "portico_upstream_errors", "Failed upstream attempts, by backend and reason.",
            labels=["backend", "reason"])
        for (backend, reason), count in stats.upstream_errors.items():
            errors.add_metric([backend, reason], count)
        yield errors

        retries = CounterMetricFamily(
            "portico_upstream_retries", "Requests sent to an upstream again, by reason.",
            labels=["reason"])
        for reason, count in stats.retries.items():
            retries.add_metric([reason], count)
        yield retries
        mirrored = CounterMetricFamily(
            "portico_mirror_requests", "Copies of requests sent to mirrors, by outcome "
            "(answered, failed: no answer, dropped: too many copies or a mirror too slow).",
            labels=["outcome"])
        for outcome, count in stats.mirrored.items():
            mirrored.add_metric([outcome], count)
        yield mirrored
        closed = CounterMetricFamily(
            "portico_http2_connections_closed",
            "HTTP/2 client connections closed by Portico for abuse or protocol errors, by reason.",
            labels=["reason"])
        for reason, count in stats.http2_closed.items():
            closed.add_metric([reason], count)
        yield closed
        yield GaugeMetricFamily(
            "portico_active_connections", "Open client connections.",
            value=stats.active_connections)
        yield GaugeMetricFamily(
            "portico_accept_paused",
            "Workers not accepting connections because --max-connections is reached.",
            value=stats.accept_paused)
        yield CounterMetricFamily(
            "portico_connection_limit_reached",
            "Times a worker reached --max-connections and stopped accepting.",
            value=stats.connection_limit_reached)
        yield GaugeMetricFamily(
            "portico_open_tunnels",
            "Open WebSocket/upgrade tunnels and TLS passthrough connections.",
            value=stats.open_tunnels)
        yield CounterMetricFamily(
            "portico_tls_handshakes", "Completed TLS handshakes.", value=stats.tls_handshakes)
        yield CounterMetricFamily(
            "portico_access_log_lines", "Access log lines written.",
            value=stats.access_log_lines)
        yield CounterMetricFamily(
            "portico_access_log_dropped",
            "Access log lines dropped because the log output could not keep up.",
            value=stats.access_log_dropped)
        yield CounterMetricFamily(
            "portico_trace_requests", "Sampled requests queued for OTLP export.",
            value=stats.spans_queued)
        yield CounterMetricFamily(
            "portico_trace_requests_dropped",
            "Sampled requests not exported because the exporter could not keep up.",
            value=stats.spans_dropped)


class ReconcilerCollector:
    def __init__(self, reconciler: ReloadState) -> None:
        self._reconciler = reconciler

    def collect(self) -> Iterator[Metric]:
        reconciler = self._reconciler
        result = reconciler.result
        yield CounterMetricFamily(
            "portico_config_rebuilds", "Routing table builds.", value=reconciler.generation)
        yield CounterMetricFamily(
            "portico_endpoint_updates",
            "EndpointSlice changes sent to the data plane without a rebuild.",
            value=reconciler.endpoint_updates)
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
        expiry = GaugeMetricFamily(
            "portico_ssl_expire_time_seconds",
            "notAfter of the certificate served for a host (epoch seconds).",
            labels=["host", "secret"])
        for host, cert in served_certificates(self._get_table()):
            # The generated default certificate has a name but no namespace.
            secret = "/".join(filter(None, (cert.secret.namespace, cert.secret.name)))
            expiry.add_metric([host, secret], cert.not_after)
        yield expiry


def create_registry(
    get_stats: Callable[[], ProxyStats],
    reconciler: ReloadState,
    families: Families,
    *,
    per_host: bool = True,
    pids: Callable[[], Sequence[int]] = lambda: (),
    leader: Callable[[], bool] | None = None,
    election_id: str = "",
    extra: Sequence[Collector] = (),
) -> CollectorRegistry:
    """The process's registry: Portico's families, ingress-nginx's, and `extra` (operator).

    Certificates are those of the table last published, the reconciler's latest
    result; process figures are those of `pids`, the processes serving traffic.
    """

    def published_table() -> RoutingTable:
        result = reconciler.result
        return result.table if result is not None else EMPTY_TABLE

    registry = CollectorRegistry()
    collectors: list[Collector] = [
        ProxyStatsCollector(get_stats), ReconcilerCollector(reconciler),
        CertificateCollector(published_table),
        RequestCollector(get_stats, families, per_host),
        ControllerCollector(reconciler, families, leader, election_id),
        ProcessCollector(pids, get_stats, families),
        *extra,
    ]
    for collector in collectors:
        registry.register(collector)
    return registry
