"""Gateways of our classes and their listeners: what each accepts, and their status.

Every listener of protocol HTTP is served on Portico's HTTP port and every
HTTPS listener on its HTTPS port, whatever port number the listener names
(a Service in front maps the listener ports). The number still counts for
`parentRefs[].port`, for conflicts between listeners, and in what clients
see (a redirect's Location).

A listener is *programmed* (routes attached to it are served) when it is
accepted, not conflicted, and, for HTTPS, has a usable certificate. A broken
listener or Gateway is reported in status and never stops the others.

Every Gateway of our classes is merged onto Portico's one address, so the
listeners of all of them form one set, which must be distinct (spec: "these
rules also apply" to merged Gateways). Between two Gateways, the older one
(creationTimestamp, then namespace/name) keeps what both ask for, as
GEP-1713 orders merged listener sets: the newer listener with the same
protocol and hostname (whatever its port number: both are served on one
Portico port) or the same port number with another protocol (the Service
in front maps a port to one of Portico's) is Conflicted and not served.
Hostnames that only overlap (`*.example.com` and `a.example.com`, or none
and `a.example.com`) are distinct: the most specific takes its requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingress.build.certificates import CertificateLoader
from ingress.build.fields import (
    FieldError,
    mapping,
    optional_str,
    port_number,
    required_str,
    sequence,
)
from ingress.build.gateway.classes import GatewayClasses
from ingress.build.gateway.grants import ReferenceGrants
from ingress.build.gateway.hostnames import parse_hostname
from ingress.build.gateway.namespaces import LabelSelector, Namespaces, parse_selector
from ingress.build.gateway.objects import age, generation, mapping_of
from ingress.build.gateway.status import (
    FALSE,
    GROUP,
    TRUE,
    Condition,
    GatewayStatus,
    ListenerStatus,
)
from ingress.model import Certificate, ObjectRef, Problem
from ingress.store import Body, Key

SCHEMES = {"HTTP": "http", "HTTPS": "https"}
ROUTE_KINDS = ("HTTPRoute",)
_FROM = ("Same", "All", "Selector")


@dataclass(frozen=True, slots=True)
class AllowedRoutes:
    source: str  # Same, All or Selector
    selector: LabelSelector | None = None

    def admits(self, namespace: str, gateway_namespace: str, namespaces: Namespaces) -> bool:
        if self.source == "All":
            return True
        if self.source == "Same":
            return namespace == gateway_namespace
        return self.selector is not None and self.selector.selects(namespaces.labels(namespace))


@dataclass(slots=True)
class Listener:
    gateway: ObjectRef
    name: str
    port: int
    protocol: str
    hostname: str = ""  # '' = any
    allowed: AllowedRoutes = field(default_factory=lambda: AllowedRoutes("Same"))
    kinds: tuple[str, ...] = ROUTE_KINDS  # route kinds it takes
    certificate: Certificate | None = None
    # (reason, message) when not Accepted / ResolvedRefs False / Conflicted
    rejected: tuple[str, str] | None = None
    unresolved: tuple[str, str] | None = None
    conflict: tuple[str, str] | None = None
    attached_routes: int = 0

    @property
    def secure(self) -> bool:
        return self.protocol == "HTTPS"

    @property
    def scheme(self) -> str:
        return SCHEMES[self.protocol]

    @property
    def programmed(self) -> bool:
        """Routes attached here are served."""
        return (self.rejected is None and self.conflict is None
                and (not self.secure or self.certificate is not None))

    def status(self, gen: int) -> ListenerStatus:
        unserved = self.conflict or (
            "Invalid", "not served: see the Accepted, ResolvedRefs and Conflicted conditions")
        conditions = [
            _condition("Accepted", self.rejected or self.conflict, "Accepted", gen),
            _condition("Programmed", None if self.programmed else unserved, "Programmed", gen),
            _condition("ResolvedRefs", self.unresolved, "ResolvedRefs", gen),
        ]
        if self.conflict is not None:
            conditions.append(Condition("Conflicted", TRUE, *self.conflict, gen))
        else:
            conditions.append(Condition("Conflicted", FALSE, "NoConflicts", "", gen))
        return ListenerStatus(self.name, self.kinds if self.rejected is None else (),
                              self.attached_routes, tuple(conditions))


def _condition(kind: str, failure: tuple[str, str] | None, reason: str, gen: int) -> Condition:
    if failure is None:
        return Condition(kind, TRUE, reason, "", gen)
    return Condition(kind, FALSE, *failure, gen)


@dataclass(slots=True)
class Gateway:
    ref: ObjectRef
    generation: int
    listeners: list[Listener]
    created: str = ""  # creationTimestamp: the older Gateway keeps a merged listener
    # (reason, message) when the Gateway as a whole is not Accepted
    rejected: tuple[str, str] | None = None

    @property
    def accepted(self) -> bool:
        """Not rejected as a whole, and with one listener at least that is valid and distinct."""
        return self.rejected is None and any(
            ls.rejected is None and ls.conflict is None for ls in self.listeners)

    def status(self) -> GatewayStatus:
        gen = self.generation
        invalid = [f"{ls.name} ({failure[0]})" for ls in self.listeners
                   if (failure := ls.rejected or ls.conflict) is not None]
        valid = [ls.name for ls in self.listeners if ls.rejected is None and ls.conflict is None]
        if self.rejected is not None:
            accepted = Condition("Accepted", FALSE, *self.rejected, gen)
        elif not self.accepted:
            accepted = Condition("Accepted", FALSE, "ListenersNotValid",
                                 f"no listener is valid: {', '.join(invalid)}", gen)
        elif invalid:
            accepted = Condition("Accepted", TRUE, "ListenersNotValid",
                                 f"not valid: {', '.join(invalid)}; accepted: {', '.join(valid)}",
                                 gen)
        else:
            accepted = Condition("Accepted", TRUE, "Accepted", "", gen)
        if self.accepted and any(ls.programmed for ls in self.listeners):
            programmed = Condition("Programmed", TRUE, "Programmed", "", gen)
        else:
            programmed = Condition("Programmed", FALSE, "Invalid", "no listener is served", gen)
        return GatewayStatus(self.ref, (accepted, programmed),
                             tuple(ls.status(gen) for ls in self.listeners))


@dataclass(slots=True)
class Gateways:
    by_key: dict[Key, Gateway] = field(default_factory=dict)
    referenced_secrets: set[Key] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


class _GatewayParser:
    def __init__(self, grants: ReferenceGrants, loader: CertificateLoader,
                 result: Gateways) -> None:
        self._grants = grants
        self._loader = loader
        self._result = result

    def parse(self, key: Key, body: Body, class_problem: str | None) -> Gateway:
        ref = ObjectRef("Gateway", *key)
        gateway = Gateway(ref, generation(body), [], age(body))
        spec = mapping(body.get("spec"), "spec")
        for i, raw in enumerate(sequence(spec.get("listeners"), "spec.listeners")):
            at = f"spec.listeners[{i}]"
            try:
                gateway.listeners.append(self._listener(ref, at, mapping(raw, at)))
            except FieldError as error:  # no name or port: no status to report it in
                self._result.problems.append(error.problem(ref))
        _mark_conflicts(gateway.listeners)
        infrastructure = mapping(spec.get("infrastructure"), "spec.infrastructure")
        if class_problem is not None:
            gateway.rejected = ("Invalid", class_problem)
        elif infrastructure.get("parametersRef") is not None:
            gateway.rejected = ("InvalidParameters", "Portico takes no parameters: remove "
                                "spec.infrastructure.parametersRef")
        elif sequence(spec.get("addresses"), "spec.addresses"):
            gateway.rejected = ("UnsupportedAddress", "a Gateway's address comes from "
                                "--publish-address or --publish-service: remove spec.addresses")
        return gateway

    def _listener(self, ref: ObjectRef, at: str, entry: Mapping[str, Any]) -> Listener:
        listener = Listener(
            ref,
            required_str(entry.get("name"), f"{at}.name"),
            port_number(entry.get("port"), f"{at}.port"),
            optional_str(entry.get("protocol"), f"{at}.protocol"),
        )
        if listener.protocol not in SCHEMES:
            listener.rejected = ("UnsupportedProtocol", f"protocol {listener.protocol!r} is not "
                                 "supported (HTTP, HTTPS)")
            return listener
        try:
            listener.hostname = parse_hostname(
                optional_str(entry.get("hostname"), f"{at}.hostname"), f"{at}.hostname")
            self._allowed_routes(listener, at, mapping(entry.get("allowedRoutes"),
                                                       f"{at}.allowedRoutes"))
            if listener.secure:
                self._tls(listener, at, mapping(entry.get("tls"), f"{at}.tls"))
        except FieldError as error:
            listener.rejected = ("UnsupportedValue", f"{error.field}: {error.message}")
        return listener

    def _allowed_routes(self, listener: Listener, at: str, allowed: Mapping[str, Any]) -> None:
        at = f"{at}.allowedRoutes"
        namespaces = mapping(allowed.get("namespaces"), f"{at}.namespaces")
        source = optional_str(namespaces.get("from"), f"{at}.namespaces.from") or "Same"
        if source not in _FROM:
            raise FieldError(f"{at}.namespaces.from", f"{source!r} is not Same, All or Selector")
        selector = None
        if source == "Selector":
            selector = parse_selector(namespaces.get("selector"), f"{at}.namespaces.selector")
        listener.allowed = AllowedRoutes(source, selector)
        raw_kinds = sequence(allowed.get("kinds"), f"{at}.kinds")
        if not raw_kinds:
            return
        kinds, invalid = [], []
        for i, raw in enumerate(raw_kinds):
            entry = mapping(raw, f"{at}.kinds[{i}]")
            group = optional_str(entry.get("group"), f"{at}.kinds[{i}].group") or GROUP
            kind = optional_str(entry.get("kind"), f"{at}.kinds[{i}].kind")
            if group == GROUP and kind in ROUTE_KINDS:
                kinds.append(kind)
            else:
                invalid.append(f"{group}/{kind}")
        listener.kinds = tuple(dict.fromkeys(kinds))
        if invalid:
            listener.unresolved = ("InvalidRouteKinds", f"route kinds not supported: "
                                   f"{', '.join(invalid)} (supported: HTTPRoute)")

    def _tls(self, listener: Listener, at: str, tls: Mapping[str, Any]) -> None:
        at = f"{at}.tls"
        mode = optional_str(tls.get("mode"), f"{at}.mode") or "Terminate"
        if mode != "Terminate":
            raise FieldError(f"{at}.mode", f"{mode!r}: an HTTPS listener terminates TLS")
        refs = sequence(tls.get("certificateRefs"), f"{at}.certificateRefs")
        if not refs:
            listener.unresolved = ("InvalidCertificateRef", "an HTTPS listener needs a "
                                   "certificateRef")
        for i, raw in enumerate(refs):
            failure = self._certificate(listener, f"{at}.certificateRefs[{i}]", raw)
            if failure is not None and listener.unresolved is None:
                listener.unresolved = failure

    def _certificate(self, listener: Listener, at: str, raw: Any) -> tuple[str, str] | None:
        ref = mapping(raw, at)
        group = optional_str(ref.get("group"), f"{at}.group")
        kind = optional_str(ref.get("kind"), f"{at}.kind") or "Secret"
        name = required_str(ref.get("name"), f"{at}.name")
        namespace = optional_str(ref.get("namespace"), f"{at}.namespace") or (
            listener.gateway.namespace)
        if group not in ("", "core") or kind != "Secret":
            return ("InvalidCertificateRef", f"{at}: {group or 'core'}/{kind} is not a Secret")
        source = (GROUP, "Gateway", listener.gateway.namespace)
        if not self._grants.allows(source, ("", "Secret"), namespace, name):
            return ("RefNotPermitted", f"{at}: no ReferenceGrant in {namespace} allows "
                    f"Gateways of {listener.gateway.namespace} to use Secret {name}")
        self._result.referenced_secrets.add((namespace, name))
        loaded = self._loader.load(namespace, name)
        if isinstance(loaded, FieldError):
            detail = f"{loaded.field}: {loaded.message}" if loaded.field else loaded.message
            return ("InvalidCertificateRef", f"{at}: Secret {namespace}/{name}: {detail}")
        if listener.certificate is None:
            listener.certificate = loaded
        return None


def _mark_conflicts(listeners: list[Listener]) -> None:
    """Listeners of one port must share a protocol and differ in hostname (spec: distinct)."""
    usable = [ls for ls in listeners if ls.rejected is None]
    for listener in usable:
        same_port = [other for other in usable if other.port == listener.port]
        if any(other.protocol != listener.protocol for other in same_port):
            listener.conflict = ("ProtocolConflict", f"port {listener.port} has listeners of "
                                 "different protocols")
        elif any(other is not listener and other.protocol == listener.protocol
                 and other.hostname == listener.hostname for other in same_port):
            listener.conflict = ("HostnameConflict", f"another {listener.protocol} listener on "
                                 f"port {listener.port} has hostname {listener.hostname or '*'!r}")


def _winner(listener: Listener, loser: Listener) -> str:
    """The listener that keeps a claim, named only to a Gateway of its own namespace (the
    owner of the newer Gateway may not see the other namespace: GEP-1713)."""
    if listener.gateway.namespace != loser.gateway.namespace:
        return "a listener of an older Gateway in another namespace"
    return f"listener {listener.name} of the older Gateway {listener.gateway.name}"


def _mark_merged_conflicts(gateways: list[Gateway]) -> None:
    """Listeners of different Gateways that Portico cannot keep apart: the older Gateway's
    listener keeps the claim and the newer one is Conflicted."""
    by_name: dict[tuple[str, str], Listener] = {}  # (protocol, hostname): Portico's port
    by_port: dict[int, Listener] = {}  # listener port: what the Service in front maps
    for gateway in sorted(gateways, key=lambda g: (g.created, g.ref.namespace, g.ref.name)):
        if gateway.rejected is not None:
            continue
        usable = [ls for ls in gateway.listeners if ls.rejected is None and ls.conflict is None]
        for listener in usable:
            port = by_port.get(listener.port)
            if port is not None and port.gateway != gateway.ref and (
                    port.protocol != listener.protocol):
                listener.conflict = ("ProtocolConflict", f"{_winner(port, listener)} takes "
                                     f"port {listener.port} with protocol {port.protocol}")
                continue
            name = by_name.get((listener.protocol, listener.hostname))
            if name is not None and name.gateway != gateway.ref:
                listener.conflict = ("HostnameConflict", f"{_winner(name, listener)} takes "
                                     f"hostname {listener.hostname or '*'!r} over "
                                     f"{listener.protocol} (all Gateways share one address)")
        for listener in usable:
            if listener.conflict is None:
                by_port.setdefault(listener.port, listener)
                by_name.setdefault((listener.protocol, listener.hostname), listener)


def select_gateways(
    bodies: Mapping[Key, Body],
    classes: GatewayClasses,
    grants: ReferenceGrants,
    loader: CertificateLoader,
) -> Gateways:
    """The Gateways of our GatewayClasses, parsed; the others are not ours to touch."""
    result = Gateways()
    parser = _GatewayParser(grants, loader, result)
    for key, body in sorted(bodies.items()):
        class_name = str(mapping_of(body.get("spec")).get("gatewayClassName"))
        if class_name in classes.accepted:
            class_problem = None
        elif class_name in classes.rejected:
            class_problem = f"GatewayClass {class_name} is not accepted: " + (
                classes.rejected[class_name])
        else:
            continue
        ref = ObjectRef("Gateway", *key)
        try:
            result.by_key[key] = parser.parse(key, body, class_problem)
        except FieldError as error:
            result.problems.append(error.problem(ref))
        except Exception as error:  # one broken object must not stop the build
            result.problems.append(Problem(ref, "", f"cannot be processed: {error!r}",
                                           "InternalError"))
    _mark_merged_conflicts(list(result.by_key.values()))
    return result
