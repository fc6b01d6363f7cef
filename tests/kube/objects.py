"""Kubernetes objects as the API serves them, built with the fewest words in a test."""

from __future__ import annotations

from typing import Any

from ingress.settings import DEFAULT_CONTROLLER_NAME


def ingress_class(name: str = "portico", controller: str = DEFAULT_CONTROLLER_NAME,
                  default: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if default:
        md["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": md,
            "spec": {"controller": controller}}


def ingress(name: str, host: str = "", path: str = "/", service: str = "web",
            port: int | str = 80, cls: str | None = "portico", ns: str = "default",
            path_type: str = "Prefix", tls_secret: str | None = None) -> dict[str, Any]:
    port_ref = {"number": port} if isinstance(port, int) else {"name": port}
    rule: dict[str, Any] = {"http": {"paths": [{
        "path": path, "pathType": path_type,
        "backend": {"service": {"name": service, "port": port_ref}}}]}}
    if host:
        rule["host"] = host
    spec: dict[str, Any] = {"rules": [rule]}
    if cls is not None:
        spec["ingressClassName"] = cls
    if tls_secret is not None:
        spec["tls"] = [{"hosts": [host], "secretName": tls_secret}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def annotated(ingress: dict[str, Any], **annotations: str) -> dict[str, Any]:
    """`ingress` with nginx.ingress.kubernetes.io annotations (`_` in a name reads as `-`)."""
    ingress["metadata"]["annotations"] = {
        f"nginx.ingress.kubernetes.io/{k.replace('_', '-')}": v for k, v in annotations.items()
    }
    return ingress


def service(name: str = "web", port: int = 80, target: int | str = 8080,
            port_name: str = "http", ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": port_name, "port": port, "targetPort": target,
                                "protocol": "TCP"}]}}


def endpoint_slice(service: str, ips: list[str], port: int = 8080, port_name: str = "http",
                   name: str | None = None, ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name or f"{service}-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


def secret(name: str, data: dict[str, str], type_: str = "Opaque",
           ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": type_,
            "metadata": {"name": name, "namespace": ns}, "data": data}


def config_map(name: str, data: dict[str, str], ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": data}
