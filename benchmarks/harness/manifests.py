"""The Kubernetes objects Portico serves during a benchmark, as a manifests directory."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness.tls import CertFiles

NAMESPACE = "bench"
SERVICE = "upstream"
GRPC_SERVICE = "upstream-grpc"
TLS_SECRET = "bench-tls"


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, **extra}


def _service(name: str, ip: str, port: int) -> list[dict[str, Any]]:
    """A Service on port 80 and its EndpointSlice at `ip:port`."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name),
            "spec": {
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": _meta(f"{name}-1", labels={"kubernetes.io/service-name": name}),
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
        },
    ]


def _ingress(name: str, host: str, service: str, annotations: dict[str, str],
             tls: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ingressClassName": "portico",
        "rules": [{
            "host": host,
            "http": {"paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": {"number": 80}}},
            }]},
        }],
    }
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": TLS_SECRET}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": _meta(name, annotations=annotations), "spec": spec}


def bench_objects(host: str, upstream_ip: str, upstream_port: int, cert: CertFiles,
                  grpc_host: str, grpc_port: int) -> list[dict[str, Any]]:
    """IngressClass, Service + EndpointSlice of the upstream, TLS Secret, Ingress for `host`;
    the same for the upstream's gRPC port behind `grpc_host` (backend-protocol GRPC)."""
    # Plain-HTTP runs must be proxied, not redirected to HTTPS.
    plain = {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "portico"},
            "spec": {"controller": "portico.dev/ingress-controller"},
        },
        *_service(SERVICE, upstream_ip, upstream_port),
        *_service(GRPC_SERVICE, upstream_ip, grpc_port),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta(TLS_SECRET),
            "type": "kubernetes.io/tls",
            "data": {
                "tls.crt": base64.b64encode(cert.cert.read_bytes()).decode(),
                "tls.key": base64.b64encode(cert.key.read_bytes()).decode(),
            },
        },
        _ingress("bench", host, SERVICE, plain, tls=True),
        _ingress("grpc", grpc_host, GRPC_SERVICE,
                 {**plain, "nginx.ingress.kubernetes.io/backend-protocol": "GRPC"}, tls=False),
    ]


def write_manifests(directory: Path, objects: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    path.chmod(0o600)  # holds the TLS key
    return path
