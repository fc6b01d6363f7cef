"""Kubernetes objects as the builder receives them, for the build tests.

Each helper returns the plain dict a Kubernetes API server (or a manifest
file) would hold, with only the fields the test cares about set.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from ingress.build import BuildResult, build
from ingress.build.annotations import RouteSpec, parse_annotations
from ingress.model import ObjectRef
from ingress.settings import BuildSettings
from ingress.store import KINDS, key_of

NOW = 1_750_000_000.0  # a fixed "now" for certificate expiry


def ingress(
    name: str,
    rules: list[dict[str, Any]] | None = None,
    *,
    namespace: str = "default",
    class_name: str | None = "portico",
    default_backend: dict[str, Any] | None = None,
    tls: list[dict[str, Any]] | None = None,
    annotations: dict[str, Any] | None = None,
    created: str = "2024-01-01T00:00:00Z",
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if rules is not None:
        spec["rules"] = rules
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    if tls is not None:
        spec["tls"] = tls
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "creationTimestamp": created}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata,
            "spec": spec}


def backend(service: str, port: int | str = 80) -> dict[str, Any]:
    key = "number" if isinstance(port, int) else "name"
    return {"service": {"name": service, "port": {key: port}}}


def path(
    value: str | None = "/", service: str = "web", port: int | str = 80,
    path_type: str | None = "Prefix",
) -> dict[str, Any]:
    entry: dict[str, Any] = {"backend": backend(service, port)}
    if value is not None:
        entry["path"] = value
    if path_type is not None:
        entry["pathType"] = path_type
    return entry


def rule(host: str | None, *paths: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"http": {"paths": list(paths)}}
    if host is not None:
        entry["host"] = host
    return entry


def service(
    name: str, ports: list[dict[str, Any]] | None = None, *, namespace: str = "default",
    type_: str = "ClusterIP",
) -> dict[str, Any]:
    if ports is None:
        ports = [{"port": 80, "targetPort": 8080}]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": type_, "ports": ports}}


def endpoint(ip: str, **conditions: bool) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": conditions}


def endpoint_slice(
    name: str, service_name: str, endpoints: list[dict[str, Any]],
    ports: list[dict[str, Any]] | None = None, *, namespace: str = "default",
    address_type: str = "IPv4",
) -> dict[str, Any]:
    if ports is None:
        ports = [{"name": "", "port": 8080, "protocol": "TCP"}]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": address_type, "ports": ports, "endpoints": endpoints}


def ingress_class(
    name: str, controller: str = "portico.dev/ingress-controller", *, default: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if default:
        metadata["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": metadata,
            "spec": {"controller": controller}}


def tls_secret(
    name: str, cert_pem: bytes, key_pem: bytes, *, namespace: str = "default"
) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"tls.crt": base64.b64encode(cert_pem).decode(),
                     "tls.key": base64.b64encode(key_pem).decode()}}


def web(ip_count: int = 1, name: str = "web") -> list[dict[str, Any]]:
    """A Service `name` (port 80 → 8080) with `ip_count` ready pods 10.0.0.1..."""
    pods = [endpoint(f"10.0.0.{i + 1}", ready=True) for i in range(ip_count)]
    return [service(name), endpoint_slice(f"{name}-abc", name, pods)]


def snapshot(objects: Iterable[Mapping[str, Any]]) -> dict[str, dict[tuple[str, str], Any]]:
    result: dict[str, dict[tuple[str, str], Any]] = {kind: {} for kind in KINDS}
    for body in objects:
        result[body["kind"]][key_of(body)] = body
    return result


def run(*objects: Mapping[str, Any], settings: BuildSettings | None = None,
        now: float = NOW) -> BuildResult:
    return build(snapshot(objects), settings or BuildSettings(), now)


def problem_fields(result: BuildResult) -> list[tuple[str, str, str]]:
    """(object, field, reason) of every problem, for compact assertions."""
    return [(str(p.obj), p.field, p.reason) for p in result.problems]


def spec_of(**annotations: str) -> RouteSpec:
    """What Ingress default/a's nginx.ingress.kubernetes.io annotations ask (`_` reads as `-`)."""
    return parse_annotations({"nginx.ingress.kubernetes.io/" + k.replace("_", "-"): v
                              for k, v in annotations.items()},
                             ObjectRef("Ingress", "default", "a"))
