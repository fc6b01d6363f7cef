"""The Kubernetes objects Portico serves during a benchmark, as a manifests directory."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness.tls import CertFiles

NAMESPACE = "bench"
SERVICE = "upstream"
TLS_SECRET = "bench-tls"


def bench_objects(host: str, upstream_ip: str, upstream_port: int,
                  cert: CertFiles) -> list[dict[str, Any]]:
    """IngressClass, Service + EndpointSlice of the upstream, TLS Secret, Ingress for `host`."""
    def meta(name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "namespace": NAMESPACE, **extra}

    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "portico"},
            "spec": {"controller": "portico.dev/ingress-controller"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(SERVICE),
            "spec": {
                "selector": {"app": SERVICE},
                "ports": [{"name": "http", "port": 80, "targetPort": upstream_port,
                           "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": meta(f"{SERVICE}-1",
                             labels={"kubernetes.io/service-name": SERVICE}),
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": upstream_port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [upstream_ip], "conditions": {"ready": True}}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta(TLS_SECRET),
            "type": "kubernetes.io/tls",
            "data": {
                "tls.crt": base64.b64encode(cert.cert.read_bytes()).decode(),
                "tls.key": base64.b64encode(cert.key.read_bytes()).decode(),
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta(
                "bench",
                # Plain-HTTP runs must be proxied, not redirected to HTTPS.
                annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"},
            ),
            "spec": {
                "ingressClassName": "portico",
                "tls": [{"hosts": [host], "secretName": TLS_SECRET}],
                "rules": [{
                    "host": host,
                    "http": {"paths": [{
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": SERVICE, "port": {"number": 80}}},
                    }]},
                }],
            },
        },
    ]


def write_manifests(directory: Path, objects: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    path.chmod(0o600)  # holds the TLS key
    return path
