"""Which Ingresses are ours: IngressClass selection as ingress-nginx does it.

Order of precedence: `spec.ingressClassName`, then the legacy
`kubernetes.io/ingress.class` annotation, then the default class. Ingresses
of other classes are not ours and the builder ignores them completely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingress.settings import BuildSettings
from ingress.store import Key

LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def _dict(value: Any) -> Mapping[str, Any]:
    # Class selection must never fail: a malformed Ingress is still sorted into
    # ours / not ours, and the Ingress parser then reports what is wrong with it.
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class ClassSelector:
    ingress_class: str
    # IngressClass objects whose spec.controller is ours.
    our_classes: frozenset[str]
    # Every IngressClass object, whatever its controller.
    known_classes: frozenset[str]
    takes_classless: bool

    @classmethod
    def from_objects(
        cls, classes: Mapping[Key, Mapping[str, Any]], settings: BuildSettings
    ) -> ClassSelector:
        ours: set[str] = set()
        default_is_ours = False
        for (_, name), body in classes.items():
            if _dict(body.get("spec")).get("controller") != settings.controller_name:
                continue
            ours.add(name)
            annotations = _dict(_dict(body.get("metadata")).get("annotations"))
            if str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true":
                default_is_ours = True
        return cls(
            ingress_class=settings.ingress_class,
            our_classes=frozenset(ours),
            known_classes=frozenset(name for _, name in classes),
            takes_classless=default_is_ours or settings.watch_ingress_without_class,
        )

    def owns(self, ingress: Mapping[str, Any]) -> bool:
        class_name = _dict(ingress.get("spec")).get("ingressClassName")
        if isinstance(class_name, str) and class_name:
            if class_name in self.our_classes:
                return True
            # Ours by name even before (or without) its IngressClass object.
            return class_name == self.ingress_class and class_name not in self.known_classes
        annotations = _dict(_dict(ingress.get("metadata")).get("annotations"))
        legacy = annotations.get(LEGACY_CLASS_ANNOTATION)
        if isinstance(legacy, str) and legacy:
            return legacy == self.ingress_class
        return self.takes_classless
