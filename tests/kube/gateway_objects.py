"""Gateway API objects as the API serves them, built with the fewest words in a test.

Defaults follow the conformance suite's base manifests: a GatewayClass of
ours, a Gateway `gw` in `infra` with one HTTP listener `http` on port 80
admitting routes of its own namespace, routes to Service `v1` port 8080.
"""

from __future__ import annotations

from typing import Any

GROUP = "gateway.networking.k8s.io"
API = f"{GROUP}/v1"
CONTROLLER = "portico.dev/gateway-controller"
NS = "infra"


def gateway_class(name: str = "portico", controller: str = CONTROLLER,
                  **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "GatewayClass",
            "metadata": {"name": name, "generation": 1},
            "spec": {"controllerName": controller, **spec}}


def listener(name: str = "http", port: int = 80, protocol: str = "HTTP",
             hostname: str | None = None, source: str = "Same", **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "port": port, "protocol": protocol,
                             "allowedRoutes": {"namespaces": {"from": source}}}
    if hostname is not None:
        entry["hostname"] = hostname
    entry.update(extra)
    return entry


def https_listener(name: str = "https", secret: str = "cert", hostname: str | None = None,
                   **ref: Any) -> dict[str, Any]:
    return listener(name, 443, "HTTPS", hostname,
                    tls={"certificateRefs": [{"kind": "Secret", "name": secret, **ref}]})


def gateway(name: str = "gw", *listeners: dict[str, Any], namespace: str = NS,
            cls: str = "portico", generation: int = 1, created: str | None = None,
            **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "generation": generation}
    if created is not None:
        metadata["creationTimestamp"] = created
    return {"apiVersion": API, "kind": "Gateway", "metadata": metadata,
            "spec": {"gatewayClassName": cls, "listeners": list(listeners or [listener()]),
                     **spec}}


def backend_ref(name: str = "v1", port: int = 8080, **extra: Any) -> dict[str, Any]:
    return {"name": name, "port": port, **extra}


def http_rule(*matches: dict[str, Any], backends: list[dict[str, Any]] | None = None,
              filters: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"backendRefs": [backend_ref()] if backends is None else backends}
    if matches:
        rule["matches"] = list(matches)
    if filters is not None:
        rule["filters"] = filters
    rule.update(extra)
    return rule


def prefix(value: str, **extra: Any) -> dict[str, Any]:
    return {"path": {"type": "PathPrefix", "value": value}, **extra}


def exact(value: str, **extra: Any) -> dict[str, Any]:
    return {"path": {"type": "Exact", "value": value}, **extra}


def headers(**values: str) -> list[dict[str, str]]:
    return [{"name": name.replace("_", "-"), "value": value} for name, value in values.items()]


def http_route(name: str = "route", *rules: dict[str, Any], namespace: str = NS,
               parents: list[dict[str, Any]] | None = None,
               hostnames: list[str] | None = None, created: str = "2024-01-01T00:00:00Z",
               generation: int = 1) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "parentRefs": parents if parents is not None else [{"name": "gw", "namespace": NS}],
        "rules": list(rules or [http_rule()]),
    }
    if hostnames is not None:
        spec["hostnames"] = hostnames
    return {"apiVersion": API, "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created,
                         "generation": generation},
            "spec": spec}


def reference_grant(namespace: str, to_kind: str = "Service", to_name: str | None = None,
                    from_kind: str = "HTTPRoute", from_namespace: str = NS,
                    from_group: str = GROUP, to_group: str = "") -> dict[str, Any]:
    target: dict[str, Any] = {"group": to_group, "kind": to_kind}
    if to_name is not None:
        target["name"] = to_name
    return {"apiVersion": f"{GROUP}/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": "-".join(filter(None, (
                "grant", from_group.split(".")[0], from_kind, from_namespace, to_group, to_kind,
                to_name))).lower(), "namespace": namespace},
            "spec": {"from": [{"group": from_group, "kind": from_kind,
                               "namespace": from_namespace}],
                     "to": [target]}}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}}
