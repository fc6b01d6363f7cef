"""Ingress backend → Service port → the name its EndpointSlices know it by.

An Ingress names a Service port by number or name. That Service port's
*name* is what the EndpointSlices of the Service carry: the resolver
records it for each backend, and `build.endpoints` turns the slices into
the backend's endpoint set. A backend whose endpoints do not come from
slices (service-upstream's ClusterIP, an ExternalName the proxy resolves)
gets a fixed endpoint set, which only a rebuild changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ingress.build.endpoints import SliceIndex, endpoint_set, slice_problems
from ingress.build.fields import (
    FieldError,
    mapping,
    optional_str,
    port_number,
    required_str,
    sequence,
)
from ingress.build.hosts import canonical_ip, parse_host
from ingress.model import (
    NO_ENDPOINTS,
    Backend,
    BackendProtocol,
    Balancer,
    Endpoint,
    EndpointSet,
    HashKey,
    ObjectRef,
    Problem,
    SessionCookie,
    UpstreamTls,
)
from ingress.store import Body, Key


@dataclass(frozen=True, slots=True)
class _ServicePort:
    ref: str  # how the Ingress named it: "80" or "http" (Backend.port)
    number: int | None
    name: str | None


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """What an Ingress's annotations ask of its backends besides the Service port."""

    balancer: Balancer = Balancer.ROUND_ROBIN
    protocol: BackendProtocol = BackendProtocol.HTTP
    tls: UpstreamTls | None = None
    # service-upstream: the Service's ClusterIP and port instead of its endpoints.
    service_upstream: bool = False


DEFAULT_OPTIONS = BackendOptions()


@dataclass(frozen=True, slots=True)
class _Balancing:
    """How a backend picks endpoints: the algorithm and what it hashes or pins on."""

    balancer: Balancer
    hash_key: HashKey | None = None
    session_cookie: SessionCookie | None = None


_ROUND_ROBIN = _Balancing(Balancer.ROUND_ROBIN)


@dataclass(frozen=True, slots=True)
class _PortTarget:
    """The Service port an Ingress backend names, resolved."""

    name: str  # the EndpointSlice port name
    number: int  # the Service port
    target: int  # its targetPort when a number, else 0


def _external_name(spec: Any, where: str) -> str:
    """ingress-nginx's rules: a DNS name or an IP address, never localhost or loopback."""
    name = optional_str(spec.get("externalName"), f"{where}.externalName").rstrip(".")
    if not name:
        raise FieldError(f"{where}.externalName", "is required", "InvalidService")
    ip = canonical_ip(name)
    if name == "localhost" or (ip is not None and (ip.startswith("127.") or ip == "::1")):
        raise FieldError(f"{where}.externalName", f"{name!r} is a loopback name",
                         "UnsupportedBackend")
    if ip is None:
        try:
            parse_host(name, f"{where}.externalName")
        except FieldError as error:
            raise FieldError(error.field, error.message, "InvalidService") from None
    return name


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


@dataclass(frozen=True, slots=True)
class _Registration:
    """Where one backend's endpoints come from, and what its Service is wrong in."""

    service: Key
    endpoints_key: str
    port_name: str | None  # the EndpointSlice port; None: `fixed` by the Service
    fixed: EndpointSet | None = None
    problem: Problem | None = None


@dataclass(slots=True)
class ResolverJournal:
    """What resolving one Ingress's backends read and registered: to tell whether that
    work still holds in a later build, and to register the same again without doing it."""

    services: dict[Key, Body | None] = field(default_factory=dict)  # read, as they were
    registrations: list[_Registration] = field(default_factory=list)
    read_endpoints: bool = False  # a decision depended on endpoints (never reusable)


