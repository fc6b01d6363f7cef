"""A large cluster's worth of objects: N Ingresses, each with its own Service and EndpointSlice.

Each Ingress has two paths to its own Service, whose EndpointSlice lists
three ready pods (addresses nobody dials): the shape of a large
multi-tenant cluster. One more Ingress, `probe`, routes `PROBE_HOST` to a
Service whose endpoints are real loopback pods, so a benchmark can move them
and watch traffic follow; and `swap` (`swap_ingress`) routes `SWAP_HOST` to
the same Service on a path a benchmark changes, to rebuild the table.

`applied=True` dresses every object the way `kubectl apply` leaves it in
the API server: a `last-applied-configuration` annotation holding the
object's JSON and a `managedFields` entry, both of which a controller has no
use for and should not keep.
"""

from __future__ import annotations

import copy
import json
from typing import Any

NAMESPACES = 100
PROBE_NAMESPACE = "bench"
PROBE_NAME = "probe"
PROBE_HOST = "probe.bench.example"
PROBE_SLICE = f"{PROBE_NAME}-x1"
SWAP_NAME = "swap"
SWAP_HOST = "swap.bench.example"
CLASS = "portico"

Obj = dict[str, Any]


def ingress_class() -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": CLASS}, "spec": {"controller": "portico.dev/ingress-controller"}}


def app_objects(i: int) -> list[Obj]:
    """Ingress, Service and EndpointSlice of app number `i`."""
    ns, name = f"team-{i % NAMESPACES}", f"app-{i}"
    backend = {"service": {"name": name, "port": {"name": "http"}}}
    return [
        {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns,
                         "creationTimestamp": f"2024-01-01T00:{i // 60 % 60:02}:{i % 60:02}Z"},
            "spec": {"ingressClassName": CLASS, "rules": [{
                "host": f"{name}.example.com",
                "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": backend},
                    {"path": "/api/v1", "pathType": "Exact", "backend": backend},
                ]},
            }]},
        },
        service(ns, name, 8080),
        endpoint_slice(ns, name, f"{name}-x1", 8080,
                       [f"10.{i // 250 % 250}.{i % 250}.{pod}" for pod in (1, 2, 3)]),
    ]


def service(ns: str, name: str, target: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": target,
                                "protocol": "TCP"}]}}


def endpoint_slice(ns: str, service_name: str, name: str, port: int, ips: list[str]) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"kubernetes.io/service-name": service_name}},
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
    }


def probe_objects(pod: str, pod_port: int) -> list[Obj]:
    """The probe Ingress, its Service and its EndpointSlice with the one pod `pod`."""
    backend = {"service": {"name": PROBE_NAME, "port": {"number": 80}}}
    return [
        {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": PROBE_NAME, "namespace": PROBE_NAMESPACE},
            "spec": {"ingressClassName": CLASS, "rules": [{"host": PROBE_HOST, "http": {
                "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
        },
        service(PROBE_NAMESPACE, PROBE_NAME, pod_port),
        probe_slice(pod, pod_port),
    ]


def swap_ingress(version: int) -> Obj:
    """An Ingress whose one path names `version` (`/v<version>`), to the probe's Service:
    changing the version is a routing change, which rebuilds the table."""
    backend = {"service": {"name": PROBE_NAME, "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": SWAP_NAME, "namespace": PROBE_NAMESPACE},
        "spec": {"ingressClassName": CLASS, "rules": [{"host": SWAP_HOST, "http": {"paths": [
            {"path": f"/v{version}", "pathType": "Exact", "backend": backend}]}}]},
    }


def probe_slice(pod: str, pod_port: int) -> Obj:
    return endpoint_slice(PROBE_NAMESPACE, PROBE_NAME, PROBE_SLICE, pod_port, [pod])


def cluster_objects(count: int) -> list[Obj]:
    """The IngressClass and `count` apps (3 objects each), without the probe."""
    objects = [ingress_class()]
    for i in range(count):
        objects.extend(app_objects(i))
    return objects


def as_applied(obj: Obj) -> Obj:
    """`obj` as the API server holds it after `kubectl apply`."""
    applied = copy.deepcopy(obj)
    md = applied["metadata"]
    md.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = (
        json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n")
    md["managedFields"] = [{
        "apiVersion": obj["apiVersion"], "fieldsType": "FieldsV1",
        "manager": "kubectl-client-side-apply",
        "operation": "Update", "time": "2024-01-01T00:00:00Z",
        "fieldsV1": _fields_of({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}),
    }]
    return applied


def _fields_of(value: Any) -> Any:
    """The `fieldsV1` shape of a value: every key as `f:key`, leaves as {}."""
    if isinstance(value, dict):
        return {f"f:{key}": _fields_of(item) for key, item in value.items()}
    return {}
