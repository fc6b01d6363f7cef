"""Store changes → debounced pure build, or an endpoint change → the data plane and publishers.

Sources write into the `Store`; every write calls `Reconciler.notify` with
the object's kind and key. Two paths follow:

- A routing object (anything but an EndpointSlice) changed: a full pure
  build. Bursts (a kopf re-list, a directory rewrite) are coalesced into
  few builds: it waits `debounce` seconds of quiet, but never more than
  `max_delay` after the first change. A lone change (nothing else arrives
  within `_ISOLATED` seconds) is built at once.
- An EndpointSlice changed: only the endpoint sets of its Service's
  backends are computed again (`ingress.endpoint_changes`) and the data
  plane gets them as a small change of the table it serves, in the same
  generation. Changes arriving together are coalesced the same way, within
  `_ENDPOINTS_MAX_DELAY`. (A Service whose endpoints decided a route, such
  as a default-backend annotation's, is rebuilt for as well.)

Both go to the data plane (`TableSink`) as a `TableChange` from the table
served before, on this loop, so in the order they were made: an endpoint
change never overtakes the table it belongs to. A build that ran while
endpoints changed has those endpoint sets computed again before it is
published, so it never takes back a newer endpoint change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from ingress.build import build
from ingress.build.endpoints import SliceIndex
from ingress.build.parse_cache import NO_CACHE
from ingress.build.result import BuildResult
from ingress.collection import FullPasses
from ingress.endpoint_changes import SliceTracker, changed_sets
from ingress.model import EMPTY_TABLE, EndpointSet, Problem, RoutingTable
from ingress.model.changes import EntryChanges, TableChange, endpoints_change, table_change
from ingress.observability.config_hash import ConfigDigest
from ingress.settings import BuildSettings
from ingress.store import Key, Snapshot, Store

log = logging.getLogger(__name__)

Publisher = Callable[[BuildResult], None]

# Quiet period that makes a change "lone": long enough to take in the other
# events of the same watch read, short enough not to be noticed.
_ISOLATED = 0.005

# Endpoint changes wait at most this long for more to coalesce with.
_ENDPOINTS_MAX_DELAY = 0.05

# While a build runs, a thread waiting for the GIL gets it after this long (default 5 ms).
_BUILD_SWITCH_INTERVAL = 0.001
_BUILD_NICENESS = 10  # how much lower than the rest of the process a build thread runs

# Builds that took less than this last time run on the loop: a thread hand-off
# (and the GIL contention during it) would cost more than the build itself.
_INLINE_BUILD = 0.02


@dataclass(frozen=True, slots=True)
class _Built:
    result: BuildResult
    change: TableChange  # from the table served when the build started
    digest: ConfigDigest


class TableSink(Protocol):
    """The data plane: serves `table`, which `change` makes of the table it served."""

    def apply(self, table: RoutingTable, change: TableChange) -> None: ...


class _Pending:
    """Changes waiting for their path: an event, and since when the oldest waits."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.since = 0.0

    def add(self) -> None:
        if not self.since:
            self.since = time.monotonic()
        self.event.set()

    def take(self) -> float:
        since, self.since = self.since, 0.0
        return since


