"""Names of Kubernetes objects, and what is wrong with them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Names a Kubernetes object in problems, metrics and Events."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one object; the builder skips the offending part."""

    obj: ObjectRef
    field: str
    message: str
    reason: str = "InvalidIngress"

    def __str__(self) -> str:
        return f"{self.obj}: {self.field}: {self.message}"
