"""Run the load generators: in this process, or spread over worker processes.

One Python process saturates one core at a few thousand requests per
second; `--processes N` gives each of N processes every N-th request of the
schedule (and a share of the connections). They warm up their connections,
report ready, and start together at one monotonic instant (Linux's
monotonic clock is system-wide), then stream their seconds back here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
from collections.abc import Callable
from multiprocessing.context import SpawnContext
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

import uvloop

from ingress.loadtest.client import Plan, SecondStats, Totals, generate

# Margin between the last generator reporting ready and the common start.
_START_MARGIN = 0.05
_POLL = 0.2


def _worker(plan: Plan, messages: multiprocessing.Queue[Any], start: Event,
            t0: Synchronized[float]) -> None:
    def emit(stats: SecondStats) -> None:
        messages.put(("second", stats))

    def wait_for_start() -> float:
        messages.put(("ready", plan.share))
        start.wait()
        return float(t0.value)

    try:
        totals = uvloop.run(generate(plan, emit, wait_for_start))
    except BaseException as error:  # the parent must hear of it, whatever it was
        messages.put(("failed", plan.share, f"{type(error).__name__}: {error}"))
        raise
    messages.put(("done", totals))


async def run_generators(plans: list[Plan], emit: Callable[[SecondStats], None]) -> list[Totals]:
    """Run every plan to its end; each ended second goes to `emit` as it arrives."""
    if len(plans) == 1:
        return [await generate(plans[0], emit, time.monotonic)]
    context: SpawnContext = multiprocessing.get_context("spawn")
    messages: multiprocessing.Queue[Any] = context.Queue()
    start = context.Event()
    t0 = context.Value("d", 0.0)
    workers = [context.Process(target=_worker, args=(plan, messages, start, t0), daemon=True,
                               name=f"portico-loadtest-{plan.share}") for plan in plans]
    for worker in workers:
        worker.start()
    loop = asyncio.get_running_loop()
    ready = 0
    totals: list[Totals] = []
    try:
        while len(totals) < len(plans):
            try:
                message = await loop.run_in_executor(None, messages.get, True, _POLL)
            except queue.Empty:
                crashed = [w for w in workers if w.exitcode not in (None, 0)]
                if crashed:
                    raise RuntimeError(f"load generator {crashed[0].name} exited with "
                                       f"{crashed[0].exitcode}") from None
                continue
            kind = message[0]
            if kind == "second":
                emit(message[1])
            elif kind == "ready":
                ready += 1
                if ready == len(plans):
                    t0.value = time.monotonic() + _START_MARGIN
                    start.set()
            elif kind == "done":
                totals.append(message[1])
            else:
                raise RuntimeError(f"load generator {message[1]} failed: {message[2]}")
    except BaseException:
        for worker in workers:  # the others would load on for nothing
            worker.terminate()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
                worker.join()
    return sorted(totals, key=lambda t: t.share)