class Reconciler:
    def __init__(
        self,
        settings: BuildSettings,
        publishers: list[Publisher],
        sink: TableSink | None = None,
        debounce: float = 0.05,
        max_delay: float = 0.25,
    ) -> None:
        self.store = Store(on_change=self.notify)
        self._settings = settings
        self._publishers = publishers
        self._sink = sink
        self._debounce = debounce
        self._max_delay = max_delay
        self._routes = _Pending()
        self._endpoints = _Pending()
        self._synced = asyncio.Event()
        self._slices = SliceTracker()
        # Services whose endpoints changed since the running build took its snapshot.
        self._since_snapshot: set[Key] | None = None
        self._delta_services: set[Key] = set()  # Services with endpoint changes not yet sent
        self._logged: set[Problem] = set()  # problems logged: a build logs only new ones
        self.result: BuildResult | None = None
        # The table served: the last build's, with every endpoint change since.
        self.table: RoutingTable = EMPTY_TABLE
        self.generation = 0
        self._digest = ConfigDigest()
        self.config_hash = 0  # identifies the routing served (ingress-nginx's config_hash)
        self.endpoint_updates = 0  # endpoint changes sent without a rebuild
        self.last_event_to_swap_seconds = 0.0
        self.last_build_seconds = 0.0
        self.last_success_at = 0.0
        self.failures = 0  # builds that raised (the previous table kept serving)
        self.last_build_failed = False

    def add_publisher(self, publish: Publisher) -> None:
        self._publishers.append(publish)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def notify(self, kind: str, key: Key) -> None:
        if kind == "EndpointSlice":
            self._slices.changed(key)
            self._endpoints.add()
        else:
            self._routes.add()

    def mark_synced(self) -> None:
        """The source has listed everything once: builds may start."""
        self._synced.set()
        self._routes.add()

    async def run(self) -> None:
        await self._synced.wait()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._run_builds())
            group.create_task(self._run_endpoint_changes())

    async def _run_builds(self) -> None:
        while True:
            await self._routes.event.wait()
            await self._settle(self._routes.event, self._max_delay)
            pending_since = self._routes.take()
            self._index_slices()
            snapshot, slices = self.store.snapshot(), self._slices.snapshot()
            generation, base = self.generation + 1, self.table
            self._since_snapshot = set()
            started = time.perf_counter()
            try:
                if self.generation and self.last_build_seconds < _INLINE_BUILD:
                    built = self._build(snapshot, slices, generation, base)
                else:
                    # A large build (10,000 Ingresses ≈ 1 s) must not stall the proxy and
                    # the admin endpoints that share this loop (the first one's size is
                    # unknown). It only reads the snapshot, whose objects nothing mutates.
                    built = await asyncio.to_thread(
                        self._build_in_background, snapshot, slices, generation, base)
            except Exception:  # a builder bug must not stop routing: keep the last table
                log.exception("building the routing table failed; serving the previous one")
                self.failures += 1
                self.last_build_failed = True
                continue
            finally:
                since_snapshot, self._since_snapshot = self._since_snapshot or set(), None
            self.last_build_seconds = time.perf_counter() - started
            result, change = self._with_endpoints_of(since_snapshot, built.result, built.change)
            self._publish(_Built(result, change, built.digest), pending_since)

    def _build(self, snapshot: Snapshot, slices: SliceIndex, generation: int,
               base: RoutingTable) -> _Built:
        """The new table, what differs from `base`, and its configuration hash."""
        previous = self.result.parse_cache if self.result is not None else NO_CACHE
        with _yielding_build():
            result = build(snapshot, self._settings, time.time(), generation, slices, previous)
            change = table_change(base, result.table)
            # The same table, made of the served one's parts where they are equal: the
            # build's copies of those go now, and no more objects outlive the build than
            # changed (each of them is work for every later full collection).
            result = replace(result, table=change.apply(base))
            digest = self._digest.updated(base, change)
        return _Built(result, change, digest)

    def _build_in_background(self, snapshot: Snapshot, slices: SliceIndex, generation: int,
                             base: RoutingTable) -> _Built:
        """`_build` in a thread the OS schedules after the proxy's: with several workers on
        few cores, a build must not take a core from a worker that has requests."""
        thread = threading.get_native_id()
        priority = os.getpriority(os.PRIO_PROCESS, thread)
        with contextlib.suppress(OSError):  # a sandbox may refuse: then it runs as it is
            os.setpriority(os.PRIO_PROCESS, thread, priority + _BUILD_NICENESS)
        try:
            return self._build(snapshot, slices, generation, base)
        finally:
            # Back for the executor's other work, where the OS lets a process raise it again.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, thread, priority)

    def _with_endpoints_of(self, services: set[Key], result: BuildResult,
                           change: TableChange) -> tuple[BuildResult, TableChange]:
        """`result` with the endpoints of `services` as they are now, not as they were when
        its build started, and `change` making them of the table served now."""
        fresh = self._slices.endpoint_sets(services, result.backends_by_service)
        if not fresh:
            return result, change
        table = replace(result.table, endpoints={**result.table.endpoints, **fresh})
        endpoints = EntryChanges({**change.endpoints.put, **fresh}, change.endpoints.removed)
        return replace(result, table=table), replace(change, endpoints=endpoints)

    async def _run_endpoint_changes(self) -> None:
        while True:
            await self._endpoints.event.wait()
            await self._settle(self._endpoints.event, _ENDPOINTS_MAX_DELAY)
            pending_since = self._endpoints.take()
            self._index_slices()
            self._send_endpoints(pending_since)

    def _index_slices(self) -> None:
        services, problems = self._slices.refresh(
            lambda key: self.store.get("EndpointSlice", *key))
        self._delta_services |= services
        if self._since_snapshot is not None:
            self._since_snapshot |= services
        if self.result is None:
            return  # the first build reports them
        if not services.isdisjoint(self.result.routed_on_endpoints):
            self._routes.add()  # a route was chosen on these endpoints: choose again
        # As a build would: the problems of the slices of Services that backends use.
        served = self.result.backends_by_service
        for service, problem in problems:
            if service in served:
                self._logged.add(problem)
                _log_problem(problem)

    def slice_index(self) -> SliceIndex:
        """The store's EndpointSlices, parsed (as an admission review's build takes them:
        the store keeps them packed, `ingress.store.PackedBody`)."""
        self._index_slices()
        return self._slices.snapshot()

    def _send_endpoints(self, pending_since: float) -> None:
        """Send the endpoint sets that changed to the data plane, without a rebuild."""
        services, self._delta_services = self._delta_services, set()
        if self.result is None:
            return  # the first build has them all
        sets = self._slices.endpoint_sets(services, self.result.backends_by_service)
        put: dict[str, EndpointSet] = changed_sets(sets, self.table.endpoints)
        if not put:
            return
        change = endpoints_change(self.table, put)
        self.table = change.apply(self.table)
        if self._sink is not None:
            self._sink.apply(self.table, change)
        self.endpoint_updates += 1
        if pending_since:
            self.last_event_to_swap_seconds = time.monotonic() - pending_since

    async def _settle(self, changed: asyncio.Event, max_delay: float) -> None:
        deadline = time.monotonic() + max_delay
        quiet = _ISOLATED
        while True:
            changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                # Not wait_for: on Python 3.11 it swallows a cancellation that arrives as the
                # event is set, and this task would outlive its shutdown.
                async with asyncio.timeout(min(quiet, remaining)):
                    await changed.wait()
            except TimeoutError:
                return
            quiet = self._debounce  # more is coming: coalesce it

    def rebuild(self) -> BuildResult:
        """Build and publish now, in this thread (for callers without a loop)."""
        pending_since = self._routes.take()
        self._endpoints.take()
        self._index_slices()
        self._delta_services.clear()  # the build has them
        started = time.perf_counter()
        built = self._build(self.store.snapshot(), self._slices.snapshot(),
                            self.generation + 1, self.table)
        self.last_build_seconds = time.perf_counter() - started
        self._publish(built, pending_since)
        return built.result

    def _publish(self, built: _Built, pending_since: float) -> None:
        result, change = built.result, built.change
        self._digest, self.config_hash = built.digest, built.digest.value
        self.generation = result.table.generation
        self.last_success_at = time.time()
        self.last_build_failed = False
        self.result = result
        self.table = result.table
        for problem in result.problems:
            if problem not in self._logged:  # else logged when it first appeared
                _log_problem(problem)
        self._logged = set(result.problems)
        if self._sink is not None:
            self._sink.apply(result.table, change)
        for publish in self._publishers:
            publish(result)
        if pending_since:
            self.last_event_to_swap_seconds = time.monotonic() - pending_since


@contextlib.contextmanager
def _yielding_build() -> Iterator[None]:
    """A build shares the process with the proxy (with --workers 1): run it so that the
    event loop waits as little as it can for it. The interpreter hands the GIL to a
    waiting thread after `_BUILD_SWITCH_INTERVAL` instead of 5 ms, and the many objects
    a build makes trigger no full pass of the cyclic collector (`ingress.collection`)."""
    interval = sys.getswitchinterval()
    full_passes = FullPasses()
    sys.setswitchinterval(_BUILD_SWITCH_INTERVAL)
    full_passes.hold()
    try:
        yield
    finally:
        full_passes.release()
        sys.setswitchinterval(interval)


def _log_problem(problem: Problem) -> None:
    log.warning("%s", problem, extra={"object": str(problem.obj), "field": problem.field})
