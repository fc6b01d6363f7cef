"""Store changes → debounced pure build → publish to whoever consumes tables.

Sources write into the `Store`; every write calls `Reconciler.notify`. The
reconciler coalesces bursts (a kopf re-list, a directory rewrite) into few
builds: it waits `debounce` seconds of quiet, but never more than `max_delay`
after the first change, so an EndpointSlice change reaches the proxy quickly
even while events keep arriving. A lone change (nothing else arrives within
`_ISOLATED` seconds) is built at once: the common case for endpoint churn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ingress.build import build
from ingress.build.result import BuildResult
from ingress.settings import BuildSettings
from ingress.store import Store

log = logging.getLogger(__name__)

Publisher = Callable[[BuildResult], None]

# Quiet period that makes a change "lone": long enough to take in the other
# events of the same watch read, short enough not to be noticed.
_ISOLATED = 0.005

# Builds that took less than this last time run on the loop: a thread hand-off
# (and the GIL contention during it) would cost more than the build itself.
_INLINE_BUILD = 0.02


class Reconciler:
    def __init__(
        self,
        settings: BuildSettings,
        publishers: list[Publisher],
        debounce: float = 0.05,
        max_delay: float = 0.25,
    ) -> None:
        self.store = Store(on_change=self.notify)
        self._settings = settings
        self._publishers = publishers
        self._debounce = debounce
        self._max_delay = max_delay
        self._changed = asyncio.Event()
        self._synced = asyncio.Event()
        self.result: BuildResult | None = None
        self.generation = 0
        # When the oldest change not yet built arrived (0: none pending).
        self._pending_since = 0.0
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

    def notify(self) -> None:
        if not self._pending_since:
            self._pending_since = time.monotonic()
        self._changed.set()

    def mark_synced(self) -> None:
        """The source has listed everything once: builds may start."""
        self._synced.set()
        self._changed.set()

    async def run(self) -> None:
        await self._synced.wait()
        while True:
            await self._changed.wait()
            await self._settle()
            pending_since = self._take_pending()
            snapshot, generation = self.store.snapshot(), self.generation + 1
            started = time.perf_counter()
            try:
                if self.last_build_seconds < _INLINE_BUILD:
                    result = build(snapshot, self._settings, time.time(), generation)
                else:
                    # A large build (10,000 Ingresses ≈ 1.5 s) must not stall the proxy
                    # and the admin endpoints that share this loop. It only reads the
                    # snapshot, whose objects nothing mutates.
                    result = await asyncio.to_thread(
                        build, snapshot, self._settings, time.time(), generation
                    )
            except Exception:  # a builder bug must not stop routing: keep the last table
                log.exception("building the routing table failed; serving the previous one")
                self.failures += 1
                self.last_build_failed = True
                continue
            self._publish(result, started, pending_since)

    async def _settle(self) -> None:
        deadline = time.monotonic() + self._max_delay
        quiet = _ISOLATED
        while True:
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), min(quiet, remaining))
            except TimeoutError:
                return
            quiet = self._debounce  # more is coming: coalesce it

    def rebuild(self) -> BuildResult:
        """Build and publish now, in this thread (for callers without a loop)."""
        pending_since = self._take_pending()
        started = time.perf_counter()
        result = build(
            self.store.snapshot(), self._settings, now=time.time(), generation=self.generation + 1
        )
        self._publish(result, started, pending_since)
        return result

    def _take_pending(self) -> float:
        pending_since, self._pending_since = self._pending_since, 0.0
        return pending_since

    def _publish(self, result: BuildResult, started: float, pending_since: float) -> None:
        self.generation = result.table.generation
        self.last_build_seconds = time.perf_counter() - started
        self.last_success_at = time.time()
        self.last_build_failed = False
        known = set(self.result.problems) if self.result is not None else set()
        self.result = result
        for problem in result.problems:
            if problem in known:
                continue  # logged when it first appeared
            log.warning("%s", problem, extra={"object": str(problem.obj), "field": problem.field})
        for publish in self._publishers:
            publish(result)
        if pending_since:
            self.last_event_to_swap_seconds = time.monotonic() - pending_since
