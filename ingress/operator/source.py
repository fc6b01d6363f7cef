"""The Kubernetes source: kopf watches in-process, status and Events from the leader.

`KubernetesSource.run` runs kopf inside the caller's event loop with
`kopf.spawn_tasks` + `kopf.run_tasks`, not `kopf.run`: the CLI owns the
process (signals, the proxy, shutdown order), kopf only watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kopf

from ingress.build.gateway.classes import BUNDLE_VERSION, GATEWAY_CRD
from ingress.build.result import BuildResult
from ingress.operator.api import ApiError, KubeClient
from ingress.operator.election import ElectionTiming, LeaderElector
from ingress.operator.events import EventRecorder
from ingress.operator.feed import GATEWAY_WATCHED, WATCHED, ObjectFeed, SecretFilter, any_object
from ingress.operator.gateway_status import GatewayStatusWriter
from ingress.operator.kubeconfig import load_connection
from ingress.operator.metrics import OperatorMetrics
from ingress.operator.status import StatusWriter
from ingress.pipeline import Reconciler
from ingress.settings import Settings

log = logging.getLogger(__name__)

COMPONENT = "portico"
# Status and Events are re-checked this often even without changes, to retry
# failed writes and notice a --publish-service outside the watched namespaces.
RESYNC_PERIOD = 30.0
_KOPF_DIR = str(Path(kopf.__file__).parent)
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class _NotKopfTasks(Collection["asyncio.Task[Any]"]):
    """The tasks kopf must leave alone when it stops.

    `kopf.run_tasks` waits for, then cancels, every task created after it
    started unless told to ignore it: that would include the proxy's and the
    admin server's tasks. kopf's own tasks all run coroutines from its
    package, so everything else is ignored.
    """

    def __contains__(self, task: object) -> bool:
        coro = task.get_coro() if isinstance(task, asyncio.Task) else None
        code = getattr(coro, "cr_code", None)
        return code is None or not code.co_filename.startswith(_KOPF_DIR)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return (task for task in asyncio.all_tasks() if task in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@contextlib.contextmanager
def _without_signal_handlers() -> Iterator[None]:
    """kopf.spawn_tasks installs SIGINT/SIGTERM handlers; the CLI owns those."""
    loop = asyncio.get_running_loop()

    def ignore(*_: Any) -> None:
        return None

    loop.add_signal_handler = ignore  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        del loop.add_signal_handler


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True  # leadership is our Lease, not kopf's peering CRDs
    settings.posting.enabled = False  # our Events come from the EventRecorder, leader only
    settings.process.ultimate_exiting_timeout = None  # never SIGKILL the process
    settings.scanning.disabled = True  # one exact namespace needs no namespace listing
    settings.watching.server_timeout = 300  # real API servers end watches; resume, no re-list
    settings.watching.reconnect_backoff = 1.0
    settings.networking.error_backoffs = (0.5, 1, 2, 4)  # then the watch loop retries anew
    return settings


# Seconds kopf gets to stop its watchers before they are cancelled.
_KOPF_EXIT_TIMEOUT = 5.0


class KubernetesSource:
    def __init__(self, settings: Settings, reconciler: Reconciler) -> None:
        self.settings = settings
        self.reconciler = reconciler
        self.metrics = OperatorMetrics()
        self.secrets = SecretFilter()
        self.config_maps = SecretFilter(any_object)
        self.feed = ObjectFeed(reconciler.store, reconciler.mark_synced, self.metrics,
                               self.secrets, config_maps=self.config_maps,
                               kinds=WATCHED + GATEWAY_WATCHED if settings.gateway_api else WATCHED)
        self.client = KubeClient(lambda: load_connection(settings.kubeconfig))
        namespace = settings.own_namespace
        self.elector = LeaderElector(
            self.client, namespace, settings.election_id,
            ElectionTiming(settings.election_lease_duration, settings.election_renew_deadline,
                           settings.election_retry_period),
            on_change=self._leadership_changed,
        )
        self.status = StatusWriter(self.client, reconciler.store, settings.publish_address,
                                   settings.publish_service)
        self.events = EventRecorder(self.client, reconciler.store, COMPONENT,
                                    self.elector.identity)
        self.gateway_status = (
            GatewayStatusWriter(self.client, reconciler.store, settings.gateway_controller_name)
            if settings.gateway_api else None
        )
        self._crd_read_at = float("-inf")
        self._result: BuildResult | None = None
        self._wake = asyncio.Event()
        self._fetch_tried: dict[str, set[tuple[str, str]]] = {"Secret": set(), "ConfigMap": set()}
        reconciler.add_publisher(self.publish)

    def publish(self, result: BuildResult) -> None:
        """A Reconciler publisher: runs after the proxy has the new table."""
        if self.feed.last_event_at:
            self.metrics.event_to_swap_seconds = time.monotonic() - self.feed.last_event_at
        self._result = result
        self._wake.set()

    def _leadership_changed(self, leader: bool) -> None:
        self.metrics.is_leader = leader
        if leader:
            self.events.forget()
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        registry = kopf.OperatorRegistry()
        kopf.on.login(registry=registry)(self._login)
        self.feed.register(registry)
        for name in ("kopf", "aiohttp.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
        scope: dict[str, Any] = (
            {"namespaces": [self.settings.watch_namespace]} if self.settings.watch_namespace
            else {"clusterwide": True}
        )
        kopf_stop = asyncio.Event()
        with _without_signal_handlers():
            tasks = await kopf.spawn_tasks(registry=registry, settings=kopf_settings(),
                                           stop_flag=kopf_stop, **scope)
        kopf_runner = asyncio.create_task(kopf.run_tasks(tasks, ignored=_NotKopfTasks()))
        elector_stop = asyncio.Event()
        helpers = [asyncio.create_task(self.elector.run(elector_stop)),
                   asyncio.create_task(self._write_loop())]
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([kopf_runner, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            kopf_stop.set()
            elector_stop.set()
            stopped.cancel()
            helpers[1].cancel()
            # kopf normally ends its watchers at once; a watch stuck in a read must not
            # hold the process past its grace period.
            _, pending = await asyncio.wait([kopf_runner, *helpers], timeout=_KOPF_EXIT_TIMEOUT)
            for task in pending:
                task.cancel()
            await asyncio.gather(kopf_runner, *helpers, return_exceptions=True)
            await self.feed.close()
            await self.client.close()
        if not stop.is_set():
            raise RuntimeError("the Kubernetes watches stopped unexpectedly (see kopf's log)")

    def _login(self, **_: Any) -> kopf.ConnectionInfo:
        return load_connection(self.settings.kubeconfig)

    async def _write_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RESYNC_PERIOD)
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
                self.metrics.status_patches = self.status.patches
                if self.gateway_status is not None:
                    await self.gateway_status.sync(result.gateway, await self.status.addresses())
                    self.metrics.status_patches += self.gateway_status.patches
                self.metrics.events_posted = self.events.posted

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
                # kopf found no such resources at start and will not look again.
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
        """Drop Secrets (ConfigMaps) no build needs; GET needed ones dropped when first seen."""
        kept.referenced = referenced
        store = self.reconciler.store
        for namespace, name in list(store.snapshot()[kind]):
            if (namespace, name) not in referenced:
                store.delete(kind, namespace, name)
        tried = self._fetch_tried[kind]
        tried &= referenced
        for namespace, name in sorted(referenced - tried):
            if store.get(kind, namespace, name) is not None:
                continue
            tried.add((namespace, name))
            try:
                body = await self.client.get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
            except ApiError as e:
                if e.status != 404:
                    log.warning("%s %s/%s: %s", kind, namespace, name, e)
                continue
            except (aiohttp.ClientError, TimeoutError) as e:
                log.warning("%s %s/%s: %s", kind, namespace, name, e)
                continue
            if kind == "Secret":
                self.metrics.secrets_fetched += 1
            store.upsert({**body, "kind": kind})
