"""W3C trace context through the proxy, and spans exported to a real OTLP/HTTP receiver.

The receiver (`e2e/otlp.py`) is an aiohttp server in the test that decodes
what arrives at /v1/traces with OpenTelemetry's own protobuf classes, as a
collector does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.harness import Manifests, Pods, Portico, free_port, start_ready, wait_until
from e2e.otlp import Receiver
from e2e.test_observability import Rig
from kube import objects as o

PODS = ("127.0.0.2",)
INCOMING = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SERVICE_NAME = "edge-eu"  # OTEL_SERVICE_NAME, as the chart's tracing.serviceName sets it


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("tracing")
    port = free_port(PODS[0])
    pods = Pods([(ip, port) for ip in PODS])
    manifests = Manifests(base / "manifests")
    manifests.write("objects.yaml", [
        o.ingress_class(), o.service("web", target=port),
        o.endpoint_slice("web", list(PODS), port=port),
        o.ingress("api", host="trace.test", path="/api", service="web"),
    ])
    portico = start_ready(manifests.root, "--otlp-endpoint", f"http://127.0.0.1:{receiver.port}",
                          "--trace-sample-ratio", "1", log=base / "portico.log",
                          env={"OTEL_SERVICE_NAME": SERVICE_NAME})
    try:
        yield Rig(portico, base)
    finally:
        portico.stop()
        pods.close()


def forwarded(rig: Rig, headers: dict[str, str] | None = None) -> str:
    status, _, body = rig.get("trace.test", "/api/work", headers=headers)
    assert status == 200
    traceparent: str = json.loads(body)["headers"]["traceparent"]
    return traceparent


def test_an_incoming_trace_is_continued_and_exported(rig: Rig, receiver: Receiver) -> None:
    version, trace_id, parent, flags = forwarded(rig, {"traceparent": INCOMING}).split("-")
    assert (version, trace_id, flags) == ("00", INCOMING.split("-")[1], "01")
    assert parent != INCOMING.split("-")[2]  # the pod's parent is Portico's upstream span
    spans = {s["name"]: s for s in receiver.trace(trace_id, 2)}
    server, upstream = spans["GET /api"], spans["upstream"]
    assert server["service"] == SERVICE_NAME
    assert server["parent_id"] == INCOMING.split("-")[2]
    assert upstream["parent_id"] == server["span_id"]
    assert upstream["span_id"] == parent
    assert server["attributes"] == {
        "http.request.method": "GET", "url.path": "/api/work", "server.address": "trace.test",
        "http.route": "/api", "http.response.status_code": 200, "k8s.namespace.name": "default",
        "portico.ingress": "api", "portico.service": "web", "portico.rule_host": "trace.test"}
    assert upstream["attributes"]["server.address"] == PODS[0]
    assert server["start"] <= upstream["start"] <= upstream["end"] <= server["end"]


def test_a_request_without_trace_starts_one(rig: Rig, receiver: Receiver) -> None:
    version, trace_id, parent, flags = forwarded(rig).split("-")
    assert (version, flags, len(trace_id), len(parent)) == ("00", "01", 32, 16)
    server = next(s for s in receiver.trace(trace_id, 2) if s["name"] == "GET /api")
    assert server["parent_id"] == ""


def test_an_unsampled_trace_is_propagated_not_exported(rig: Rig, receiver: Receiver) -> None:
    unsampled = INCOMING[:-2] + "00"
    _, trace_id, _, flags = forwarded(rig, {"traceparent": unsampled}).split("-")
    assert (trace_id, flags) == (INCOMING.split("-")[1], "00")
    forwarded(rig, {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    receiver.trace("1" * 32, 2)  # a later sampled request was exported...
    # ...and the unsampled one, before it, never was.
    assert len([s for s in receiver.spans if s["trace_id"] == trace_id]) == 2  # the first test's


def test_invalid_traceparent_starts_a_new_trace(rig: Rig) -> None:
    value = forwarded(rig, {"traceparent": "00-" + "0" * 32 + "-" + "1" * 16 + "-01"})
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", value), value
    _, trace_id, _, _ = value.split("-")
    assert trace_id != "0" * 32


def test_without_the_endpoint_traceparent_passes_through(tmp_path: Path) -> None:
    port = free_port(PODS[0])
    pods = Pods([(PODS[0], port)])
    manifests = Manifests(tmp_path / "manifests")
    manifests.write("objects.yaml", [
        o.ingress_class(), o.service("web", target=port),
        o.endpoint_slice("web", list(PODS), port=port),
        o.ingress("api", host="trace.test", path="/api", service="web"),
    ])
    portico: Portico = start_ready(manifests.root, log=tmp_path / "portico.log")
    try:
        assert forwarded(Rig(portico, tmp_path), {"traceparent": INCOMING}) == INCOMING
    finally:
        portico.stop()
        pods.close()


# --- tracing per route, as ingress-nginx's ConfigMap and annotations decide it

CONFIGMAP = ("ingress-nginx", "controller")


def controller_objects(port: int, data: dict[str, str]) -> list[dict[str, Any]]:
    return [
        o.ingress_class(), o.service("web", target=port),
        o.endpoint_slice("web", list(PODS), port=port),
        o.config_map(CONFIGMAP[1], data, ns=CONFIGMAP[0]),
        o.ingress("plain", host="plain.test", path="/", service="web"),
        o.annotated(o.ingress("off", host="off.test", path="/", service="web"),
                    enable_opentelemetry="false"),
        o.annotated(o.ingress("named", host="named.test", path="/", service="web"),
                    enable_opentelemetry="true", opentelemetry_operation_name="checkout"),
        o.annotated(o.ingress("untrusting", host="untrusting.test", path="/", service="web"),
                    enable_opentelemetry="true", opentelemetry_trust_incoming_span="false"),
    ]


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory,
               receiver: Receiver) -> Iterator[tuple[Rig, Manifests, int]]:
    base = tmp_path_factory.mktemp("tracing-configmap")
    port = free_port(PODS[0])
    pods = Pods([(ip, port) for ip in PODS])
    manifests = Manifests(base / "manifests")
    manifests.write("objects.yaml", controller_objects(port, {}))
    portico = start_ready(manifests.root, "--otlp-endpoint", f"http://127.0.0.1:{receiver.port}",
                          "--configmap", "/".join(CONFIGMAP), log=base / "portico.log")
    try:
        yield Rig(portico, base), manifests, port
    finally:
        portico.stop()
        pods.close()


def traceparent_at(rig: Rig, host: str, traceparent: str = INCOMING) -> str:
    status, _, body = rig.get(host, "/echo", headers={"traceparent": traceparent})
    assert status == 200
    sent: str = json.loads(body)["headers"]["traceparent"]
    return sent


def test_enable_opentelemetry_per_ingress_over_the_configmap_default(
    configured: tuple[Rig, Manifests, int], receiver: Receiver,
) -> None:
    rig, manifests, port = configured
    # ingress-nginx's default (enable-opentelemetry: false): untraced routes pass the
    # client's traceparent through untouched, as any other header.
    assert traceparent_at(rig, "plain.test") == INCOMING
    assert traceparent_at(rig, "off.test") == INCOMING
    own = "00-" + "3" * 32 + "-" + "4" * 16 + "-01"
    _, trace_id, parent, _ = traceparent_at(rig, "named.test", own).split("-")
    assert trace_id == "3" * 32 and parent != "4" * 16
    server = next(s for s in receiver.trace(trace_id, 2) if s["kind"] == 2)  # SERVER
    assert server["name"] == "checkout" and server["parent_id"] == "4" * 16
    # opentelemetry-trust-incoming-span: false starts a trace of its own.
    mine = "00-" + "5" * 32 + "-" + "6" * 16 + "-01"
    _, trace_id, _, _ = traceparent_at(rig, "untrusting.test", mine).split("-")
    assert trace_id != "5" * 32
    server = next(s for s in receiver.trace(trace_id, 2) if s["kind"] == 2)
    assert server["parent_id"] == ""

    # The ConfigMap turns tracing on for every Ingress but those that turn it off, and
    # names the spans with nginx variables.
    manifests.write("objects.yaml", controller_objects(port, {
        "enable-opentelemetry": "true",
        "opentelemetry-operation-name": "HTTP $request_method $uri"}))
    wait_until(lambda: traceparent_at(rig, "plain.test") != INCOMING, "plain.test traced")
    assert traceparent_at(rig, "off.test") == INCOMING
    _, trace_id, _, _ = traceparent_at(rig, "plain.test",
                                       "00-" + "7" * 32 + "-" + "8" * 16 + "-01").split("-")
    assert trace_id == "7" * 32
    server = next(s for s in receiver.trace(trace_id, 2) if s["kind"] == 2)
    assert server["name"] == "HTTP GET /echo"
