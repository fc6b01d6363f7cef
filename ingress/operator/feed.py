"""kopf watch events → Store upserts and deletes, and the "fully listed" signal.

Only `@kopf.index` and `@kopf.on.event` handlers are registered: they keep no
state on the objects, so kopf writes no finalizers or annotations onto
Ingresses we merely read.

Why index handlers do the upserts: kopf calls them for every listed object
before it lets any other handler run, and it holds every other handler
until all indexed kinds have been listed. So when the first `on.event`
handler runs, the store holds the complete first listing of every kind:
that is the moment the Reconciler may build (`mark_synced`). Deletions come
through `on.event` (kopf calls no index handler for them).

After a watch breaks (API server restart), kopf lists again but does not
report objects that vanished meanwhile. A re-list is recognised by listing
events arriving after the kind was streaming (or for an object already
listed); once that burst has been quiet for `sweep_quiet` seconds, store
objects that the re-list did not touch are removed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from ingress.operator.metrics import OperatorMetrics
from ingress.store import Key, Store, key_of


@dataclass(frozen=True, slots=True)
class WatchedKind:
    kind: str
    group_version: str
    plural: str


WATCHED = (
    WatchedKind("IngressClass", "networking.k8s.io/v1", "ingressclasses"),
    WatchedKind("Ingress", "networking.k8s.io/v1", "ingresses"),
    WatchedKind("Service", "v1", "services"),
    WatchedKind("EndpointSlice", "discovery.k8s.io/v1", "endpointslices"),
    WatchedKind("Secret", "v1", "secrets"),
    WatchedKind("ConfigMap", "v1", "configmaps"),
)

# With --gateway-api. ReferenceGrant v1beta1 is served by every Gateway API release (grants
# written as v1 are the same objects); Namespaces carry the labels listeners select routes by.
GATEWAY_WATCHED = (
    WatchedKind("GatewayClass", "gateway.networking.k8s.io/v1", "gatewayclasses"),
    WatchedKind("Gateway", "gateway.networking.k8s.io/v1", "gateways"),
    WatchedKind("HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes"),
    WatchedKind("ReferenceGrant", "gateway.networking.k8s.io/v1beta1", "referencegrants"),
    WatchedKind("Namespace", "v1", "namespaces"),
)


def is_tls_secret(body: Mapping[str, Any]) -> bool:
    data = body.get("data") or {}
    return body.get("type") == "kubernetes.io/tls" or ("tls.crt" in data and "tls.key" in data)


class SecretFilter:
    """Which Secrets (or ConfigMaps) the store may hold.

    Until the first build nobody knows which are needed, so those
    `before_build` accepts are kept (TLS Secrets: sparing a GET per
    certificate at start-up); afterwards only those the last build referenced.
    """

    def __init__(self, before_build: Callable[[Mapping[str, Any]], bool] = is_tls_secret) -> None:
        self.referenced: frozenset[tuple[str, str]] | None = None
        self._before_build = before_build

    def keep(self, body: Mapping[str, Any]) -> bool:
        if self.referenced is None:
            return self._before_build(body)
        return key_of(body) in self.referenced


def any_object(body: Mapping[str, Any]) -> bool:
    return True


class ObjectFeed:
    def __init__(
        self,
        store: Store,
        mark_synced: Callable[[], None],
        metrics: OperatorMetrics,
        secrets: SecretFilter,
        sweep_quiet: float = 1.0,
        kinds: tuple[WatchedKind, ...] = WATCHED,
        config_maps: SecretFilter | None = None,
    ) -> None:
        self._kinds = kinds
        self._store = store
        self._mark_synced = mark_synced
        self._metrics = metrics
        self._secrets = secrets
        # The controller ConfigMap and those custom-headers names; the others are dropped.
        self._filters = {"Secret": secrets, "ConfigMap": config_maps or SecretFilter(any_object)}
        self._sweep_quiet = sweep_quiet
        self.last_event_at = 0.0
        # kind → key → when a watch event last showed the object alive (monotonic)
        self._touched: dict[str, dict[Key, float]] = {w.kind: {} for w in kinds}
        self._listed: dict[str, set[Key]] = {w.kind: set() for w in kinds}
        self._streaming: set[str] = set()
        self._sweeps: dict[str, asyncio.Task[None]] = {}
        self._last_listing_event: dict[str, float] = {}
        self._burst_started: dict[str, float] = {}

    def register(self, registry: kopf.OperatorRegistry) -> None:
        for watched in self._kinds:
            kopf.index(watched.group_version, watched.plural, registry=registry,
                       id=f"feed-{watched.kind}")(self._indexer(watched.kind))
            kopf.on.event(watched.group_version, watched.plural, registry=registry,
                          id=f"feed-{watched.kind}")(self._watcher(watched.kind))

    def _indexer(self, kind: str) -> Callable[..., Any]:
        async def index_into_store(body: kopf.Body, **_: Any) -> None:
            self.put(kind, body)
        return index_into_store

    def _watcher(self, kind: str) -> Callable[..., Any]:
        async def on_watch_event(type: str | None, body: kopf.Body, **_: Any) -> None:
            self.observe(kind, type, body)
        return on_watch_event

    def put(self, kind: str, body: Mapping[str, Any]) -> None:
        raw = dict(body)
        raw.setdefault("kind", kind)
        kept = self._filters.get(kind)
        if kept is not None and not kept.keep(raw):
            self._store.delete(kind, *key_of(raw))
            return
        self._store.upsert(raw)

    def observe(self, kind: str, event_type: str | None, body: Mapping[str, Any]) -> None:
        now = self.last_event_at = time.monotonic()
        self._metrics.count_event(kind)
        key = key_of(body)
        if event_type == "DELETED":
            self._touched[kind].pop(key, None)
            self._listed[kind].discard(key)
            self._store.delete(kind, *key)
        else:
            self._touched[kind][key] = now
        if not self._metrics.synced:
            self._metrics.synced = True
            self._mark_synced()
        if event_type is not None:
            self._streaming.add(kind)
            return
        if now - self._last_listing_event.get(kind, float("-inf")) > self._sweep_quiet:
            self._burst_started[kind] = now
        self._last_listing_event[kind] = now
        if (kind in self._streaming or key in self._listed[kind]) and kind not in self._sweeps:
            self._metrics.relists += 1
            self._streaming.discard(kind)
            self._sweeps[kind] = asyncio.create_task(self._sweep(kind))
        self._listed[kind].add(key)

    async def _sweep(self, kind: str) -> None:
        try:
            while (quiet := time.monotonic() - self._last_listing_event[kind]) < self._sweep_quiet:
                await asyncio.sleep(self._sweep_quiet - quiet)
            # Everything the re-list delivered was touched during its burst.
            started = self._burst_started[kind]
            touched = self._touched[kind]
            for key in [key for key, at in touched.items() if at < started]:
                del touched[key]
                self._listed[kind].discard(key)
                self._store.delete(kind, *key)
        finally:
            del self._sweeps[kind]

    async def close(self) -> None:
        for task in list(self._sweeps.values()):
            task.cancel()
        await asyncio.gather(*self._sweeps.values(), return_exceptions=True)
