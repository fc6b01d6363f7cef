"""Collectors rendered by prometheus_client, asserted line by line."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from ingress.model import Backend, Certificate, ObjectRef, PathType, Route, RoutingTable
from ingress.observability.metrics import (
    CertificateCollector,
    ProxyStatsCollector,
    ReconcilerCollector,
    create_registry,
)
from ingress.observability.stats import ProxyStats
from ingress.pipeline import Reconciler
from ingress.settings import BuildSettings

ROUTE = Route(
    path="/", path_type=PathType.PREFIX, host="hello.local",
    backend=Backend("default", "hello", "http", ()),
    source=ObjectRef("Ingress", "default", "hello"),
)


def render(*collectors: object) -> list[str]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    return [line for line in generate_latest(registry).decode().splitlines()
            if not line.startswith("#")]


def test_proxy_stats() -> None:
    stats = ProxyStats()
    stats.request_done(ROUTE, 200)
    stats.request_done(ROUTE, 204)
    stats.request_done(ROUTE, 503)
    stats.request_done(None, 404)
    stats.upstream_responded(ROUTE, 0.004)
    stats.upstream_responded(ROUTE, 0.004)
    stats.upstream_responded(ROUTE, 3.0)
    stats.upstream_failed("default/hello:http", "connect")
    stats.retries = 1
    stats.active_connections = 5
    stats.open_tunnels = 2
    stats.tls_handshakes = 7
    lines = render(ProxyStatsCollector(lambda: stats))
    route = 'host="hello.local",ingress="hello",namespace="default",service="hello"'

    def bucket(le: str, count: float) -> str:
        # prometheus_client writes labels sorted by name, so `le` lands mid-way.
        return ('portico_upstream_response_seconds_bucket{host="hello.local",ingress="hello",'
                f'le="{le}",namespace="default",service="hello"}} {count}')

    assert lines == [
        f'portico_requests_total{{{route},status="2xx"}} 2.0',
        f'portico_requests_total{{{route},status="5xx"}} 1.0',
        'portico_requests_total{host="",ingress="",namespace="",service="",status="4xx"} 1.0',
        bucket("0.001", 0.0),
        bucket("0.0025", 0.0),
        bucket("0.005", 2.0),
        *(bucket(le, 2.0) for le in ("0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5")),
        *(bucket(le, 3.0) for le in ("5.0", "10.0", "+Inf")),
        f"portico_upstream_response_seconds_count{{{route}}} 3.0",
        f"portico_upstream_response_seconds_sum{{{route}}} 3.008",
        'portico_upstream_errors_total{backend="default/hello:http",reason="connect"} 1.0',
        "portico_upstream_retries_total 1.0",
        "portico_active_connections 5.0",
        "portico_open_tunnels 2.0",
        "portico_tls_handshakes_total 7.0",
    ]


def test_stats_are_read_on_every_scrape() -> None:
    stats = ProxyStats()
    registry = CollectorRegistry()
    registry.register(ProxyStatsCollector(lambda: stats))
    assert b"portico_active_connections 0.0" in generate_latest(registry)
    stats.active_connections = 3
    assert b"portico_active_connections 3.0" in generate_latest(registry)


OBJECTS = [
    {"kind": "IngressClass", "metadata": {"name": "portico"},
     "spec": {"controller": "portico.dev/ingress-controller"}},
    {"kind": "Service", "metadata": {"name": "hello", "namespace": "default"},
     "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8081}]}},
    {"kind": "Ingress", "metadata": {"name": "good", "namespace": "default"},
     "spec": {"ingressClassName": "portico", "rules": [{"host": "a.local", "http": {"paths": [
         {"path": "/", "pathType": "Prefix",
          "backend": {"service": {"name": "hello", "port": {"number": 80}}}}]}}]}},
    {"kind": "Ingress", "metadata": {"name": "bad", "namespace": "default"},
     "spec": {"ingressClassName": "portico", "rules": [{"host": "b.local", "http": {"paths": [
         {"path": "no-slash", "pathType": "Prefix",
          "backend": {"service": {"name": "hello", "port": {"number": 80}}}}]}}]}},
    {"kind": "Ingress", "metadata": {"name": "theirs", "namespace": "default"},
     "spec": {"ingressClassName": "nginx"}},
]


def test_reconciler_before_and_after_a_build() -> None:
    reconciler = Reconciler(BuildSettings(), [])
    collector = ReconcilerCollector(reconciler)
    assert render(collector) == [
        "portico_config_rebuilds_total 0.0",
        "portico_config_last_rebuild_duration_seconds 0.0",
        "portico_config_last_success_timestamp_seconds 0.0",
        "portico_config_event_to_swap_seconds 0.0",
        "portico_config_generation 0.0",
        "portico_ingresses_owned 0.0",
        "portico_ingresses_with_problems 0.0",
    ]
    for body in OBJECTS:
        reconciler.store.upsert(body)
    reconciler.rebuild()
    reconciler.rebuild()
    lines = dict(line.rsplit(" ", 1) for line in render(collector))
    assert lines["portico_config_rebuilds_total"] == "2.0"
    assert lines["portico_config_generation"] == "2.0"
    assert lines["portico_ingresses_owned"] == "2.0"
    assert lines["portico_ingresses_with_problems"] == "1.0"
    assert float(lines["portico_config_last_rebuild_duration_seconds"]) > 0
    # The upserts were pending when the first build ran: their wait was measured.
    assert 0 < float(lines["portico_config_event_to_swap_seconds"]) < 5
    assert float(lines["portico_config_last_success_timestamp_seconds"]) == (
        reconciler.last_success_at)


def certificate(namespace: str, name: str, not_after: float) -> Certificate:
    return Certificate(ObjectRef("Secret", namespace, name), b"", b"", (), not_after, name)


def test_certificate_expiry_per_host() -> None:
    shop = certificate("shop", "shop-tls", 1800000000)
    table = RoutingTable(
        certificates={"shop.example": shop, "www.shop.example": shop},
        wildcard_certificates={"apps.example": certificate("infra", "wild", 1700000000)},
        default_certificate=certificate("", "portico-default", 1900000000),
    )
    assert render(CertificateCollector(lambda: table)) == [
        'portico_ssl_expire_time_seconds{host="shop.example",secret="shop/shop-tls"} 1.8e+09',
        'portico_ssl_expire_time_seconds{host="www.shop.example",secret="shop/shop-tls"} 1.8e+09',
        'portico_ssl_expire_time_seconds{host="*.apps.example",secret="infra/wild"} 1.7e+09',
        'portico_ssl_expire_time_seconds{host="_default",secret="portico-default"} 1.9e+09',
    ]


class OperatorCounters:
    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("portico_leader", "1 while this replica leads.", value=1)


def test_registry_holds_every_collector_and_the_extra_ones() -> None:
    registry = create_registry(ProxyStats, Reconciler(BuildSettings(), []),
                               extra=[OperatorCounters()])
    text = generate_latest(registry).decode()
    for name in ("portico_requests_total", "portico_config_rebuilds_total",
                 "portico_ssl_expire_time_seconds", "portico_leader 1.0"):
        assert name in text
