"""Watch streams → Store upserts and deletes, and the "fully listed" signal.

One task per watched kind reads kopf's list-then-watch stream
(`ingress.operator.watch`): what a listing delivers, up to the mark that
ends it, is everything of that kind that exists. So when every kind has been
listed once the store is complete and the Reconciler may build
(`mark_synced`), and after a watch could not resume (API server restarted,
history compacted) the new listing tells exactly which objects vanished
meanwhile: those the stream had delivered and the listing did not.

Objects are stored without the fields a controller never reads but which
often outweigh the rest: `metadata.managedFields` and kubectl's
`last-applied-configuration` annotation (a second copy of the object).
EndpointSlices are stored packed (`ingress.store.packed`): after the slice
index has parsed one, nothing reads it but an admission review.

An Ingress whose status alone changed (mostly: our own status write coming
back) is stored without a rebuild, which could not change the table, and
only the status writer is told (`status_changed`): with 10,000 Ingresses,
writing their status once would otherwise rebuild the table for each echo.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import kopf

from ingress.operator.metrics import OperatorMetrics
from ingress.operator.watch import (
    Credentials,
    ListingMark,
    NotServed,
    WatchedKind,
    WatchItem,
    watch_stream,
)
from ingress.store import Key, Store, key_of, packed

log = logging.getLogger(__name__)

# Secrets of these types are often most of a cluster's bytes (Helm keeps every
# release in one) and never an Ingress's business: the API server keeps them
# to itself. Opaque ones (htpasswd files, CA bundles) are streamed, so a
# rotated password reaches the proxy as fast as a rotated certificate.
UNWATCHED_SECRET_TYPES = (
    "helm.sh/release.v1",
    "kubernetes.io/service-account-token",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/dockercfg",
    "bootstrap.kubernetes.io/token",
)


def is_streamed_secret(body: Mapping[str, Any]) -> bool:
    return body.get("type") not in UNWATCHED_SECRET_TYPES


WATCHED = (
    WatchedKind("IngressClass", "networking.k8s.io", "v1", "ingressclasses", namespaced=False),
    WatchedKind("Ingress", "networking.k8s.io", "v1", "ingresses"),
    WatchedKind("Service", "", "v1", "services"),
    WatchedKind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices"),
    WatchedKind("Secret", "", "v1", "secrets",
                field_selector=",".join(f"type!={t}" for t in UNWATCHED_SECRET_TYPES)),
    WatchedKind("ConfigMap", "", "v1", "configmaps"),
)

# With --gateway-api. ReferenceGrant v1beta1 is served by every Gateway API release (grants
# written as v1 are the same objects); Namespaces carry the labels listeners select routes by.
GATEWAY_WATCHED = (
    WatchedKind("GatewayClass", "gateway.networking.k8s.io", "v1", "gatewayclasses",
                namespaced=False),
    WatchedKind("Gateway", "gateway.networking.k8s.io", "v1", "gateways"),
    WatchedKind("HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes"),
    WatchedKind("ReferenceGrant", "gateway.networking.k8s.io", "v1beta1", "referencegrants"),
    WatchedKind("Namespace", "", "v1", "namespaces", namespaced=False),
)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def slim(body: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """`body` without managedFields and last-applied-configuration, with its kind."""
    md = dict(body.get("metadata") or {})
    md.pop("managedFields", None)
    annotations = md.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        md["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**body, "kind": kind, "metadata": md}


class SecretFilter:
    """Which of the streamed Secrets (TLS ones) or ConfigMaps the store may hold.

    Until the first build nobody knows which are needed, so all are kept
    (sparing a GET per certificate at start-up); afterwards only those the
    last build referenced.
    """

    def __init__(self) -> None:
        self.referenced: frozenset[tuple[str, str]] | None = None

    def keep(self, body: Mapping[str, Any]) -> bool:
        return self.referenced is None or key_of(body) in self.referenced


class ObjectFeed:
    def __init__(
        self,
        store: Store,
        mark_synced: Callable[[], None],
        metrics: OperatorMetrics,
        secrets: SecretFilter,
        status_changed: Callable[[], None],
        kinds: tuple[WatchedKind, ...] = WATCHED,
        config_maps: SecretFilter | None = None,
    ) -> None:
        self.kinds = kinds
        self._store = store
        self._status_changed = status_changed
        self._mark_synced = mark_synced
        self._metrics = metrics
        self._secrets = secrets
        # The controller ConfigMap and those custom-headers names; the others are dropped.
        self._filters = {"Secret": secrets, "ConfigMap": config_maps or SecretFilter()}
        self.last_event_at = 0.0
        self._unlisted = {watched.kind for watched in kinds}

    async def run(self, credentials: Credentials, settings: kopf.OperatorSettings,
                  namespace: str | None) -> None:
        """Follow every watched kind until cancelled; fails if any stream fails."""
        credentials.use()
        async with asyncio.TaskGroup() as group:
            for watched in self.kinds:
                group.create_task(self._follow(watched, settings, namespace),
                                  name=f"watch {watched.plural}")

    async def _follow(self, watched: WatchedKind, settings: kopf.OperatorSettings,
                      namespace: str | None) -> None:
        try:
            await self._consume(watched.kind, watch_stream(settings, watched, namespace))
        except NotServed:
            # Gateway API kinds without their CRDs: nothing of them exists to wait for.
            log.error("%s: the API server does not serve %s.%s/%s; not watched", watched.kind,
                      watched.plural, watched.group, watched.version)
            self._listed(watched.kind)

    async def _consume(self, kind: str, stream: AsyncIterator[WatchItem]) -> None:
        # Keys the stream has shown alive; a listing that lacks one means it is gone.
        alive: set[Key] = set()
        listing: set[Key] = set()
        async for item in stream:
            if isinstance(item, ListingMark):
                for key in alive - listing:
                    self._store.delete(kind, *key)
                alive, listing = listing, set()
                self._listed(kind)
                continue
            event_type = item.get("type")
            if event_type == "BOOKMARK":
                continue
            self.last_event_at = time.monotonic()
            self._metrics.count_event(kind)
            body = item.get("object") or {}
            key = key_of(body)
            if event_type == "DELETED":
                alive.discard(key)
                self._store.delete(kind, *key)
                continue
            (listing if event_type is None else alive).add(key)
            self.put(kind, body)

    def _listed(self, kind: str) -> None:
        if kind not in self._unlisted:
            self._metrics.relists += 1
            return
        self._unlisted.discard(kind)
        if not self._unlisted:
            self._metrics.synced = True
            self._mark_synced()

    def put(self, kind: str, body: Mapping[str, Any]) -> None:
        raw = packed(slim(body, kind))
        kept = self._filters.get(kind)
        if kept is not None and not kept.keep(raw):
            self._store.delete(kind, *key_of(raw))
            return
        if kind == "Ingress" and only_status_changed(self._store.get(kind, *key_of(raw)), raw):
            self._store.upsert(raw, notify=False)
            self._status_changed()
            return
        self._store.upsert(raw)


def only_status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True if `new` differs from `old` in its status (and resourceVersion) at most."""
    return old is not None and _without_status(old) == _without_status(new)


def _without_status(body: Mapping[str, Any]) -> dict[str, Any]:
    md = {k: v for k, v in (body.get("metadata") or {}).items() if k != "resourceVersion"}
    return {**{k: v for k, v in body.items() if k != "status"}, "metadata": md}
