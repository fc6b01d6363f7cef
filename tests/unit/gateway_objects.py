"""Gateway API objects as the builder receives them, for the Gateway API builder tests.

Defaults follow the conformance suite's base manifests: a GatewayClass of
ours, a Gateway `gw` in `infra` with one HTTP listener `http` on port 80
admitting routes of its own namespace, Services `v1`..`v3` in `infra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trustme
from build_objects import endpoint, endpoint_slice, run, service, tls_secret

from ingress.build import BuildResult
from ingress.build.gateway.status import Condition, GatewayStatus, ParentStatus
from ingress.model import Route
from ingress.settings import BuildSettings

GROUP = "gateway.networking.k8s.io"
API = f"{GROUP}/v1"
CONTROLLER = "portico.dev/gateway-controller"
NS = "infra"
SETTINGS = BuildSettings(gateway_api=True)


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
            cls: str = "portico", generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace, "generation": generation},
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


_CA = trustme.CA()


def certificate_secret(name: str = "cert", *hosts: str, namespace: str = NS) -> dict[str, Any]:
    """A TLS Secret whose certificate names `hosts`."""
    leaf = _CA.issue_cert(*(hosts or ("example.org",)))
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return tls_secret(name, chain, leaf.private_key_pem.bytes(), namespace=namespace)


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}}


def backends(namespace: str = NS, names: tuple[str, ...] = ("v1", "v2", "v3")) -> list[
        dict[str, Any]]:
    """Services (port 8080 → 3000) with one ready pod each: v1 10.1.0.1, v2 10.1.0.2, ..."""
    objects: list[dict[str, Any]] = []
    for i, name in enumerate(names, start=1):
        ports = [{"name": "http", "port": 8080, "targetPort": 3000}]
        objects.append(service(name, ports, namespace=namespace))
        objects.append(endpoint_slice(f"{name}-a", name, [endpoint(f"10.1.{i}.1", ready=True)],
                                      [{"name": "http", "port": 3000}], namespace=namespace))
    return objects


def base(*listeners: dict[str, Any]) -> list[dict[str, Any]]:
    return [gateway_class(), gateway("gw", *listeners), *backends()]


def build(*objects: Mapping[str, Any] | list[dict[str, Any]]) -> BuildResult:
    flat: list[Mapping[str, Any]] = []
    for item in objects:
        flat += item if isinstance(item, list) else [item]
    return run(*flat, settings=SETTINGS)


def served(result: BuildResult, host: str, path: str, *, method: bytes = b"GET",
           secure: bool = False, **request_headers: str) -> Route | None:
    """The route a request takes (`query` is part of `path`)."""
    path_only, _, query = path.partition("?")
    request = _Request(method, secure, {k.replace("_", "-").lower().encode(): v.encode()
                                        for k, v in request_headers.items()}, query)
    return result.table.route(host, path_only, request)


def service_of(result: BuildResult, host: str, path: str, **kwargs: Any) -> str | None:
    route = served(result, host, path, **kwargs)
    return route.backend.service if route is not None else None


class _Request:
    def __init__(self, method: bytes, secure: bool, headers: dict[bytes, bytes],
                 query: str) -> None:
        self.method = method
        self.secure = secure
        self._headers = headers
        self._query = query

    def header(self, lname: bytes) -> bytes | None:
        return self._headers.get(lname)

    def query_value(self, name: str) -> str | None:
        from urllib.parse import parse_qsl

        for key, value in parse_qsl(self._query, keep_blank_values=True):
            if key == name:
                return value
        return None


def route_parent(result: BuildResult, name: str = "route", index: int = 0) -> ParentStatus:
    for status in result.gateway.routes:
        if status.ref.name == name:
            return status.parents[index]
    raise AssertionError(f"no status for HTTPRoute {name}")


def condition(conditions: tuple[Condition, ...], kind: str) -> tuple[str, str]:
    """(status, reason) of the condition of type `kind`."""
    for c in conditions:
        if c.type == kind:
            return c.status, c.reason
    raise AssertionError(f"no {kind} condition in {conditions}")


def gateway_status(result: BuildResult, name: str = "gw") -> GatewayStatus:
    for status in result.gateway.gateways:
        if status.ref.name == name:
            return status
    raise AssertionError(f"no status for Gateway {name}")
