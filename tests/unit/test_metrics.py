"""Collectors rendered by Portico's exposition, asserted line by line.

The ingress-nginx families are checked against what ingress-nginx's own
collectors (`internal/ingress/metric/collectors/`) declare: names, types,
label names, bucket bounds and the constant labels.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator

import pytest
import trustme
from cryptography import x509
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from ingress.model import Backend, Certificate, ObjectRef, PathType, Route, RoutingTable
from ingress.observability import admission_metrics
from ingress.observability.admission_metrics import (
    AdmissionCheck,
    AdmissionCollector,
    AdmissionStats,
)
from ingress.observability.config_hash import table_hash
from ingress.observability.controller_metrics import ControllerCollector
from ingress.observability.exposition import render as render_text
from ingress.observability.families import Families
from ingress.observability.metrics import (
    CertificateCollector,
    ProxyStatsCollector,
    ReconcilerCollector,
    create_registry,
)
from ingress.observability.process import ProcessCollector
from ingress.observability.request_metrics import RequestCollector
from ingress.observability.stats import NO_ROUTE, ProxyStats
from ingress.pipeline import Reconciler
from ingress.settings import BuildSettings

ROUTE = Route(
    path="/api", path_type=PathType.PREFIX, host="hello.local",
    backend=Backend("default", "hello", "http"),
    source=ObjectRef("Ingress", "default", "hello"),
)
FAMILIES = Families("ingress", "portico.dev/ingress-controller", "portico-0")
CONST = ('controller_namespace="ingress",controller_class="portico.dev/ingress-controller",'
         'controller_pod="portico-0"')


def render(*collectors: object) -> list[str]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    return [line for line in render_text(registry).decode().splitlines()
            if not line.startswith("#")]


def types(*collectors: object) -> dict[str, str]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    found = re.findall(r"^# TYPE (\S+) (\S+)$", render_text(registry).decode(), re.M)
    return dict(found)


def traffic() -> ProxyStats:
    stats = ProxyStats()
    for seconds in (0.004, 0.004, 3.0):
        series = stats.request_done(ROUTE.labels, 200, b"GET", seconds, 55, 150_000)
        stats.upstream_timed(series, 0.0, seconds / 2, seconds)
    stats.request_done(ROUTE.labels, 503, b"POST", 0.001, 20, 90)  # answered by Portico
    stats.request_done(NO_ROUTE, 404, b"GET", 0.0001, 30, 120)
    return stats


def test_portico_families_are_derived_from_the_series() -> None:
    stats = traffic()
    stats.upstream_failed("default/hello:http", "connect")
    stats.retried("stale_connection")
    stats.active_connections = 5
    stats.accept_paused = 1
    stats.connection_limit_reached = 3
    stats.open_tunnels = 2
    stats.tls_handshakes = 7
    stats.access_log_lines, stats.access_log_dropped = 9, 3
    stats.spans_queued, stats.spans_dropped = 4, 1
    lines = render(ProxyStatsCollector(lambda: stats))
    route = 'host="hello.local",namespace="default",ingress="hello",service="hello"'

    def bucket(le: str, count: int) -> str:
        return f'portico_upstream_response_seconds_bucket{{{route},le="{le}"}} {count}'

    assert lines == [
        f'portico_requests_total{{{route},status="2xx"}} 3',
        f'portico_requests_total{{{route},status="5xx"}} 1',
        'portico_requests_total{host="",namespace="",ingress="",service="",status="4xx"} 1',
        bucket("0.001", 0),
        bucket("0.0025", 2),
        *(bucket(le, 2) for le in ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                                   "1.0")),
        *(bucket(le, 3) for le in ("2.5", "5.0", "10.0", "+Inf")),
        f"portico_upstream_response_seconds_count{{{route}}} 3",
        f"portico_upstream_response_seconds_sum{{{route}}} 1.504",
        'portico_upstream_errors_total{backend="default/hello:http",reason="connect"} 1',
        'portico_upstream_retries_total{reason="stale_connection"} 1',
        "portico_active_connections 5",
        "portico_accept_paused 1",
        "portico_connection_limit_reached_total 3",
        "portico_open_tunnels 2",
        "portico_tls_handshakes_total 7",
        "portico_access_log_lines_total 9",
        "portico_access_log_dropped_total 3",
        "portico_trace_requests_total 4",
        "portico_trace_requests_dropped_total 1",
    ]


def test_stats_are_read_on_every_scrape() -> None:
    stats = ProxyStats()
    collector = ProxyStatsCollector(lambda: stats)
    assert "portico_active_connections 0" in render(collector)
    stats.active_connections = 3
    assert "portico_active_connections 3" in render(collector)


REQUEST_FAMILIES = {
    # ingress-nginx socket.go: name → (type, buckets)
    "nginx_ingress_controller_requests": ("counter", None),
    "nginx_ingress_controller_connect_duration_seconds": (
        "histogram", "0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10"),
    "nginx_ingress_controller_header_duration_seconds": (
        "histogram", "0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10"),
    "nginx_ingress_controller_response_duration_seconds": (
        "histogram", "0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10"),
    "nginx_ingress_controller_request_duration_seconds": (
        "histogram", "0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10"),
    # --length-buckets: LinearBuckets(10, 10, 10)
    "nginx_ingress_controller_request_size": ("histogram", "10 20 30 40 50 60 70 80 90 100"),
    "nginx_ingress_controller_response_size": ("histogram", "10 20 30 40 50 60 70 80 90 100"),
    # --size-buckets: ExponentialBuckets(10, 10, 7)
    "nginx_ingress_controller_bytes_sent": (
        "histogram", "10 100 1000 10000 100000 1e+06 1e+07"),
}
REQUEST_LABELS = ["status", "method", "path", "namespace", "ingress", "service", "canary"]


def labels_of(line: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', line.partition("{")[2].rpartition("}")[0]))


def test_request_families_have_ingress_nginx_names_types_labels_and_buckets() -> None:
    collector = RequestCollector(traffic, FAMILIES, per_host=True)
    assert types(collector) == {name: typ for name, (typ, _) in REQUEST_FAMILIES.items()}
    lines = render(collector)
    for name, (_, buckets) in REQUEST_FAMILIES.items():
        samples = [line for line in lines if line.startswith(name + "{")
                   or line.startswith(name + "_")]
        assert samples, name
        for line in samples:
            assert list(labels_of(line)) == [
                "controller_namespace", "controller_class", "controller_pod",
                *REQUEST_LABELS, "host", *(["le"] if "_bucket{" in line else [])], line
        if buckets is not None:
            def series(line: str) -> dict[str, str]:
                return {k: v for k, v in labels_of(line).items() if k != "le"}

            les = [labels_of(line)["le"] for line in samples
                   if "_bucket{" in line and series(line) == series(samples[0])]
            assert les == [*buckets.split(), "+Inf"], name


def test_request_counts_and_histograms() -> None:
    lines = render(RequestCollector(traffic, FAMILIES, per_host=True))
    hello = (f'{CONST},status="200",method="GET",path="/api",namespace="default",'
             'ingress="hello",service="hello",canary="",host="hello.local"')
    assert f"nginx_ingress_controller_requests{{{hello}}} 3" in lines
    no_route = (f'{CONST},status="404",method="GET",path="",namespace="",ingress="",service="",'
                'canary="",host=""')
    assert f"nginx_ingress_controller_requests{{{no_route}}} 1" in lines
    assert f'nginx_ingress_controller_request_duration_seconds_bucket{{{hello},le="0.005"}} 2' \
        in lines
    assert f"nginx_ingress_controller_request_duration_seconds_sum{{{hello}}} 3.008" in lines
    assert f'nginx_ingress_controller_response_size_bucket{{{hello},le="100"}} 0' in lines
    assert f'nginx_ingress_controller_bytes_sent_bucket{{{hello},le="1e+06"}} 3' in lines
    assert f'nginx_ingress_controller_bytes_sent_bucket{{{hello},le="100000"}} 0' in lines
    assert f'nginx_ingress_controller_request_size_bucket{{{hello},le="60"}} 3' in lines
    # Answers of Portico's own (the 503, the 404) had no upstream: no upstream timings.
    upstream = [line for line in lines if "_connect_duration_seconds_count" in line]
    assert upstream == [f"nginx_ingress_controller_connect_duration_seconds_count{{{hello}}} 3"]


def test_without_metrics_per_host_series_of_all_hosts_add_up() -> None:
    stats = ProxyStats()
    other = Route(path="/api", path_type=PathType.PREFIX, host="*.example.com",
                  backend=ROUTE.backend, source=ROUTE.source)
    stats.request_done(ROUTE.labels, 200, b"GET", 0.1, 10, 10)
    stats.request_done(other.labels, 200, b"GET", 0.1, 10, 10)
    per_host = render(RequestCollector(lambda: stats, FAMILIES, per_host=True))
    assert sum('host="*.example.com"' in line for line in per_host if "_requests{" in line) == 1
    merged = render(RequestCollector(lambda: stats, FAMILIES, per_host=False))
    [requests] = [line for line in merged if line.startswith("nginx_ingress_controller_requests")]
    assert requests.endswith("} 2") and "host=" not in requests


def test_series_of_routes_that_left_the_table_are_dropped() -> None:
    stats = traffic()
    stats.keep_only(set())
    assert {key[0] for key in stats.series} == {NO_ROUTE}


def test_merge_adds_workers_up() -> None:
    total = ProxyStats()
    total.merge(traffic())
    total.merge(traffic())
    lines = render(RequestCollector(lambda: total, FAMILIES, per_host=False))
    assert any(line.startswith("nginx_ingress_controller_requests{") and
               'status="200"' in line and line.endswith(" 6") for line in lines)


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
    {"kind": "Ingress", "metadata": {"name": "lost", "namespace": "default"},
     "spec": {"ingressClassName": "portico", "rules": [{"host": "c.local", "http": {"paths": [
         {"path": "/", "pathType": "Prefix",
          "backend": {"service": {"name": "gone", "port": {"number": 80}}}}]}}]}},
    {"kind": "Ingress", "metadata": {"name": "theirs", "namespace": "default"},
     "spec": {"ingressClassName": "nginx"}},
]


def built(*extra: dict[str, object]) -> Reconciler:
    reconciler = Reconciler(BuildSettings(), [])
    for body in (*OBJECTS, *extra):
        reconciler.store.upsert(body)
    reconciler.rebuild()
    return reconciler


def test_reconciler_before_and_after_a_build() -> None:
    reconciler = Reconciler(BuildSettings(), [])
    collector = ReconcilerCollector(reconciler)
    assert render(collector) == [
        "portico_config_rebuilds_total 0",
        "portico_endpoint_updates_total 0",
        "portico_config_last_rebuild_duration_seconds 0",
        "portico_config_last_success_timestamp_seconds 0",
        "portico_config_event_to_swap_seconds 0",
        "portico_config_generation 0",
        "portico_ingresses_owned 0",
        "portico_ingresses_with_problems 0",
    ]
    for body in OBJECTS:
        reconciler.store.upsert(body)
    reconciler.rebuild()
    reconciler.rebuild()
    lines = dict(line.rsplit(" ", 1) for line in render(collector))
    assert lines["portico_config_rebuilds_total"] == "2"
    assert lines["portico_config_generation"] == "2"
    assert lines["portico_ingresses_owned"] == "3"
    assert lines["portico_ingresses_with_problems"] == "2"
    assert float(lines["portico_config_last_rebuild_duration_seconds"]) > 0
    # The upserts were pending when the first build ran: their wait was measured.
    assert 0 < float(lines["portico_config_event_to_swap_seconds"]) < 5
    assert float(lines["portico_config_last_success_timestamp_seconds"]) == pytest.approx(
        reconciler.last_success_at)


def controller_lines(reconciler: Reconciler, leader: bool | None = None) -> list[str]:
    collector = ControllerCollector(reconciler, FAMILIES,
                                    None if leader is None else (lambda: leader), "portico-leader")
    return render(collector)


def test_reload_families_follow_the_reconciler() -> None:
    reconciler = built()
    assert reconciler.result is not None
    lines = controller_lines(reconciler)
    digest = table_hash(reconciler.result.table)
    [config_hash] = [line for line in lines if "_config_hash{" in line]
    assert config_hash.startswith(f"nginx_ingress_controller_config_hash{{{CONST}}} ")
    assert float(config_hash.rsplit(" ", 1)[1]) == digest > 0
    assert f"nginx_ingress_controller_config_last_reload_successful{{{CONST}}} 1" in lines
    assert f"nginx_ingress_controller_success{{{CONST}}} 1" in lines
    assert f"nginx_ingress_controller_errors{{{CONST}}} 0" in lines
    stamp = [line for line in lines if "_config_last_reload_successful_timestamp_seconds" in line]
    assert float(stamp[0].rsplit(" ", 1)[1]) == pytest.approx(reconciler.last_success_at)
    # The same objects built again are the same configuration, whatever the generation.
    reconciler.rebuild()
    assert reconciler.result is not None
    assert table_hash(reconciler.result.table) == digest
    reconciler.store.upsert({**OBJECTS[2], "spec": {**OBJECTS[2]["spec"], "rules": []}})
    reconciler.rebuild()
    assert reconciler.result is not None
    assert table_hash(reconciler.result.table) != digest


def test_a_failed_build_is_a_failed_reload() -> None:
    reconciler = built()
    reconciler.failures, reconciler.last_build_failed = 1, True
    lines = controller_lines(reconciler)
    assert f"nginx_ingress_controller_config_last_reload_successful{{{CONST}}} 0" in lines
    assert f"nginx_ingress_controller_errors{{{CONST}}} 1" in lines


def test_orphan_ingresses() -> None:
    lines = [line for line in controller_lines(built()) if "orphan_ingress" in line]
    assert lines == [
        f'nginx_ingress_controller_orphan_ingress{{{CONST},namespace="default",ingress="{name}",'
        f'type="{kind}"}} {value}'
        # "bad" has no route at all (its only path is invalid), so no backend without endpoints.
        for name, values in (("bad", (0, 0)), ("good", (0, 1)), ("lost", (1, 0)))
        for kind, value in zip(("no-service", "no-endpoint"), values, strict=True)
    ]
    slice_ = {"kind": "EndpointSlice",
              "metadata": {"name": "hello-1", "namespace": "default",
                           "labels": {"kubernetes.io/service-name": "hello"}},
              "ports": [{"name": "http", "port": 8081}],
              "endpoints": [{"addresses": ["127.0.0.2"]}]}
    lines = [line for line in controller_lines(built(slice_)) if 'ingress="good"' in line]
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["0", "0"]


def test_leader_election_status_exists_only_where_there_is_an_election() -> None:
    assert not [line for line in controller_lines(built()) if "leader_election" in line]
    for leader in (True, False):
        assert (f'nginx_ingress_controller_leader_election_status{{{CONST},'
                f'name="portico-leader"}} {int(leader)}') in controller_lines(built(), leader)


def tls_secret(namespace: str, name: str, ca: trustme.CA, *hosts: str) -> dict[str, object]:
    leaf = ca.issue_cert(*hosts)
    data = {"tls.crt": b"".join(b.bytes() for b in leaf.cert_chain_pems),
            "tls.key": leaf.private_key_pem.bytes()}
    return {"kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def test_certificate_expiry_and_info() -> None:
    ca = trustme.CA(organization_name="Example CA")
    secret = tls_secret("default", "a-tls", ca, "a.local")
    ingress = {"kind": "Ingress", "metadata": {"name": "secure", "namespace": "default"},
               "spec": {"ingressClassName": "portico",
                        "tls": [{"hosts": ["a.local"], "secretName": "a-tls"}],
                        "rules": [{"host": "a.local", "http": {"paths": [
                            {"path": "/", "pathType": "Prefix", "backend": {"service": {
                                "name": "hello", "port": {"number": 80}}}}]}}]}}
    reconciler = built(secret, ingress)
    assert reconciler.result is not None
    cert = reconciler.result.table.certificates["a.local"]
    serial = str(x509.load_pem_x509_certificate(cert.cert_pem).serial_number)
    ssl = ('namespace="default",class="portico.dev/ingress-controller",host="a.local",'
           f'secret_name="a-tls",identifier="-{serial}"')
    lines = controller_lines(reconciler)
    [expiry] = [line for line in lines if line.startswith("nginx_ingress_controller_ssl_expire")]
    assert expiry.startswith(f"nginx_ingress_controller_ssl_expire_time_seconds{{{CONST},{ssl}}} ")
    assert float(expiry.rsplit(" ", 1)[1]) == cert.not_after
    assert (f"nginx_ingress_controller_ssl_certificate_info{{{CONST},{ssl},"
            f'issuer_organization="Example CA",issuer_common_name="",serial_number="{serial}",'
            'public_key_algorithm="ECDSA"} 1') in lines


def certificate(namespace: str, name: str, not_after: float) -> Certificate:
    return Certificate(ObjectRef("Secret", namespace, name), b"", b"", (), not_after, name)


def test_portico_certificate_expiry_per_host() -> None:
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
        'portico_ssl_expire_time_seconds{host="_",secret="portico-default"} 1.9e+09',
    ]


PROCESS_FAMILIES = {
    # ingress-nginx process.go and nginx_status.go
    "nginx_ingress_controller_nginx_process_num_procs": "gauge",
    "nginx_ingress_controller_nginx_process_resident_memory_bytes": "gauge",
    "nginx_ingress_controller_nginx_process_virtual_memory_bytes": "gauge",
    "nginx_ingress_controller_nginx_process_oldest_start_time_seconds": "gauge",
    "nginx_ingress_controller_nginx_process_cpu_seconds_total": "counter",
    "nginx_ingress_controller_nginx_process_read_bytes_total": "counter",
    "nginx_ingress_controller_nginx_process_write_bytes_total": "counter",
    "nginx_ingress_controller_nginx_process_requests_total": "counter",
    "nginx_ingress_controller_nginx_process_connections_total": "counter",
    "nginx_ingress_controller_nginx_process_connections": "gauge",
}


def test_process_families_measure_the_given_processes() -> None:
    stats = traffic()
    stats.connections_accepted, stats.active_connections = 12, 3
    stats.reading, stats.writing, stats.waiting = 1, 1, 1
    pids = [os.getpid()]
    collector = ProcessCollector(lambda: pids, lambda: stats, FAMILIES)
    assert types(collector) == PROCESS_FAMILIES
    lines = dict(line.rsplit(" ", 1) for line in render(collector))
    prefix = "nginx_ingress_controller_nginx_process_"
    assert lines[f"{prefix}num_procs{{{CONST}}}"] == "1"
    assert float(lines[f"{prefix}resident_memory_bytes{{{CONST}}}"]) > 10_000_000
    assert float(lines[f"{prefix}cpu_seconds_total{{{CONST}}}"]) > 0
    assert lines[f"{prefix}requests_total{{{CONST}}}"] == "5"
    assert lines[f'{prefix}connections_total{{{CONST},state="accepted"}}'] == "12"
    assert lines[f'{prefix}connections{{{CONST},state="active"}}'] == "3"
    assert lines[f'{prefix}connections{{{CONST},state="waiting"}}'] == "1"
    cpu = float(lines[f"{prefix}cpu_seconds_total{{{CONST}}}"])
    pids.clear()  # the process "exited": its CPU time is carried forward
    lines = dict(line.rsplit(" ", 1) for line in render(collector))
    assert lines[f"{prefix}num_procs{{{CONST}}}"] == "0"
    assert float(lines[f"{prefix}cpu_seconds_total{{{CONST}}}"]) == cpu


class OperatorCounters:
    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("portico_leader", "1 while this replica leads.", value=1)


def test_registry_holds_every_collector_and_the_extra_ones() -> None:
    registry = create_registry(ProxyStats, Reconciler(BuildSettings(), []), FAMILIES,
                               extra=[OperatorCounters()])
    text = render_text(registry).decode()
    for name in ("portico_requests_total", "portico_config_rebuilds_total",
                 "portico_ssl_expire_time_seconds", "portico_leader 1",
                 "# TYPE nginx_ingress_controller_requests counter",
                 "# TYPE nginx_ingress_controller_success counter",
                 "nginx_ingress_controller_build_info{"):
        assert name in text


def test_admission_families_as_ingress_nginx_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    stats = AdmissionStats()
    collector = AdmissionCollector(stats, FAMILIES)
    gauges = ("tested_ingresses", "tested_duration", "render_ingresses", "render_duration",
              "roundtrip_duration")
    # Before any review: the gauges at 0, no check series (ingress-nginx's vectors start empty).
    assert render(collector) == [
        f"nginx_ingress_controller_admission_{name}{{{CONST}}} 0" for name in gauges]
    monkeypatch.setattr(admission_metrics, "MAX_COUNTED_INGRESSES", 2)
    for name, allowed in (("shop", True), ("shop", True), ("shop", False), ("blog", False),
                          ("made-up", False)):
        stats.record(AdmissionCheck("web", name, allowed, 3, 0.001, 0.25), 0.5)
    assert render(collector) == [
        # Past the bound, Ingresses are counted together under empty labels.
        f'nginx_ingress_controller_check_errors{{{CONST},namespace="",ingress=""}} 1',
        f'nginx_ingress_controller_check_errors{{{CONST},namespace="web",ingress="blog"}} 1',
        f'nginx_ingress_controller_check_errors{{{CONST},namespace="web",ingress="shop"}} 1',
        f'nginx_ingress_controller_check_success{{{CONST},namespace="web",ingress="shop"}} 2',
        f"nginx_ingress_controller_admission_tested_ingresses{{{CONST}}} 3",
        f"nginx_ingress_controller_admission_tested_duration{{{CONST}}} 0.25",
        f"nginx_ingress_controller_admission_render_ingresses{{{CONST}}} 3",
        f"nginx_ingress_controller_admission_render_duration{{{CONST}}} 0.001",
        f"nginx_ingress_controller_admission_roundtrip_duration{{{CONST}}} 0.5",
    ]
    assert types(collector) == {
        "nginx_ingress_controller_check_errors": "counter",
        "nginx_ingress_controller_check_success": "counter",
        **{f"nginx_ingress_controller_admission_{name}": "gauge" for name in gauges},
    }
