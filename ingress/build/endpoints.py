"""EndpointSlices → the endpoint set of each backend, apart from the routes.

A backend's endpoints come from every EndpointSlice of its Service (label
`kubernetes.io/service-name`), at the slice port whose name is the Service
port's name, with the pod-side number the slice gives (targetPort resolved
by the EndpointSlice controller, so never assumed to equal the Service
port).

Conditions follow the EndpointSlice API: `ready` absent means ready,
`serving` absent means whatever `ready` is, `terminating` absent means
false. Terminating endpoints never receive new traffic unless nothing else
can (they become `EndpointSet.fallback` while still serving).

Both paths that produce endpoint sets use these functions: a full build
computes the set of every backend it resolved, and an EndpointSlice change
recomputes only the sets of that slice's Service (`ingress.endpoint_changes`).
Each slice is parsed once, when it changes, into a `ParsedSlice` that
already holds the endpoint set of each of its ports, so that the common
Service with a single slice costs a lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ingress.build.fields import FieldError, mapping, optional_str, port_number, sequence
from ingress.build.hosts import canonical_ip
from ingress.model import NO_ENDPOINTS, Endpoint, EndpointSet, ObjectRef, Problem
from ingress.store import Body, Key

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_IP_ADDRESS_TYPES = ("IPv4", "IPv6")


@dataclass(frozen=True, slots=True)
class ParsedSlice:
    """The usable part of one EndpointSlice."""

    service: str | None  # its Service's name; None: the slice belongs to no Service
    ports: Mapping[str, EndpointSet]  # by slice port name ('' when unnamed)
    problems: tuple[Problem, ...] = ()


SliceIndex = Mapping[Key, Mapping[str, ParsedSlice]]
"""(namespace, Service name) → slice name → its parsed EndpointSlice."""


@dataclass(frozen=True, slots=True)
class _SliceEndpoint:
    addresses: tuple[str, ...]
    ready: bool
    serving: bool
    terminating: bool


def slice_service(body: Body) -> str | None:
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


def parse_slice(key: Key, body: Body) -> ParsedSlice:
    """One EndpointSlice; each unusable part of it becomes a problem and is left out."""
    service = slice_service(body)
    address_type = body.get("addressType")
    if service is None or (address_type is not None and address_type not in _IP_ADDRESS_TYPES):
        return ParsedSlice(service, {})  # FQDN slices are not pod addresses
    ref = ObjectRef("EndpointSlice", key[0], key[1])
    problems: list[Problem] = []

    def report(error: FieldError) -> None:
        problems.append(Problem(ref, error.field, error.message, "InvalidEndpointSlice"))

    try:
        raw_ports = sequence(body.get("ports"), "ports")
        raw_endpoints = sequence(body.get("endpoints"), "endpoints")
    except FieldError as error:
        report(error)
        return ParsedSlice(service, {}, tuple(problems))
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
    sets = {name: _endpoint_set(endpoints, number) for name, number in ports.items()}
    return ParsedSlice(service, sets, tuple(problems))


def _endpoint_set(endpoints: list[_SliceEndpoint], port: int) -> EndpointSet:
    ready: dict[tuple[str, int], Endpoint] = {}
    fallback: dict[tuple[str, int], Endpoint] = {}
    for ep in endpoints:
        if ep.terminating:
            if not ep.serving:
                continue
            target = fallback
        elif ep.ready:
            target = ready
        else:
            continue
        for ip in ep.addresses:
            target[(ip, port)] = Endpoint(ip, port)
    return _sorted(ready, fallback)


def _sorted(ready: dict[tuple[str, int], Endpoint],
            fallback: dict[tuple[str, int], Endpoint]) -> EndpointSet:
    for address in ready:
        fallback.pop(address, None)
    if not ready and not fallback:
        return NO_ENDPOINTS
    return EndpointSet(tuple(ready[a] for a in sorted(ready)),
                       tuple(fallback[a] for a in sorted(fallback)))


def index_slices(slices: Mapping[Key, Body]) -> dict[Key, dict[str, ParsedSlice]]:
    """Every EndpointSlice parsed, grouped by Service."""
    index: dict[Key, dict[str, ParsedSlice]] = {}
    for key, body in slices.items():
        parsed = parse_slice(key, body)
        if parsed.service is not None:
            index.setdefault((key[0], parsed.service), {})[key[1]] = parsed
    return index


def endpoint_set(slices: Mapping[str, ParsedSlice] | None, port_name: str) -> EndpointSet:
    """The endpoints of a Service port from the Service's slices, deduplicated and sorted."""
    if not slices:
        return NO_ENDPOINTS
    if len(slices) == 1:  # most Services: the slice's own set, the same object every time
        (only,) = slices.values()
        return only.ports.get(port_name, NO_ENDPOINTS)
    ready: dict[tuple[str, int], Endpoint] = {}
    fallback: dict[tuple[str, int], Endpoint] = {}
    for parsed in slices.values():
        found = parsed.ports.get(port_name)
        if found is not None:
            ready.update((e.address, e) for e in found.ready)
            fallback.update((e.address, e) for e in found.fallback)
    return _sorted(ready, fallback)


def slice_problems(slices: Iterable[Mapping[str, ParsedSlice]]) -> list[Problem]:
    """The problems of these Services' slices, in slice name order."""
    return [problem for by_name in slices
            for _, parsed in (by_name.items() if len(by_name) == 1 else sorted(by_name.items()))
            for problem in parsed.problems]
