"""Table changes into the data plane of this process (--workers 1), a large one in parts.

A change of a few virtual hosts or endpoint sets is installed at once,
with no pickling at all. A large one (the first table, a setting that
touches every route) is staged a part at a time, the event loop serving
requests between two parts, and swapped in with the last: no request waits
for more than one part (`PART_BUDGET` routes and endpoints). Changes are
installed whole and in the order they came, so an endpoint change never
overtakes the table it belongs to. Worker processes do the same with the
parts their frames bring (`ingress.proxy.workers`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Protocol

from ingress.collection import FullPasses, freeze_survivors
from ingress.model import RoutingTable
from ingress.model.changes import TableChange, split

if TYPE_CHECKING:  # the supervisor imports PART_BUDGET (through workers), not the proxy
    from ingress.proxy.dataplane import Dataplane

log = logging.getLogger(__name__)

# Routes and endpoints per part of a change: a part unpickles and is staged in a few ms.
PART_BUDGET = 100


class Certificates(Protocol):
    """The TLS contexts served (`ingress.tls.TlsContexts`)."""

    def update(self, table: RoutingTable) -> None: ...


class LocalInstaller:
    def __init__(self, dataplane: Dataplane, tls: Certificates | None) -> None:
        self._dataplane = dataplane
        self._tls = tls
        self._pending: deque[tuple[RoutingTable, TableChange]] = deque()
        self._task: asyncio.Task[None] | None = None

    def apply(self, table: RoutingTable, change: TableChange) -> None:
        """Serve `table`, which `change` makes of the table given before."""
        if not self._pending and change.weight() <= PART_BUDGET:
            self._dataplane.stage(change)
            self._install(table, change)
            return
        self._pending.append((table, change))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._install_pending())
            self._task.add_done_callback(_report_failure)

    async def _install_pending(self) -> None:
        full_passes = FullPasses()
        while self._pending:
            table, change = self._pending[0]
            full_passes.hold()  # the change's objects outlive its parts
            for part in split(change, PART_BUDGET):
                self._dataplane.stage(part)
                await asyncio.sleep(0)  # requests run between two parts
            self._pending.popleft()
            self._install(table, change)
            full_passes.release()
            freeze_survivors()

    def _install(self, table: RoutingTable, change: TableChange) -> None:
        if self._tls is not None and change.tls_changed():
            self._tls.update(table)
        self._dataplane.install(table)


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("installing a routing table failed", exc_info=task.exception())
