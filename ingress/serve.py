"""`portico run`: wire a source, the reconciler, the data plane and the admin endpoints.

With `--workers 1` everything shares one process and one uvloop loop. With
more, this process is the supervisor (source, builder, admin) and the data
plane runs in worker processes (`ingress.proxy.workers`).

Shutdown (SIGTERM/SIGINT): readiness turns 503 at once; the listeners keep
accepting for `--shutdown-delay` so load balancers notice; then they stop,
keep-alive connections close after their current response, and in-flight
requests get `--shutdown-grace` to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

import uvloop
from prometheus_client.registry import Collector

from ingress import compiled
from ingress.build.result import BuildResult
from ingress.collection import freeze_if_many_survived, freeze_survivors
from ingress.observability.admin import start_admin
from ingress.observability.admission_metrics import AdmissionCollector, AdmissionStats
from ingress.observability.families import Families
from ingress.observability.logs import configure_logging
from ingress.observability.metrics import create_registry
from ingress.observability.stats import ProxyStats
from ingress.observability.tracing import tracing_available
from ingress.pipeline import Publisher, Reconciler, TableSink
from ingress.settings import Settings
from ingress.tls.default_certificate import generate_default_certificate

if TYPE_CHECKING:  # kopf (under the operator's client) is imported only for a cluster
    from ingress.operator.api import KubeClient
    from ingress.proxy.dataplane import Dataplane
    from ingress.proxy.workers import WorkerPool

log = logging.getLogger(__name__)

# Seconds a source gets to stop by itself (the Kubernetes source gives kopf 5 of them).
_SOURCE_EXIT_TIMEOUT = 10.0


def run(settings: Settings) -> int:
    configure_logging(settings.log_format, settings.log_level)
    if settings.otlp_endpoint and not tracing_available():
        log.error("--otlp-endpoint needs the tracing extra: pip install 'portico[tracing]'")
        return 2
    try:
        return uvloop.run(_serve(settings))
    except StartupError as error:
        log.error("%s", error)
        return 1


class StartupError(Exception):
    pass


class Source:
    """What feeds the reconciler: manifest files or the cluster, and its own metrics."""

    def __init__(self, settings: Settings, reconciler: Reconciler) -> None:
        self.collectors: list[Collector] = []
        # Whether this replica leads, where there is an election (the cluster source).
        self.leader: Callable[[], bool] | None = None
        self._settings = settings
        self._reconciler = reconciler
        self._kubernetes = None
        if not settings.manifests:
            from ingress.operator import KubernetesSource, OperatorCollector

            self._kubernetes = kubernetes = KubernetesSource(settings, reconciler)
            self.collectors.append(OperatorCollector(kubernetes.metrics))
            self.leader = lambda: kubernetes.metrics.is_leader

    @property
    def client(self) -> KubeClient | None:
        """The API client of the Kubernetes source (None with --manifests)."""
        return self._kubernetes.client if self._kubernetes is not None else None

    async def run(self, stop: asyncio.Event) -> None:
        if self._kubernetes is not None:
            await self._kubernetes.run(stop)
            return
        from ingress.sources.files import run_file_source

        assert self._settings.manifests is not None
        await run_file_source(self._settings.manifests, self._reconciler, stop)


def _freeze_survivors(result: BuildResult) -> None:
    """After the first table, keep what is alive out of the cyclic collector's full passes:
    the objects, the table and the caches are most of the process, and a full pass over
    them (half a second at 10,000 Ingresses) holds every thread, the proxy's included.
    After a later table, the same when many objects survived since (such as the 10,000
    bodies the API server sends back after the first status writes): left in sight, they
    made full passes of 50-270 ms on the proxy's loop during routing changes at 10,000
    Ingresses with one worker."""
    if result.table.generation == 1:
        freeze_survivors(full=True)
    else:
        freeze_if_many_survived()


async def _freeze_once_served(workers: WorkerPool) -> None:
    """`_freeze_survivors`'s first freeze for a supervisor: once the workers serve the
    first table, not while they wait for it (the full pass holds this loop, which sends
    it to them)."""
    await workers.serving()
    freeze_survivors(full=True)


class Health:
    """Readiness: a first table is served, and the process is not shutting down."""

    def __init__(self, reconciler: Reconciler, served: Callable[[], bool]) -> None:
        self._reconciler = reconciler
        self._served = served
        self.stopping = False

    def ready(self) -> bool:
        return not self.stopping and self._reconciler.result is not None and self._served()


async def _serve(settings: Settings) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    # The data plane runs here or in each worker, and only there is it imported (a
    # supervisor holds no proxy code), with the TLS contexts that terminate its connections.
    dataplane: Dataplane | None = None
    freeze: list[Publisher] = [_freeze_survivors]
    if settings.workers > 1:
        from ingress.proxy.workers import WorkerPool

        freeze = []
        workers = WorkerPool(
            settings, generate_default_certificate() if settings.https_port else None
        )
        dataplane_stats: Callable[[], ProxyStats] = workers.stats
        sink: TableSink = workers
        served: Callable[[], bool] = workers.all_serving
        dataplane_pids: Callable[[], list[int]] = workers.pids
    else:
        from ingress.proxy.dataplane import Dataplane
        from ingress.proxy.installer import LocalInstaller
        from ingress.tls.contexts import TlsContexts

        tls = TlsContexts(settings) if settings.https_port else None
        dataplane = Dataplane(settings, loop)

        dataplane_stats = dataplane.snapshot
        sink = LocalInstaller(dataplane, tls)

        def this_process() -> list[int]:
            return [os.getpid()]

        dataplane_pids = this_process

        def always() -> bool:
            return True

        served = always

    reconciler = Reconciler(settings.build, freeze, sink)
    source = Source(settings, reconciler)
    health = Health(reconciler, served)
    families = Families.for_controller(settings.controller_namespace, settings.controller_name)
    admission = AdmissionStats()
    registry = create_registry(
        dataplane_stats, reconciler, families,
        per_host=settings.metrics_per_host, pids=dataplane_pids, leader=source.leader,
        election_id=settings.election_id,
        extra=[*source.collectors, AdmissionCollector(admission, families)],
    )
    try:
        admin = await start_admin(settings.admin_bind, settings.admin_port, health.ready, registry)
        if dataplane is not None:
            await dataplane.start(tls.server_context if tls is not None else None,
                                  tls.peer_certificate if tls is not None else None,
                                  tls.context_for_name if tls is not None else None)
    except OSError as error:
        raise StartupError(f"cannot listen: {error}") from error

    # Everything alive now (modules, kopf, the listeners) lives as long as the
    # process: keep it out of the cyclic collector, whose full passes over it
    # cost ≈20 ms each, a pause every request in flight would feel.
    gc.freeze()
    feeding = loop.create_task(source.run(stop), name="source")
    builder = loop.create_task(reconciler.run(), name="reconciler")
    background = [builder]
    if settings.admission_port:
        from ingress.admission import run_webhook

        background.append(loop.create_task(
            run_webhook(settings, reconciler.store.snapshot, source.client, admission, stop,
                        reconciler.slice_index),
            name="admission"))
    if dataplane is None:
        # Meanwhile the source lists and the first table builds: the workers' start (an
        # interpreter and the proxy's imports each) is not on the way to readiness.
        background.append(loop.create_task(_freeze_once_served(workers), name="freeze"))
        try:
            await workers.start()
        except OSError as error:
            raise StartupError(f"cannot start the workers: {error}") from error
    log.info(
        "listening",
        extra={
            "http": settings.http_port,
            "https": settings.https_port,
            "admin": settings.admin_port,
            "data_plane": compiled.mode(),
        },
    )
    waiter = loop.create_task(stopping.wait())
    done, _ = await asyncio.wait({feeding, waiter}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    if feeding in done and feeding.exception() is not None:
        log.error("source failed: %s", feeding.exception())
        exit_code = 1
    health.stopping = True
    log.info(
        "shutting down", extra={"delay": settings.shutdown_delay, "grace": settings.shutdown_grace}
    )
    if exit_code == 0:
        await asyncio.sleep(settings.shutdown_delay)
    if dataplane is None:
        await workers.drain(settings.shutdown_grace)
    else:
        await dataplane.drain(settings.shutdown_grace)
    stop.set()
    # A source ends by itself once told to stop (kopf closes its watches); cancelled in the
    # middle of that, kopf can be left waiting on its own workers, and the process with it.
    await asyncio.wait({feeding}, timeout=_SOURCE_EXIT_TIMEOUT)
    for task in (*background, feeding, waiter):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await admin.cleanup()
    log.info("stopped")
    return exit_code
