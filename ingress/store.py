"""The latest version of every object the sources have seen. Nothing else.

Objects are the Kubernetes JSON bodies as plain dicts. The store never
mutates them; sources hand over a new dict for every change.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Iterator, Mapping
from typing import Any

KINDS = (
    "Ingress", "IngressClass", "Service", "EndpointSlice", "Secret", "ConfigMap",
    # Gateway API (read with --gateway-api): Namespaces for listeners' namespace selectors,
    # the CustomResourceDefinition of Gateways only for the Gateway API version installed.
    "GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant", "Namespace",
    "CustomResourceDefinition",
)

Key = tuple[str, str]  # (namespace, name); namespace is '' for cluster-scoped kinds
Body = Mapping[str, Any]
Snapshot = Mapping[str, Mapping[Key, Body]]


def key_of(body: Body) -> Key:
    if isinstance(body, PackedBody):
        return body.key
    md = body.get("metadata") or {}
    return (str(md.get("namespace") or ""), str(md.get("name") or ""))


# Kinds kept packed: EndpointSlices are a third of a large cluster's objects, and once the
# slice index has parsed one (`ingress.endpoint_changes`) nothing reads it again but an
# admission review or a re-read file comparing it. At 10,000 of them: 29 MB as dicts, 4 MB packed.
PACKED_KINDS = frozenset({"EndpointSlice"})


class PackedBody(Mapping[str, Any]):
    """An object kept as its `marshal` bytes (an eighth of the dicts' memory): each read but
    of its kind and key unpacks it whole, so readers of many fields take `unpacked(body)`."""

    __slots__ = ("_packed", "key", "kind")

    def __init__(self, body: Body, packed: bytes) -> None:
        self.kind = str(body.get("kind") or "")
        self.key = key_of(body)
        self._packed = packed

    def unpacked(self) -> dict[str, Any]:
        body: dict[str, Any] = marshal.loads(self._packed)
        return body

    def __getitem__(self, name: str) -> Any:
        return self.kind if name == "kind" else self.unpacked()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.unpacked())

    def __len__(self) -> int:
        return len(self.unpacked())

    def __eq__(self, other: object) -> bool:
        # marshal's bytes for equal objects differ when their strings are shared differently.
        if isinstance(other, PackedBody):
            return self._packed == other._packed or self.unpacked() == other.unpacked()
        return isinstance(other, Mapping) and self.unpacked() == other

    __hash__ = None  # type: ignore[assignment]  # as a dict's


def packed(body: Body) -> Body:
    """`body` as the store keeps it: a `PackedBody` if its kind is packed (and marshal can
    pack it: a YAML timestamp cannot be), else itself."""
    if not isinstance(body, dict) or body.get("kind") not in PACKED_KINDS:
        return body
    try:
        return PackedBody(body, marshal.dumps(body))
    except ValueError:
        return body


def unpacked(body: Body) -> Body:
    """`body` with every field at hand: for a reader of more than its kind and key."""
    return body.unpacked() if isinstance(body, PackedBody) else body


class Store:
    """Objects by kind and (namespace, name), with a callback told each object that changed.

    `snapshot()` copies only the outer mappings, so a build sees a stable
    view while sources keep writing.
    """

    def __init__(self, on_change: Callable[[str, Key], None] | None = None) -> None:
        self._objects: dict[str, dict[Key, Body]] = {kind: {} for kind in KINDS}
        self._on_change = on_change

    def upsert(self, body: Body, notify: bool = True) -> bool:
        """Store `body`; `notify=False` for a change no build depends on."""
        kind = str(body.get("kind") or "")
        bucket = self._objects.get(kind)
        if bucket is None:
            return False
        key = key_of(body)
        if bucket.get(key) == body:
            return False
        bucket[key] = body
        if notify:
            self._changed(kind, key)
        return True

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        bucket = self._objects.get(kind)
        if bucket is None or bucket.pop((namespace, name), None) is None:
            return False
        self._changed(kind, (namespace, name))
        return True

    def replace_all(self, kind: str, bodies: list[Body]) -> bool:
        """Make `kind` hold exactly `bodies` (a full re-list or a re-read directory)."""
        new = {key_of(b): b for b in bodies}
        old = self._objects.get(kind, {})
        # A body kept from the last read is the same object: most compare by identity.
        changed = [key for key, body in new.items()
                   if (before := old.get(key)) is not body and before != body]
        changed += [key for key in old if key not in new]
        if not changed:
            return False
        self._objects[kind] = new
        for key in changed:
            self._changed(kind, key)
        return True

    def get(self, kind: str, namespace: str, name: str) -> Body | None:
        return self._objects.get(kind, {}).get((namespace, name))

    def snapshot(self) -> Snapshot:
        return {kind: dict(bucket) for kind, bucket in self._objects.items()}

    def _changed(self, kind: str, key: Key) -> None:
        if self._on_change is not None:
            self._on_change(kind, key)
