"""Gateway API builds for the unit tests: Services `v1`..`v3` in `infra`, TLS Secrets,
and reads of the table and statuses a build produced (objects: kube.gateway_objects)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trustme
from build_objects import endpoint, endpoint_slice, run, service, tls_secret

from ingress.build import BuildResult
from ingress.build.gateway.status import Condition, GatewayStatus, ParentStatus
from ingress.model import Route
from ingress.settings import BuildSettings
from kube.gateway_objects import NS, gateway, gateway_class

SETTINGS = BuildSettings(gateway_api=True)
_CA = trustme.CA()


def certificate_secret(name: str = "cert", *hosts: str, namespace: str = NS) -> dict[str, Any]:
    """A TLS Secret whose certificate names `hosts`."""
    leaf = _CA.issue_cert(*(hosts or ("example.org",)))
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return tls_secret(name, chain, leaf.private_key_pem.bytes(), namespace=namespace)



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