class BackendResolver:
    """Resolves Ingress backends against one snapshot of Services and EndpointSlices.

    Each (Service, port, options) becomes one shared `Backend`; the
    Service port name of each backend served from EndpointSlices is
    recorded by Service (`ports`), which is what its endpoint set is
    computed from, now and on every later change of the Service's slices.
    Services of type ExternalName become backends the proxy resolves
    itself, unless `external_names` is off (--disable-svc-external-name):
    then they have no endpoints.
    """

    def __init__(self, services: Mapping[Key, Body], slices: SliceIndex,
                 external_names: bool = True) -> None:
        self._services = services
        self._slices = slices
        self._external_names = external_names
        self._backends: dict[tuple[str, str, str, _Balancing, BackendOptions],
                             tuple[Backend, _Registration]] = {}
        # (namespace, Service) → endpoints key of each backend → the Service port's name.
        self.ports: dict[Key, dict[str, str]] = {}
        # Endpoint sets that come from the Service itself, by endpoints key.
        self._fixed: dict[str, EndpointSet] = {}
        # Services whose endpoints a routing decision read (`has_endpoints`).
        self.routed_on_endpoints: set[Key] = set()
        self.problems: dict[Problem, None] = {}  # in order, each once
        self.journal: ResolverJournal | None = None  # kept while one Ingress is resolved

    def holds(self, journal: ResolverJournal) -> bool:
        """Whether what `journal` read is the same in this build."""
        services = self._services
        return not journal.read_endpoints and all(
            services.get(key) is body for key, body in journal.services.items())

    def replay(self, journal: ResolverJournal) -> None:
        """Register the backends `journal` resolved, as resolving them again would."""
        for registration in journal.registrations:
            self._register(registration)

    def _register(self, registration: _Registration) -> None:
        if registration.port_name is not None:
            self.ports.setdefault(registration.service, {})[registration.endpoints_key] = (
                registration.port_name)
        elif registration.fixed is not None:
            self._fixed[registration.endpoints_key] = registration.fixed
        if registration.problem is not None:
            self.problems[registration.problem] = None

    def resolve(self, namespace: str, raw: Any, field: str, balancer: Balancer,
                hash_key: HashKey | None = None,
                session_cookie: SessionCookie | None = None,
                options: BackendOptions = DEFAULT_OPTIONS) -> Backend:
        """The Backend of an Ingress backend spec at `field`, or FieldError.

        As in ingress-nginx, a session cookie takes precedence over a hash
        key, and either over `balancer`.
        """
        service, port = _parse_backend_ref(raw, field)
        balancing = _Balancing(_algorithm(balancer, hash_key, session_cookie), hash_key,
                               session_cookie)
        return self._backend(namespace, service, port, field, balancing, options)

    def resolve_port(self, namespace: str, service: str, number: int, field: str,
                     balancer: Balancer) -> Backend:
        """The Backend of a Service port named by number (Gateway API backendRefs)."""
        return self._backend(namespace, service, _ServicePort(str(number), number, None), field,
                             _Balancing(balancer), DEFAULT_OPTIONS)

    def first_port(self, namespace: str, service: str) -> Backend:
        """The Backend of a Service's first port (default-backend), or FieldError."""
        body = self._service(namespace, service)
        ports = mapping(body.get("spec"), "spec").get("ports") if body is not None else None
        first = sequence(ports, "spec.ports")[:1]
        if body is not None and not first:
            raise FieldError("spec.ports", f"Service {namespace}/{service} has no ports")
        number = mapping(first[0], "spec.ports[0]").get("port") if first else None
        port = _ServicePort(str(number), number if isinstance(number, int) else None, None)
        return self._backend(namespace, service, port, "", _ROUND_ROBIN, DEFAULT_OPTIONS)

    def placeholder(self, namespace: str, raw: Any, field: str) -> Backend:
        """A Backend without endpoints for a backend spec whose Service is missing."""
        service, port = _parse_backend_ref(raw, field)
        return Backend(namespace, service, port.ref)

    def has_endpoints(self, backend: Backend) -> bool:
        """Whether `backend` has endpoints to send requests to now. A build that decides
        on it must run again when they change: the Service is recorded for that."""
        self.routed_on_endpoints.add((backend.namespace, backend.service))
        if self.journal is not None:
            self.journal.read_endpoints = True
        fixed = self._fixed.get(backend.endpoints_key)
        if fixed is not None:
            return bool(fixed.usable)
        service = (backend.namespace, backend.service)
        port_name = self.ports.get(service, {}).get(backend.endpoints_key)
        return port_name is not None and bool(
            endpoint_set(self._slices.get(service), port_name).usable)

    def endpoint_sets(self) -> tuple[dict[str, EndpointSet], list[Problem]]:
        """The endpoints of every backend resolved, and the problems of the slices read."""
        sets = dict(self._fixed)
        used = []
        for service, ports in self.ports.items():
            slices = self._slices.get(service)
            if slices:
                used.append(slices)
            for key, port_name in ports.items():
                sets[key] = endpoint_set(slices, port_name)
        return sets, slice_problems(used)

    def _backend(self, namespace: str, service: str, port: _ServicePort, field: str,
                 balancing: _Balancing, options: BackendOptions) -> Backend:
        memo_key = (namespace, service, port.ref, balancing, options)
        built = self._backends.get(memo_key)
        journal = self.journal
        if journal is not None:
            journal.services[namespace, service] = self._services.get((namespace, service))
        if built is None:
            built = self._backends[memo_key] = self._build_backend(
                namespace, service, port, field, balancing, options)
            self._register(built[1])
        if journal is not None:
            registrations = journal.registrations
            # Paths to the same backend, one after the other: registering once is the same.
            if not registrations or registrations[-1] is not built[1]:
                registrations.append(built[1])
        return built[0]

    def _service(self, namespace: str, service: str) -> Body | None:
        body = self._services.get((namespace, service))
        if self.journal is not None:
            self.journal.services[namespace, service] = body
        return body

    def _build_backend(self, namespace: str, service: str, port: _ServicePort, field: str,
                       balancing: _Balancing, options: BackendOptions
                       ) -> tuple[Backend, _Registration]:
        body = self._service(namespace, service)
        if body is None:
            raise FieldError(f"{field}.service.name", f"Service {namespace}/{service} not found",
                             "ServiceNotFound")
        where = f"Service {namespace}/{service}"
        shared: dict[str, Any] = {
            "balancer": balancing.balancer, "hash_key": balancing.hash_key,
            "session_cookie": balancing.session_cookie, "protocol": options.protocol,
            "tls": options.tls,
        }
        try:
            spec = mapping(body.get("spec"), "spec")
            if spec.get("type") == "ExternalName":
                name, number, problem = self._external(namespace, service, spec, port)
                external = Backend(namespace, service, port.ref, external_name=name,
                                   external_port=number, **shared)
                return external, _Registration((namespace, service), external.endpoints_key,
                                               None, NO_ENDPOINTS, problem)
            target = self._service_port(spec, port)
        except FieldError as error:
            raise FieldError(f"{field}.service", f"{where}: {error}", error.reason) from None
        if target is None:
            kind = "number" if port.number is not None else "name"
            raise FieldError(f"{field}.service.port.{kind}", f"{where} has no port {port.ref!r}",
                             "ServicePortNotFound")
        cluster_ip = canonical_ip(optional_str(spec.get("clusterIP"), "spec.clusterIP"))
        if options.service_upstream and cluster_ip is not None:
            upstream = Backend(namespace, service, port.ref, cluster_ip=True, **shared)
            fixed = EndpointSet((Endpoint(cluster_ip, target.number),))
            return upstream, _Registration((namespace, service), upstream.endpoints_key, None,
                                           fixed)
        backend = Backend(namespace, service, port.ref, **shared)
        return backend, _Registration((namespace, service), backend.endpoints_key, target.name)

    def _service_port(self, spec: Mapping[str, Any], port: _ServicePort) -> _PortTarget | None:
        for i, raw in enumerate(sequence(spec.get("ports"), "spec.ports")):
            entry = mapping(raw, f"spec.ports[{i}]")
            name = optional_str(entry.get("name"), f"spec.ports[{i}].name")
            number = entry.get("port")
            if (port.number is not None and number == port.number) or (
                port.name is not None and name == port.name
            ):
                target = entry.get("targetPort")
                return _PortTarget(name, number if isinstance(number, int) else 0,
                                   target if isinstance(target, int) else 0)
        return None

    def _external(self, namespace: str, service: str, spec: Mapping[str, Any],
                  port: _ServicePort) -> tuple[str, int, Problem | None]:
        """Backend fields of an ExternalName Service, with ingress-nginx's choice of port:
        the named or numbered Service port's targetPort (else its port), else the number;
        and the problem when ExternalNames are disabled."""
        if not self._external_names:
            return "", 0, Problem(
                ObjectRef("Service", namespace, service), "spec.type",
                "ExternalName Services are disabled (--disable-svc-external-name): "
                "its routes answer 503", "UnsupportedBackend")
        name = _external_name(spec, "spec")
        target = self._service_port(spec, port)
        number = (target.target or target.number) if target is not None else port.number
        if not number:
            raise FieldError("spec.ports", f"has no port {port.ref!r}", "ServicePortNotFound")
        return name, number, None
