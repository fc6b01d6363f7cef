"""Several data-plane processes on the same ports (SO_REUSEPORT).

The supervisor (the process running the source and the builder) starts N
worker processes, each connected by a private socketpair. A new table
travels as a `TableChange` from the one before (what a rebuild changed, or
an EndpointSlice change's endpoint sets), pickled once for all workers;
certificates travel inside it, never through the file system. A large
change goes in parts that a worker unpickles and stages one at a time,
answering requests in between, and swaps in with the last. Frames on one
channel arrive in the order they were sent, and a change applies only to
the generation it was computed from: a worker that ever gets one that does
not fit asks for the whole table again (`resync`) and keeps serving its own
meanwhile. A worker acknowledges each table it swaps in and pushes its
counters every second; one that dies is restarted with the current table
before it accepts connections.

Frames are a 4-byte big-endian length and a pickle of `(kind, payload)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import signal
import socket
import struct
import sys
from typing import Any

from ingress.collection import FullPasses, freeze_survivors
from ingress.model import Certificate, RoutingTable
from ingress.model.changes import TableChange, join, split, table_change
from ingress.model.pickling import ModelPickler
from ingress.observability.stats import ProxyStats
from ingress.proxy.installer import PART_BUDGET
from ingress.settings import Settings

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
_RESTART_BACKOFF = (0.1, 0.5, 1.0, 2.0, 5.0)


def frame(kind: str, payload: Any, pickler: ModelPickler | None = None) -> bytes:
    data = (pickler or ModelPickler()).dumps((kind, payload))
    return _LENGTH.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> tuple[str, Any]:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    kind, payload = pickle.loads(await reader.readexactly(length))
    return str(kind), payload


def change_frames(change: TableChange, budget: int = PART_BUDGET) -> bytes:
    """`change` as "part" frames and a last "change" frame."""
    *parts, last = split(change, budget)
    pickler = ModelPickler()
    return b"".join([*(frame("part", part, pickler) for part in parts),
                     frame("change", last, pickler)])


class _Worker:
    """The supervisor's handle on one worker process."""

    def __init__(self, index: int, started: asyncio.Future[None]) -> None:
        self.index = index
        self.started = started  # done once it listened the first time
        self.process: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.generation = -1
        self.stats = ProxyStats()
        self.failures = 0

    def send(self, data: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)


class WorkerPool:
    def __init__(self, settings: Settings, default_certificate: Certificate | None) -> None:
        self._settings = settings
        # One generated certificate for all workers: clients see the same one on every worker.
        self._default_certificate = default_certificate
        self._workers: list[_Worker] = []
        self._table: RoutingTable | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._draining = False
        self._serving = asyncio.Event()  # set once every worker serves a table

    async def start(self) -> None:
        """Start every worker and wait until each one listens."""
        loop = asyncio.get_running_loop()
        self._workers = [_Worker(i, loop.create_future()) for i in range(self._settings.workers)]
        self._tasks = [loop.create_task(self._supervise(worker)) for worker in self._workers]
        await asyncio.gather(*(worker.started for worker in self._workers))

    def apply(self, table: RoutingTable, change: TableChange) -> None:
        """Serve `table`, which `change` makes of the table served until now."""
        self._table = table
        data = change_frames(change)  # pickled once for every worker
        for worker in self._workers:
            worker.send(data)

    def all_serving(self) -> bool:
        """Whether every worker serves a table (readiness). Not necessarily the newest: a
        worker still applying a change serves the one before, which is no reason to take
        the replica out of its Service."""
        return self._table is not None and all(w.generation > 0 for w in self._workers)

    async def serving(self) -> None:
        """Until every worker serves a table (`all_serving`) for the first time."""
        await self._serving.wait()

    def pids(self) -> list[int]:
        """The worker processes running now."""
        return [w.process.pid for w in self._workers
                if w.process is not None and w.process.returncode is None]

    def stats(self) -> ProxyStats:
        total = ProxyStats()
        for worker in self._workers:
            total.merge(worker.stats)
        return total

    async def drain(self, grace: float) -> None:
        self._draining = True
        for worker in self._workers:
            worker.send(frame("drain", grace))
        processes = [w.process for w in self._workers if w.process is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace + 5.0):
                await asyncio.gather(*(p.wait() for p in processes))
        for process in processes:
            if process.returncode is None:
                process.kill()
        for task in self._tasks:
            task.cancel()

    async def _supervise(self, worker: _Worker) -> None:
        while not self._draining:
            code = await self._run_once(worker)
            if self._draining:
                return
            if not worker.started.done():
                failure = RuntimeError(f"worker {worker.index} exited with {code}")
                worker.started.set_exception(failure)
                return
            delay = _RESTART_BACKOFF[min(worker.failures, len(_RESTART_BACKOFF) - 1)]
            worker.failures += 1
            log.error("worker %d exited with %s; restarting in %.1fs", worker.index, code, delay)
            await asyncio.sleep(delay)

    async def _run_once(self, worker: _Worker) -> int | None:
        ours, theirs = socket.socketpair()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ingress.proxy.worker",
            str(theirs.fileno()),
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        worker.process = process
        reader, writer = await asyncio.open_connection(sock=ours)
        worker.writer = writer
        worker.generation = -1
        writer.write(frame("init", (self._settings, self._default_certificate, self._table)))
        try:
            while True:
                kind, payload = await read_frame(reader)
                if kind == "listening":
                    worker.failures = 0
                    if not worker.started.done():
                        worker.started.set_result(None)
                elif kind == "ack":
                    worker.generation = int(payload)
                    if self.all_serving():
                        self._serving.set()
                elif kind == "resync":
                    worker.send(frame("table", self._table))
                elif kind == "stats":
                    worker.stats = payload
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
        worker.stats = ProxyStats()
        return await process.wait()


