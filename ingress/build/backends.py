"""Ingress backend → Service port → EndpointSlice endpoints.

An Ingress names a Service port by number or name. That Service port's
*name* is what the EndpointSlices of the Service (label
`kubernetes.io/service-name`) carry, with the pod-side port number
(targetPort resolved by the EndpointSlice controller, so never assumed to
equal the Service port). Endpoints come from every slice of the Service.

Conditions follow the EndpointSlice API: `ready` absent means ready,
`serving` absent means whatever `ready` is, `terminating` absent means
false. Terminating endpoints never receive new traffic unless nothing else
can (they become `Backend.fallback` while still serving).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ingress.build.fields import (
    FieldError,
    mapping,
    optional_str,
    port_number,
    required_str,
    sequence,
)
from ingress.build.hosts import canonical_ip
from ingress.model import (
    Backend,
    Balancer,
    Endpoint,
    HashKey,
    ObjectRef,
    Problem,
    SessionCookie,
)
from ingress.store import Body, Key

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_IP_ADDRESS_TYPES = ("IPv4", "IPv6")


@dataclass(frozen=True, slots=True)
class _SliceEndpoint:
    addresses: tuple[str, ...]
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True, slots=True)
class _Slice:
    ports: Mapping[str, int]  # EndpointSlice port name ('' when unnamed) → number
    endpoints: tuple[_SliceEndpoint, ...]


_EMPTY_SLICE = _Slice({}, ())


def _slice_service(body: Body) -> str | None:
    metadata = body.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    service = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, Mapping) else None
    return service if isinstance(service, str) and service else None


def _condition(conditions: Mapping[str, Any], name: str, default: bool, field: str) -> bool:
    value = conditions.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise FieldError(f"{field}.conditions.{name}", f"must be true or false, not {value!r}",
                         "InvalidEndpointSlice")
    return value


def _parse_endpoint(raw: Any, field: str) -> _SliceEndpoint:
    endpoint = mapping(raw, field)
    addresses = []
    for i, address in enumerate(sequence(endpoint.get("addresses"), f"{field}.addresses")):
        where = f"{field}.addresses[{i}]"
        text = optional_str(address, where)
        address = canonical_ip(text)
        if address is None:
            raise FieldError(where, f"{text!r} is not an IP address", "InvalidEndpointSlice")
        addresses.append(address)
    conditions = mapping(endpoint.get("conditions"), f"{field}.conditions")
    ready = _condition(conditions, "ready", True, field)
    return _SliceEndpoint(
        addresses=tuple(addresses),
        ready=ready,
        serving=_condition(conditions, "serving", ready, field),
        terminating=_condition(conditions, "terminating", False, field),
    )


def _parse_slice(body: Body, problems: list[Problem], ref: ObjectRef) -> _Slice:
    """The usable part of one EndpointSlice; each unusable part becomes a problem."""
    address_type = body.get("addressType")
    if address_type is not None and address_type not in _IP_ADDRESS_TYPES:
        return _EMPTY_SLICE  # FQDN slices are not pod addresses
    def report(error: FieldError) -> None:
        problems.append(Problem(ref, error.field, error.message, "InvalidEndpointSlice"))

    try:
        raw_ports = sequence(body.get("ports"), "ports")
        raw_endpoints = sequence(body.get("endpoints"), "endpoints")
    except FieldError as error:
        report(error)
        return _EMPTY_SLICE
    ports: dict[str, int] = {}
    for i, raw in enumerate(raw_ports):
        try:
            port = mapping(raw, f"ports[{i}]")
            name = optional_str(port.get("name"), f"ports[{i}].name")
            ports[name] = port_number(port.get("port"), f"ports[{i}].port")
        except FieldError as error:
            report(error)
    endpoints = []
    for i, raw in enumerate(raw_endpoints):
        try:
            endpoints.append(_parse_endpoint(raw, f"endpoints[{i}]"))
        except FieldError as error:
            report(error)
    return _Slice(ports, tuple(endpoints))


@dataclass(frozen=True, slots=True)
class _ServicePort:
    ref: str  # how the Ingress named it: "80" or "http" (Backend.port)
    number: int | None
    name: str | None


def _parse_backend_ref(raw: Any, field: str) -> tuple[str, _ServicePort]:
    backend = mapping(raw, field)
    if backend.get("resource") is not None:
        raise FieldError(f"{field}.resource", "resource backends are not supported",
                         "UnsupportedBackend")
    service = mapping(backend.get("service"), f"{field}.service")
    if not service:
        raise FieldError(f"{field}.service", "is required")
    name = required_str(service.get("name"), f"{field}.service.name")
    port = mapping(service.get("port"), f"{field}.service.port")
    number, port_name = port.get("number"), port.get("name")
    if number is not None and port_name is not None:
        raise FieldError(f"{field}.service.port", "set number or name, not both")
    if number is not None:
        value = port_number(number, f"{field}.service.port.number")
        return name, _ServicePort(str(value), value, None)
    text = required_str(port_name, f"{field}.service.port.name")
    return name, _ServicePort(text, None, text)


def _algorithm(
    balancer: Balancer, hash_key: HashKey | None, session_cookie: SessionCookie | None
) -> Balancer:
    if session_cookie is not None:
        return Balancer.STICKY_PERSISTENT if session_cookie.persistent else Balancer.STICKY_BALANCED
    if hash_key is not None:
        return Balancer.CHASH_SUBSET if hash_key.subset_size else Balancer.CHASH
    return balancer


def with_session_cookie(backend: Backend, session_cookie: SessionCookie | None) -> Backend:
    """A backend without a session cookie, balancing with `session_cookie` (a canary
    taking its mainline's affinity)."""
    if session_cookie is None:
        return backend
    return replace(backend, balancer=_algorithm(backend.balancer, backend.hash_key,
                                                session_cookie),
                   session_cookie=session_cookie)


class BackendResolver:
    """Resolves Ingress backends against one snapshot of Services and EndpointSlices.

    Slices are grouped by Service once; each slice is parsed at most once
    and each (Service, port, balancer) becomes one shared `Backend`.
    """

    def __init__(self, services: Mapping[Key, Body], slices: Mapping[Key, Body]) -> None:
        self._services = services
        self._slices: dict[Key, list[tuple[Key, Body]]] = {}
        for key, body in slices.items():
            service = _slice_service(body)
            if service is not None:
                self._slices.setdefault((key[0], service), []).append((key, body))
        self._parsed: dict[Key, _Slice] = {}
        self._backends: dict[
            tuple[str, str, str, Balancer, HashKey | None, SessionCookie | None], Backend] = {}
        # Problems of EndpointSlices (each reported once per build).
        self.problems: list[Problem] = []

    def resolve(self, namespace: str, raw: Any, field: str, balancer: Balancer,
                hash_key: HashKey | None = None,
                session_cookie: SessionCookie | None = None) -> Backend:
        """The Backend of an Ingress backend spec at `field`, or FieldError.

        As in ingress-nginx, a session cookie takes precedence over a hash
        key, and either over `balancer`.
        """
        service, port = _parse_backend_ref(raw, field)
        return self._backend(namespace, service, port, field, balancer, hash_key, session_cookie)

    def resolve_port(self, namespace: str, service: str, number: int, field: str,
                     balancer: Balancer) -> Backend:
        """The Backend of a Service port named by number (Gateway API backendRefs)."""
        return self._backend(namespace, service, _ServicePort(str(number), number, None), field,
                             balancer, None, None)

    def _backend(self, namespace: str, service: str, port: _ServicePort, field: str,
                 balancer: Balancer, hash_key: HashKey | None,
                 session_cookie: SessionCookie | None) -> Backend:
        memo_key = (namespace, service, port.ref, balancer, hash_key, session_cookie)
        backend = self._backends.get(memo_key)
        if backend is None:
            port_name = self._service_port_name(namespace, service, port, field)
            endpoints, fallback = self._endpoints(namespace, service, port_name)
            backend = Backend(namespace, service, port.ref, endpoints, fallback,
                              _algorithm(balancer, hash_key, session_cookie), hash_key,
                              session_cookie)
            self._backends[memo_key] = backend
        return backend

    def _service_port_name(
        self, namespace: str, service: str, port: _ServicePort, field: str
    ) -> str:
        body = self._services.get((namespace, service))
        if body is None:
            raise FieldError(f"{field}.service.name", f"Service {namespace}/{service} not found",
                             "ServiceNotFound")
        where = f"Service {namespace}/{service}"
        try:
            spec = mapping(body.get("spec"), "spec")
            if spec.get("type") == "ExternalName":
                raise FieldError("spec.type", "ExternalName Services are not supported",
                                 "UnsupportedBackend")
            for i, raw in enumerate(sequence(spec.get("ports"), "spec.ports")):
                entry = mapping(raw, f"spec.ports[{i}]")
                name = optional_str(entry.get("name"), f"spec.ports[{i}].name")
                if (port.number is not None and entry.get("port") == port.number) or (
                    port.name is not None and name == port.name
                ):
                    return name
        except FieldError as error:
            raise FieldError(f"{field}.service", f"{where}: {error}", error.reason) from None
        kind = "number" if port.number is not None else "name"
        raise FieldError(f"{field}.service.port.{kind}", f"{where} has no port {port.ref!r}",
                         "ServicePortNotFound")

    def _endpoints(
        self, namespace: str, service: str, port_name: str
    ) -> tuple[tuple[Endpoint, ...], tuple[Endpoint, ...]]:
        ready: dict[tuple[str, int], Endpoint] = {}
        fallback: dict[tuple[str, int], Endpoint] = {}
        for key, body in self._slices.get((namespace, service), ()):
            parsed = self._parsed.get(key)
            if parsed is None:
                ref = ObjectRef("EndpointSlice", key[0], key[1])
                parsed = self._parsed[key] = _parse_slice(body, self.problems, ref)
            number = parsed.ports.get(port_name)
            if number is None:
                continue
            for ep in parsed.endpoints:
                if ep.terminating:
                    if not ep.serving:
                        continue
                    target = fallback
                elif ep.ready:
                    target = ready
                else:
                    continue
                for ip in ep.addresses:
                    target[(ip, number)] = Endpoint(ip, number)
        for address in ready:
            fallback.pop(address, None)
        return (
            tuple(ready[a] for a in sorted(ready)),
            tuple(fallback[a] for a in sorted(fallback)),
        )
