"""Which Ingresses a build serves, oldest first, kept from one build to the next.

The order decides conflicts (the older Ingress keeps a contested host and
path). Sorting every Ingress again, and asking each whether its class is
ours, is a few microseconds per Ingress: with 10,000 of them, a sizeable
part of a rebuild that one Ingress changed. `OwnedIngresses` remembers the
bodies it sorted, so the next build finds what changed by identity (the
store keeps an unchanged object as the same object) and moves only those.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingress.build.classes import ClassSelector
from ingress.store import Body, Key

Age = tuple[str, str, str]  # creationTimestamp, namespace, name
Owned = tuple[Age, Key, Body]


def _age(key: Key, body: Mapping[str, Any]) -> Age:
    metadata = body.get("metadata")
    created = metadata.get("creationTimestamp") if isinstance(metadata, Mapping) else None
    # RFC 3339 UTC timestamps ("2024-05-01T10:00:00Z") sort as text.
    return (created if isinstance(created, str) else "", key[0], key[1])


@dataclass(frozen=True, slots=True)
class OwnedIngresses:
    selector: ClassSelector
    bodies: Mapping[Key, Body]  # every Ingress this was made of, ours or not (a copy)
    order: tuple[Owned, ...]  # ours, oldest first


def owned_ingresses(ingresses: Mapping[Key, Body], selector: ClassSelector,
                    previous: OwnedIngresses | None) -> OwnedIngresses:
    """The Ingresses `selector` owns, oldest first (`previous`: the last build's, whose
    order is reused where its bodies are the same objects)."""
    if previous is None or previous.selector != selector:
        return OwnedIngresses(selector, dict(ingresses), tuple(sorted(
            (_age(key, body), key, body) for key, body in ingresses.items()
            if selector.owns(body))))
    before = previous.bodies
    changed = [key for key, body in ingresses.items() if before.get(key) is not body]
    added = sum(1 for key in changed if key not in before)
    gone = set(changed)
    if len(before) + added != len(ingresses):  # some were deleted
        gone.update(key for key in before if key not in ingresses)
    if not gone:
        return OwnedIngresses(selector, dict(ingresses), previous.order)
    order = [entry for entry in previous.order if entry[1] not in gone]
    for key in changed:
        body = ingresses[key]
        if selector.owns(body):
            bisect.insort(order, (_age(key, body), key, body))
    return OwnedIngresses(selector, dict(ingresses), tuple(order))
