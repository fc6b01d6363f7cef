"""Metrics with ingress-nginx's names, the shipped dashboards, request IDs and access logs.

One `portico run --access-log` in front of real demo pods serves the whole
module; a second, short-lived one checks the nginx log format.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from e2e.harness import Portico, serving, wait_until
from kube import objects as o
from tls_clients import unverified

ROOT = Path(__file__).resolve().parents[2]
PODS = ("127.0.0.2", "127.0.0.3")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
METRIC = re.compile(r"\b(?:nginx_ingress_controller|portico)_[a-z0-9_]+")
TIME_LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
SIZE_LE = ["10", "20", "30", "40", "50", "60", "70", "80", "90", "100", "+Inf"]


class Rig:
    def __init__(self, portico: Portico, base: Path) -> None:
        self.portico = portico
        self.base = base

    def get(self, host: str, path: str = "/", method: str = "GET",
            headers: dict[str, str] | None = None, body: bytes | None = None,
            tls: bool = False) -> tuple[int, dict[str, str], bytes]:
        port = self.portico.https_port if tls else self.portico.http_port
        conn: http.client.HTTPConnection
        if tls:
            context = unverified()
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
            conn.sock = context.wrap_socket(  # SNI names the host, not the address
                socket.create_connection(("127.0.0.1", port), timeout=5),
                server_hostname=host)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, \
                response.read()
        finally:
            conn.close()

    def access_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.portico.logs().splitlines()
                if line.startswith('{"time"')]

    def logged(self, request_id: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            found = [r for r in self.access_lines() if r["request_id"] == request_id]
            return found[0] if found else None
        return wait_until(find, f"the access line of {request_id}")


def tls_secret(ca: trustme.CA, host: str, name: str = "obs-tls") -> dict[str, Any]:
    leaf = ca.issue_cert(host)
    data = {"tls.crt": b"".join(b.bytes() for b in leaf.cert_chain_pems),
            "tls.key": leaf.private_key_pem.bytes()}
    return o.secret(name, {k: base64.b64encode(v).decode() for k, v in data.items()},
                    type_="kubernetes.io/tls")


def objects() -> list[dict[str, Any]]:
    """Beside the Service `web` of the demo pods."""
    return [
        tls_secret(trustme.CA(organization_name="Observability CA"), "secure.test"),
        o.ingress("web", host="obs.test", service="web"),
        o.ingress("secure", host="secure.test", service="web", tls_secret="obs-tls"),
        o.ingress("api", host="obs.test", path="/api", service="web"),
        # A canary whose Service has no pods yet: its requests answer 503, booked to it.
        o.service("web-canary"),
        o.annotated(o.ingress("api-canary", host="obs.test", path="/api", service="web-canary"),
                    **{"canary": "true", "canary-by-header": "X-Canary"}),
        o.ingress("lost", host="lost.test", service="gone"),
    ]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("observability")
    with serving(base, PODS, objects(), "--access-log") as (portico, _):
        rig = Rig(portico, base)
        traffic(rig)
        yield rig


def traffic(rig: Rig) -> None:
    """What every test of the module reads about: a little of everything."""
    assert rig.get("secure.test", "/", tls=True)[0] == 200
    assert rig.get("obs.test", "/api/items?page=2")[0] == 200
    assert rig.get("obs.test", "/api", "POST", body=b"x" * 100)[0] == 200
    assert rig.get("obs.test", "/api/c", headers={"X-Canary": "always"})[0] == 503
    assert rig.get("obs.test", "/status/503")[0] == 503
    assert rig.get("nowhere.test", "/")[0] == 404


def scrape(rig: Rig) -> str:
    status, text = rig.portico.admin_get("/metrics")
    assert status == 200
    return text


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            found.append((dict(re.findall(r'(\w+)="([^"]*)"', series)), float(value)))
    return found


def test_request_families_with_exact_names_types_labels_and_buckets(rig: Rig) -> None:
    def counted() -> str | None:
        text = scrape(rig)
        return text if 'status="404"' in text else None

    text = wait_until(counted, "the requests in /metrics")
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types["nginx_ingress_controller_requests"] == "counter"  # no _total: as dashboards
    assert "nginx_ingress_controller_requests_total" not in text
    for family in ("request_duration_seconds", "response_duration_seconds",
                   "header_duration_seconds", "connect_duration_seconds", "request_size",
                   "response_size"):
        assert types[f"nginx_ingress_controller_{family}"] == "histogram"
    const = {"controller_namespace": "default",
             "controller_class": "portico.dev/ingress-controller"}
    api = [labels for labels, value in samples(text, "nginx_ingress_controller_requests")
           if labels.get("path") == "/api" and labels["method"] == "POST"]
    assert len(api) == 1
    assert list(api[0]) == ["controller_namespace", "controller_class", "controller_pod",
                            "status", "method", "path", "namespace", "ingress", "service",
                            "canary", "host"]
    assert {k: api[0][k] for k in (*const, "status", "namespace", "ingress", "service",
                                   "canary", "host")} == {
        **const, "status": "200", "namespace": "default", "ingress": "api", "service": "web",
        "canary": "", "host": "obs.test"}
    # The canary's request: the mainline's Ingress and Service, the canary's upstream named.
    canary = [(labels["status"], labels["ingress"], labels["service"], labels["canary"], value)
              for labels, value in samples(text, "nginx_ingress_controller_requests")
              if labels.get("canary")]
    assert canary == [("503", "api", "web", "default-web-canary-80", 1.0)]
    unrouted = [labels for labels, _ in samples(text, "nginx_ingress_controller_requests")
                if labels["status"] == "404"]
    assert [(u["ingress"], u["service"], u["path"]) for u in unrouted] == [("", "", "")]

    def buckets(family: str) -> list[str]:
        rows = samples(text, f"nginx_ingress_controller_{family}_bucket")
        first = {k: v for k, v in rows[0][0].items() if k != "le"}
        return [labels["le"] for labels, _ in rows
                if {k: v for k, v in labels.items() if k != "le"} == first]

    assert buckets("request_duration_seconds") == TIME_LE
    assert buckets("response_duration_seconds") == TIME_LE
    assert buckets("request_size") == SIZE_LE
    assert buckets("response_size") == SIZE_LE


def test_controller_process_and_certificate_families(rig: Rig) -> None:
    text = scrape(rig)

    def value(name: str, **labels: str) -> float:
        found = [v for series, v in samples(text, f"nginx_ingress_controller_{name}")
                 if all(series.get(k) == want for k, want in labels.items())]
        assert len(found) == 1, (name, labels, found)
        return found[0]

    assert value("config_last_reload_successful") == 1
    assert value("success") >= 1
    assert value("errors") == 0
    assert value("config_hash") > 0
    assert value("config_last_reload_successful_timestamp_seconds") > 1.7e9
    assert value("nginx_process_num_procs") == 1
    assert value("nginx_process_resident_memory_bytes") > 10e6
    assert value("nginx_process_cpu_seconds_total") > 0
    assert value("nginx_process_requests_total") >= 5
    assert value("nginx_process_connections", state="active") >= 0
    assert value("ssl_expire_time_seconds", host="secure.test", secret_name="obs-tls",
                 namespace="default", **{"class": "portico.dev/ingress-controller"}) > 1.7e9
    assert value("ssl_certificate_info", host="secure.test",
                 issuer_organization="Observability CA", public_key_algorithm="ECDSA") == 1
    assert value("orphan_ingress", ingress="lost", type="no-service") == 1
    assert value("orphan_ingress", ingress="web", type="no-endpoint") == 0


def queried_metrics(*globs: str) -> set[str]:
    chart = ROOT / "charts" / "portico"
    return {name for pattern in globs for path in chart.glob(pattern)
            for name in METRIC.findall(path.read_text())}


def test_every_metric_a_dashboard_queries_exists(rig: Rig) -> None:
    exported = set(re.findall(r"^([a-z_0-9]+)(?:\{| )", scrape(rig), re.M))
    queried = queried_metrics("dashboards/*.json")
    assert len(queried) >= 10
    assert sorted(queried - exported) == []


def test_every_metric_an_alert_queries_exists(rig: Rig) -> None:
    exported = set(re.findall(r"^([a-z_0-9]+)(?:\{| )", scrape(rig), re.M))
    # leader_election_status exists where there is an election: with the cluster source.
    queried = queried_metrics("templates/prometheusrule.yaml") - {
        "nginx_ingress_controller_leader_election_status"}
    assert sorted(queried - exported) == []


def echoed_request_id(rig: Rig, headers: dict[str, str] | None = None) -> str:
    status, _, body = rig.get("obs.test", "/api/echo", headers=headers)
    assert status == 200
    request_id: str = json.loads(body)["headers"]["x-request-id"]
    return request_id


def test_request_id_is_generated_forwarded_and_logged(rig: Rig) -> None:
    first, second = echoed_request_id(rig), echoed_request_id(rig)
    assert HEX32.match(first) and HEX32.match(second) and first != second
    line = rig.logged(first)
    assert (line["path"], line["status"], line["ingress"]) == ("/api/echo", 200, "api")


def test_a_client_request_id_is_kept(rig: Rig) -> None:
    assert echoed_request_id(rig, {"X-Request-ID": "trace-me-42"}) == "trace-me-42"
    assert rig.logged("trace-me-42")["upstream_status"] == 200


def test_portico_own_answers_carry_the_request_id(rig: Rig) -> None:
    status, headers, _ = rig.get("nowhere.test", "/")
    assert status == 404
    assert HEX32.match(headers["x-request-id"])
    line = rig.logged(headers["x-request-id"])
    assert (line["status"], line["upstream_status"], line["upstream_addr"]) == (404, None, "")
    status, headers, _ = rig.get("nowhere.test", "/", headers={"X-Request-ID": "mine"})
    assert headers["x-request-id"] == "mine"


def test_json_access_log_has_the_fixed_fields(rig: Rig) -> None:
    status, _, _ = rig.get("obs.test", "/api/items?page=2",
                                 headers={"User-Agent": "probe/1", "Referer": "http://r.test/",
                                          "X-Request-ID": "fields-1"})
    assert status == 200
    line = rig.logged("fields-1")
    assert list(line) == [
        "time", "request_id", "remote_addr", "method", "host", "path", "protocol", "status",
        "bytes_sent", "request_length", "request_time", "upstream_addr", "upstream_status",
        "upstream_response_time", "namespace", "ingress", "service", "user_agent", "referer",
        "retries", "tls_version", "sni"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line["time"])
    assert {k: line[k] for k in ("remote_addr", "method", "host", "path", "protocol", "status",
                                 "namespace", "ingress", "service", "user_agent", "referer",
                                 "retries", "tls_version", "sni")} == {
        "remote_addr": "127.0.0.1", "method": "GET", "host": "obs.test",
        "path": "/api/items?page=2", "protocol": "HTTP/1.1", "status": 200,
        "namespace": "default", "ingress": "api", "service": "web", "user_agent": "probe/1",
        "referer": "http://r.test/", "retries": 0, "tls_version": "", "sni": ""}
    assert line["upstream_addr"].rpartition(":")[0] in PODS
    assert line["upstream_status"] == 200
    assert 0 <= line["upstream_response_time"] <= line["request_time"] < 5
    assert line["bytes_sent"] > 100 and line["request_length"] > 50


def test_https_requests_log_tls_version_and_sni(rig: Rig) -> None:
    status, _, _ = rig.get("secure.test", "/", headers={"X-Request-ID": "tls-1"}, tls=True)
    assert status == 200
    line = rig.logged("tls-1")
    assert line["sni"] == "secure.test"
    assert line["tls_version"] in ("TLSv1.2", "TLSv1.3")


def test_nginx_access_log_format(tmp_path: Path) -> None:
    with serving(tmp_path, PODS, objects(), "--access-log", "--access-log-format", "nginx") as (
            portico, _):
        rig = Rig(portico, tmp_path)
        assert rig.get("obs.test", "/api/x?y=1", headers={"User-Agent": "probe/2",
                                                          "X-Request-ID": "n-1"})[0] == 200
        pattern = re.compile(
            r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
            r'"GET /api/x\?y=1 HTTP/1\.1" 200 (\d+) "-" "probe/2" (\d+) (\d+\.\d{3}) '
            r"\[default-web-80\] \[\] 127\.0\.0\.[23]:\d+ (\d+) (\d+\.\d{3}) 200 n-1$")
        line = wait_until(lambda: next((m for m in map(pattern.match, portico.logs().splitlines())
                                        if m), None), "the nginx-format access line")
        body_bytes, _, _, upstream_length, _ = line.groups()
        assert body_bytes == upstream_length
        # $proxy_alternative_upstream_name names the canary when it served the request.
        assert rig.get("obs.test", "/api/c", headers={"X-Canary": "always",
                                                      "X-Request-ID": "n-2"})[0] == 503
        wait_until(lambda: any(" [default-web-80] [default-web-canary-80] " in line
                               and line.endswith(" n-2") for line in portico.logs().splitlines()),
                   "the canary's nginx-format access line")

