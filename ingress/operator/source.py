"""The Kubernetes source: watch streams in-process, status and Events from the leader.

kopf's list-then-watch streams run as tasks of the caller's event loop
(`ingress.operator.watch`); the CLI owns the process (signals, the proxy,
shutdown order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp
import kopf

from ingress.build.gateway.classes import BUNDLE_VERSION, GATEWAY_CRD
from ingress.build.result import BuildResult
from ingress.operator.api import JSON, ApiError, KubeClient
from ingress.operator.election import ElectionTiming, LeaderElector
from ingress.operator.events import EventRecorder
from ingress.operator.feed import (
    GATEWAY_WATCHED,
    WATCHED,
    ObjectFeed,
    SecretFilter,
    is_streamed_secret,
    slim,
)
from ingress.operator.gateway_status import GatewayStatusWriter
from ingress.operator.kubeconfig import load_connection
from ingress.operator.metrics import OperatorMetrics
from ingress.operator.status import StatusWriter
from ingress.operator.watch import Credentials, watch_settings
from ingress.pipeline import Reconciler
from ingress.settings import Settings

log = logging.getLogger(__name__)

COMPONENT = "portico"
# Status and Events are re-checked this often even without changes, to retry
# failed writes and notice a --publish-service outside the watched namespaces;
# Secrets that no watch follows (not of type kubernetes.io/tls) are read again
# this often while an Ingress needs them.
RESYNC_PERIOD = 30.0
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

# Seconds the helpers get to finish (a leader releases its Lease) before they are cancelled.
_EXIT_TIMEOUT = 5.0


class KubernetesSource:
    def __init__(self, settings: Settings, reconciler: Reconciler) -> None:
        self.settings = settings
        self.reconciler = reconciler
        self.metrics = OperatorMetrics()
        self.secrets = SecretFilter()
        self.config_maps = SecretFilter()
        self.feed = ObjectFeed(reconciler.store, reconciler.mark_synced, self.metrics,
                               self.secrets, status_changed=self._wake_writer,
                               config_maps=self.config_maps,
                               kinds=WATCHED + GATEWAY_WATCHED if settings.gateway_api else WATCHED)
        self.client = KubeClient(self._connect)
        namespace = settings.own_namespace
        self.elector = LeaderElector(
            self.client, namespace, settings.election_id,
            ElectionTiming(settings.election_lease_duration, settings.election_renew_deadline,
                           settings.election_retry_period),
            on_change=self._leadership_changed,
        )
        self.status = StatusWriter(self.client, reconciler.store, self.metrics,
                                   settings.publish_address, settings.publish_service)
        self.events = EventRecorder(self.client, reconciler.store, self.metrics, COMPONENT,
                                    self.elector.identity)
        self.gateway_status = (
            GatewayStatusWriter(self.client, reconciler.store, settings.gateway_controller_name)
            if settings.gateway_api else None
        )
        self._crd_read_at = float("-inf")
        self._result: BuildResult | None = None
        self._wake = asyncio.Event()
        # Secrets and ConfigMaps read with a GET because no watch delivers them: when
        # (monotonic).
        self._fetched_at: dict[str, dict[tuple[str, str], float]] = {
            "Secret": {}, "ConfigMap": {}}
        reconciler.add_publisher(self.publish)

    def publish(self, result: BuildResult) -> None:
        """A Reconciler publisher: runs after the proxy has the new table."""
        if self.feed.last_event_at:
            self.metrics.event_to_swap_seconds = time.monotonic() - self.feed.last_event_at
        self._result = result
        self._wake.set()

    def _wake_writer(self) -> None:
        """An Ingress's status changed: the leader may have to write it again."""
        self._wake.set()

    def _leadership_changed(self, leader: bool) -> None:
        self.metrics.is_leader = leader
        if leader:
            self.events.forget()
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        for name in ("kopf", "aiohttp.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._connect()  # a broken kubeconfig fails here, with its own message
        credentials = Credentials(self._connect)
        watching = asyncio.create_task(self.feed.run(
            credentials, watch_settings(self.feed.kinds), self.settings.watch_namespace or None))
        elector_stop = asyncio.Event()
        helpers = [asyncio.create_task(credentials.keep_fresh()),
                   asyncio.create_task(self.elector.run(elector_stop)),
                   asyncio.create_task(self._write_loop())]
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([watching, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            elector_stop.set()
            stopped.cancel()
            for task in (watching, helpers[0], helpers[2]):
                task.cancel()
            # The elector releases the Lease; a hung API server must not hold the process.
            _, pending = await asyncio.wait(helpers, timeout=_EXIT_TIMEOUT)
            for task in pending:
                task.cancel()
            results = await asyncio.gather(watching, *helpers, return_exceptions=True)
            await credentials.close()
            await self.client.close()
        if not stop.is_set():
            error = results[0]
            raise RuntimeError(f"the Kubernetes watches stopped: {error!r}") from (
                error if isinstance(error, BaseException) else None)

    def _connect(self) -> kopf.ConnectionInfo:
        return load_connection(self.settings.kubeconfig)

    async def _write_loop(self) -> None:
        while True:
            held_back = self.events.retry_in()
            timeout = RESYNC_PERIOD if held_back is None else min(RESYNC_PERIOD, held_back)
            # Not wait_for: on Python 3.11 it swallows a cancellation that arrives as the
            # event is set, and the loop would wait again.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            result = self._result
            if result is None:
                continue
            await self._keep_referenced("Secret", "secrets", self.secrets,
                                        result.referenced_secrets)
            await self._keep_referenced("ConfigMap", "configmaps", self.config_maps,
                                        result.referenced_config_maps)
            if self.gateway_status is not None:
                await self._read_gateway_crd()
            if self.elector.is_leader:
                await self.status.sync(result)
                await self.events.sync(result)
                if self.gateway_status is not None:
                    written = self.gateway_status.patches
                    await self.gateway_status.sync(result.gateway, await self.status.addresses())
                    self.metrics.status_patches += self.gateway_status.patches - written

    async def _read_gateway_crd(self) -> None:
        """The Gateway CRD's bundle-version annotation (GatewayClass SupportedVersion), at most
        once per resync period: it only changes when Gateway API is upgraded. Its absence
        means the Gateway API is not installed: said loudly, as nothing else would."""
        if time.monotonic() - self._crd_read_at < RESYNC_PERIOD:
            return
        self._crd_read_at = time.monotonic()
        try:
            crd = await self.client.get(f"{CRDS}/{GATEWAY_CRD}")
        except ApiError as e:
            if e.status == 404:
                # Its watches found no such resources at start and will not look again.
                log.error("--gateway-api: the Gateway API CRDs are not installed (no %s); "
                          "install them and restart Portico", GATEWAY_CRD)
            else:
                log.debug("CustomResourceDefinition %s: %s", GATEWAY_CRD, e)
            return
        except (aiohttp.ClientError, TimeoutError) as e:
            log.debug("CustomResourceDefinition %s: %s", GATEWAY_CRD, e)
            return
        annotations = (crd.get("metadata") or {}).get("annotations") or {}
        self.reconciler.store.upsert({
            "kind": "CustomResourceDefinition",
            "metadata": {"name": GATEWAY_CRD,
                         "annotations": {BUNDLE_VERSION: annotations.get(BUNDLE_VERSION)}},
        })

    async def _keep_referenced(self, kind: str, plural: str, kept: SecretFilter,
                               referenced: frozenset[tuple[str, str]]) -> None:
        """Drop Secrets (ConfigMaps) no build needs; GET needed ones no watch delivers (any more).

        One dropped when first seen is read once: from then on its watch
        events are kept. A Secret of a type the watch leaves out is read
        again every `RESYNC_PERIOD` while it is needed.
        """
        kept.referenced = referenced
        store = self.reconciler.store
        for namespace, name in list(store.snapshot()[kind]):
            if (namespace, name) not in referenced:
                store.delete(kind, namespace, name)
        fetched_at = self._fetched_at[kind]
        for key in fetched_at.keys() - referenced:
            del fetched_at[key]
        now = time.monotonic()
        for key in sorted(referenced):
            fetched = fetched_at.get(key)
            if fetched is None and store.get(kind, *key) is not None:
                continue  # streamed
            if fetched is not None and now - fetched < RESYNC_PERIOD:
                continue
            fetched_at[key] = now
            body = await self._get(kind, plural, *key)
            if body is None:
                continue
            if kind != "Secret" or is_streamed_secret(body):
                del fetched_at[key]
            if kind == "Secret":
                self.metrics.secrets_fetched += 1
            store.upsert(slim(body, kind))

    async def _get(self, kind: str, plural: str, namespace: str, name: str) -> JSON | None:
        try:
            return await self.client.get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
        except ApiError as e:
            if e.status != 404:
                log.warning("%s %s/%s: %s", kind, namespace, name, e)
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("%s %s/%s: %s", kind, namespace, name, e)
        return None
