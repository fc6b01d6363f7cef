"""HTTPRoute backendRefs → the backends of a rule, and what could not be resolved.

A reference to a Service in another namespace needs a ReferenceGrant there.
An unresolved reference keeps its weight: its share of requests is
answered 500, as the spec requires, and the route's ResolvedRefs condition
names it (InvalidKind, RefNotPermitted or BackendNotFound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingress.build.backends import BackendResolver
from ingress.build.fields import FieldError, mapping, optional_str, required_str
from ingress.build.gateway.grants import ReferenceGrants
from ingress.build.gateway.status import GROUP
from ingress.model import Backend, Balancer, ObjectRef

_MAX_WEIGHT = 1_000_000


@dataclass(frozen=True, slots=True)
class Unresolved:
    field: str
    reason: str  # InvalidKind, RefNotPermitted or BackendNotFound
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(slots=True)
class ResolvedRef:
    backend: Backend | None
    weight: int
    name: str  # the Service's name, for the metrics of a route whose backends all failed
    unresolved: Unresolved | None = None


@dataclass(slots=True)
class BackendRefs:
    """Resolves the backendRefs of one HTTPRoute."""

    route: ObjectRef
    resolver: BackendResolver
    grants: ReferenceGrants
    unresolved: list[Unresolved] = field(default_factory=list)

    def resolve(self, raw: Any, at: str) -> ResolvedRef:
        ref = mapping(raw, at)
        name = required_str(ref.get("name"), f"{at}.name")
        weight = ref.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or not (
                0 <= weight <= _MAX_WEIGHT):
            raise FieldError(f"{at}.weight", f"must be 0-{_MAX_WEIGHT}, not {weight!r}",
                             "UnsupportedValue")
        problem = self._problem(ref, at, name)
        if problem is not None:
            self.unresolved.append(problem)
            return ResolvedRef(None, weight, name, problem)
        namespace = optional_str(ref.get("namespace"), f"{at}.namespace") or self.route.namespace
        try:
            backend = self.resolver.resolve_port(namespace, name, ref["port"], at,
                                                 Balancer.ROUND_ROBIN)
        except FieldError as error:
            problem = Unresolved(at, "BackendNotFound", error.message)
            self.unresolved.append(problem)
            return ResolvedRef(None, weight, name, problem)
        return ResolvedRef(backend, weight, name)

    def _problem(self, ref: Any, at: str, name: str) -> Unresolved | None:
        group = optional_str(ref.get("group"), f"{at}.group")
        kind = optional_str(ref.get("kind"), f"{at}.kind") or "Service"
        if group not in ("", "core") or kind != "Service":
            return Unresolved(at, "InvalidKind", f"{group or 'core'}/{kind} is not a Service")
        namespace = optional_str(ref.get("namespace"), f"{at}.namespace") or self.route.namespace
        source = (GROUP, "HTTPRoute", self.route.namespace)
        if not self.grants.allows(source, ("", "Service"), namespace, name):
            return Unresolved(at, "RefNotPermitted", f"no ReferenceGrant in {namespace} allows "
                              f"HTTPRoutes of {self.route.namespace} to use Service {name}")
        port = ref.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            return Unresolved(f"{at}.port", "BackendNotFound", "a Service port number is required")
        return None