async def worker_main(fd: int) -> int:
    """A worker process: serve tables from the supervisor until told to drain."""
    from ingress.observability.logs import configure_logging
    from ingress.proxy.dataplane import Dataplane

    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=fd))
    kind, (settings, default_certificate, table) = await read_frame(reader)
    assert kind == "init"
    assert isinstance(settings, Settings)
    configure_logging(settings.log_format, settings.log_level)
    stats = ProxyStats()
    dataplane = Dataplane(settings, loop, stats)
    tls = None
    if settings.https_port:  # else this process need not load `cryptography` at all
        from ingress.tls.contexts import TlsContexts

        tls = TlsContexts(settings, default_certificate)
    full_passes = FullPasses()
    large = False  # the change being installed came in parts

    def install(new: RoutingTable, change: TableChange) -> None:
        """Serve `new`, whose change from the table served was staged part by part."""
        nonlocal large
        first = not dataplane.table.generation
        if tls is not None and change.tls_changed():
            tls.update(new)
        dataplane.install(new)
        full_passes.release()
        if first:
            # The first table is most of what this process holds: out of the full passes
            # (`ingress.collection`), before this worker is ready.
            freeze_survivors(full=True)
        elif large:
            freeze_survivors()
        large = False
        writer.write(frame("ack", new.generation))

    def swap(new: RoutingTable) -> None:
        nonlocal large
        change = table_change(dataplane.table, new)
        dataplane.stage(change)
        large = True
        install(new, change)

    if table is not None:
        swap(table)
    await dataplane.start(tls.server_context if tls is not None else None,
                          tls.peer_certificate if tls is not None else None,
                          tls.context_for_name if tls is not None else None)
    gc.freeze()  # as in serve.py: the long-lived objects stay out of full collections
    writer.write(frame("listening", os.getpid()))

    async def push_stats() -> None:
        while True:
            await asyncio.sleep(1.0)
            writer.write(frame("stats", dataplane.snapshot()))

    pusher = loop.create_task(push_stats())
    parts: list[TableChange] = []
    resyncing = False  # changes are dropped until the whole table comes
    try:
        while True:
            kind, payload = await read_frame(reader)
            if kind in ("part", "change"):
                if resyncing:
                    continue
                if payload.base != dataplane.table.generation:
                    log.error("worker %d: a change of generation %d cannot apply to "
                              "generation %d; asking for the whole table", os.getpid(),
                              payload.base, dataplane.table.generation)
                    resyncing = True
                    writer.write(frame("resync", dataplane.table.generation))
                    continue
                dataplane.stage(payload)
                parts.append(payload)
                if kind == "part":
                    full_passes.hold()  # a large change: its objects outlive the parts
                    large = True
                    await asyncio.sleep(0)  # requests run between two parts
                    continue
                change, parts = join(parts), []
                install(change.apply(dataplane.table), change)
            elif kind == "table":
                resyncing = False
                swap(payload)
            elif kind == "drain":
                await dataplane.drain(float(payload))
                return 0
    except (asyncio.IncompleteReadError, ConnectionError):
        # The supervisor is gone: stop serving at once rather than run unmanaged.
        await dataplane.drain(0.0)
        return 1
    finally:
        pusher.cancel()


def main() -> int:
    import uvloop

    # Ctrl-C reaches the whole process group: the supervisor decides, workers drain when told.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return uvloop.run(worker_main(int(sys.argv[1])))
