"""Namespaces and label selectors, for listeners' `allowedRoutes.namespaces.selector`.

The API server labels every Namespace `kubernetes.io/metadata.name: <name>`;
a namespace the store does not hold (a manifest directory seldom lists
them) is taken to carry that label alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingress.build.fields import FieldError, mapping, optional_str, required_str, sequence
from ingress.store import Body, Key

NAME_LABEL = "kubernetes.io/metadata.name"
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def holds(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        inside = labels.get(self.key) in self.values
        return inside if self.operator == "In" else not inside


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A metav1.LabelSelector: every requirement must hold; none selects everything."""

    requirements: tuple[Requirement, ...]

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(r.holds(labels) for r in self.requirements)


def parse_selector(raw: Any, at: str) -> LabelSelector:
    selector = mapping(raw, at)
    requirements = [
        Requirement(str(key), "In", frozenset({optional_str(value, f"{at}.matchLabels.{key}")}))
        for key, value in mapping(selector.get("matchLabels"), f"{at}.matchLabels").items()
    ]
    for i, raw_expression in enumerate(
        sequence(selector.get("matchExpressions"), f"{at}.matchExpressions")
    ):
        where = f"{at}.matchExpressions[{i}]"
        expression = mapping(raw_expression, where)
        operator = required_str(expression.get("operator"), f"{where}.operator")
        if operator not in _OPERATORS:
            raise FieldError(f"{where}.operator", f"{operator!r} is not one of "
                             f"{', '.join(_OPERATORS)}", "UnsupportedValue")
        values = frozenset(optional_str(v, f"{where}.values")
                           for v in sequence(expression.get("values"), f"{where}.values"))
        needs_values = operator in ("In", "NotIn")
        if needs_values != bool(values):
            wanted = "must not be empty" if needs_values else "must be empty"
            raise FieldError(f"{where}.values", f"{wanted} for {operator}", "UnsupportedValue")
        requirements.append(
            Requirement(required_str(expression.get("key"), f"{where}.key"), operator, values)
        )
    return LabelSelector(tuple(requirements))


class Namespaces:
    """Labels of namespaces by name."""

    def __init__(self, bodies: Mapping[Key, Body]) -> None:
        self._labels: dict[str, dict[str, str]] = {}
        for (_, name), body in bodies.items():
            metadata = body.get("metadata")
            raw = metadata.get("labels") if isinstance(metadata, Mapping) else None
            labels = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
            labels[NAME_LABEL] = name
            self._labels[name] = labels

    def labels(self, name: str) -> Mapping[str, str]:
        return self._labels.get(name) or {NAME_LABEL: name}
