"""ReferenceGrants: which cross-namespace references the owners of the targets allow.

A grant lives in the namespace of the objects it opens up; a reference
from (group, kind, namespace) to (group, kind, name) in that namespace is
allowed when one grant there names both sides (`to` without a name opens
every object of that kind). References within one namespace need none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingress.store import Body, Key


@dataclass(frozen=True, slots=True)
class _Grant:
    sources: frozenset[tuple[str, str, str]]  # (group, kind, namespace)
    targets: frozenset[tuple[str, str, str]]  # (group, kind, name or '' for any)


def _entries(raw: Any) -> list[Mapping[str, Any]]:
    # A malformed grant grants nothing; the API server's validation rejects it anyway.
    return [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


class ReferenceGrants:
    def __init__(self, bodies: Mapping[Key, Body]) -> None:
        self._by_namespace: dict[str, list[_Grant]] = {}
        for (namespace, _), body in bodies.items():
            spec = body.get("spec")
            if not isinstance(spec, Mapping):
                continue
            grant = _Grant(
                frozenset((_text(e, "group"), _text(e, "kind"), _text(e, "namespace"))
                          for e in _entries(spec.get("from"))),
                frozenset((_text(e, "group"), _text(e, "kind"), _text(e, "name"))
                          for e in _entries(spec.get("to"))),
            )
            self._by_namespace.setdefault(namespace, []).append(grant)

    def allows(self, source: tuple[str, str, str], target: tuple[str, str], namespace: str,
               name: str) -> bool:
        """Whether `source` (group, kind, namespace) may refer to the object of `target`
        (group, kind) called `name` in `namespace`."""
        if source[2] == namespace:
            return True
        group, kind = target
        return any(
            source in grant.sources
            and ((group, kind, name) in grant.targets or (group, kind, "") in grant.targets)
            for grant in self._by_namespace.get(namespace, ())
        )
