"""An AdmissionReview of an Ingress, answered by the pure builder.

The incoming object is built together with the Ingresses it can interact
with (those naming one of its hosts, and those with a default backend when
it has one), exactly as `portico run` would build them. What would make
Portico skip part of the object as written is an error and rejects it, with
the field named; what would only work differently, or not yet, is a
warning. Nothing is rendered or run: there is no configuration text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ingress.build import build
from ingress.build.annotations.catalog import BY_NAME, Status
from ingress.build.annotations.spec import PREFIX, Annotations
from ingress.build.classes import ClassSelector
from ingress.build.endpoints import SliceIndex
from ingress.model import ObjectRef, Problem
from ingress.observability.admission_metrics import AdmissionCheck
from ingress.settings import BuildSettings
from ingress.store import Body, Key, Snapshot

# Problems about things that may simply not exist yet (Services are often
# created after their Ingress), that are another object's to fix (a Secret's
# content), that Portico does not do yet or does differently: warnings.
_WARNING_REASONS = frozenset({
    "ServiceNotFound", "ServicePortNotFound", "SecretNotFound", "InternalError",
    "InvalidAuthSecret", "Difference",
})
# A new object has no creationTimestamp yet; it is the newest of all.
_NEWEST = "9999-12-31T23:59:59Z"


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _hosts(body: Body) -> set[str]:
    rules = _dict(body.get("spec")).get("rules")
    if not isinstance(rules, list):
        return set()
    return {str(_dict(rule).get("host") or "") for rule in rules}


def _has_default_backend(body: Body) -> bool:
    return _dict(body.get("spec")).get("defaultBackend") is not None


def _neighbours(objects: Snapshot, key: Key, body: Body) -> dict[Key, Body]:
    """The stored Ingresses whose routes can collide with `body`'s, and `body` itself."""
    hosts = _hosts(body)
    default = _has_default_backend(body)
    found = {
        other_key: other
        for other_key, other in objects.get("Ingress", {}).items()
        if other_key != key and (hosts & _hosts(other) or (default and _has_default_backend(other)))
    }
    found[key] = body
    return found


def _is_warning(problem: Problem) -> bool:
    if problem.reason in _WARNING_REASONS:
        return True
    if problem.reason == "UnsupportedAnnotation":
        name = Annotations.name_in(problem.field)
        entry = BY_NAME.get(name) if name is not None else None
        return entry is not None and entry.status is Status.NOT_YET
    return False


def _differences(body: Body) -> list[str]:
    annotations = _dict(_dict(body.get("metadata")).get("annotations"))
    notes = []
    for key in sorted(k for k in annotations if isinstance(k, str) and k.startswith(PREFIX)):
        entry = BY_NAME.get(key[len(PREFIX) :])
        if entry is not None and entry.status is Status.DIFFERENT:
            notes.append(f'{Annotations.field(entry.name)}: applied with a difference from '
                         f"ingress-nginx: {entry.note}")
    return notes


def review(document: Mapping[str, Any], objects: Snapshot, settings: BuildSettings,
           now: float, slices: SliceIndex | None = None,
           ) -> tuple[dict[str, Any], AdmissionCheck | None]:
    """The AdmissionReview response to `document` (an AdmissionReview request), and what was
    checked when the object is an Ingress of our class (None otherwise). `slices` are the
    EndpointSlices of `objects` already parsed (else they are parsed for this review)."""
    started = time.perf_counter()
    request = _dict(document.get("request"))
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": True}
    answer = {"apiVersion": document.get("apiVersion", "admission.k8s.io/v1"),
              "kind": "AdmissionReview", "response": response}
    body = request.get("object")
    if (_dict(request.get("kind")).get("kind") != "Ingress" or request.get("operation") == "DELETE"
            or not isinstance(body, Mapping)):
        return answer, None
    selector = ClassSelector.from_objects(objects.get("IngressClass", {}), settings)
    if not selector.owns(body):
        return answer, None
    metadata = dict(_dict(body.get("metadata")))
    namespace = str(request.get("namespace") or metadata.get("namespace") or "default")
    name = str(metadata.get("name") or request.get("name") or "")
    metadata.setdefault("creationTimestamp", _NEWEST)
    metadata["namespace"] = namespace
    incoming = {**body, "metadata": metadata}
    key = (namespace, name)
    snapshot = {**objects, "Ingress": _neighbours(objects, key, incoming)}
    selected = time.perf_counter()
    result = build(snapshot, settings, now, slices=slices)
    ref = ObjectRef("Ingress", namespace, name)
    problems = [problem for problem in result.problems if problem.obj == ref]
    errors = [f"{p.field}: {p.message}" for p in problems if not _is_warning(p)]
    warnings = [f"{p.field}: {p.message}" for p in problems if _is_warning(p)]
    warnings += _differences(incoming)
    if warnings:
        response["warnings"] = warnings
    if errors:
        response["allowed"] = False
        response["status"] = {"code": 400, "reason": "Invalid",
                              "message": f"{ref} would not be served as written: "
                                         + "; ".join(errors)}
    check = AdmissionCheck(namespace, name, not errors, len(snapshot["Ingress"]),
                           selected - started, time.perf_counter() - selected)
    return answer, check
