"""How long a worker's event loop is busy installing a table, one callback at a time.

A worker reads the supervisor's frames on its event loop: while it
unpickles a part of a change, or applies a change and swaps the table in,
no request moves. This times exactly that work, in this process, for the
changes a 10,000-Ingress cluster sees (`benchmarks/build_scale.py`'s
objects):

- *endpoints*: one EndpointSlice changed (one endpoint set);
- *one Ingress*: a path of one Ingress changed (one virtual host);
- *whole table*: a worker's first table, or a setting that touches every route;
- *before*: what a worker did until endpoints travelled apart: unpickle the
  whole table in one piece and swap it in (pickled through the constructors,
  as the model is now: a compiled model loads no other way).

For each: the frames the supervisor sends and what pickling them cost it,
and on the worker the longest single callback (the stall a request can
see) and the total. CPU work, so a busy machine inflates it but cannot hide
a long callback.

    python -m benchmarks.swap_cost [--ingresses 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.build_scale import cluster
from ingress.build import build
from ingress.collection import FullPasses, freeze_survivors
from ingress.model import EMPTY_TABLE, EndpointSet, RoutingTable
from ingress.model.changes import TableChange, endpoints_change, join, table_change
from ingress.model.pickling import dumps
from ingress.proxy.dataplane import Dataplane
from ingress.proxy.installer import PART_BUDGET
from ingress.proxy.workers import change_frames
from ingress.settings import BuildSettings, Settings
from ingress.store import Snapshot


@dataclass
class Cost:
    scenario: str
    frames: int
    bytes: int
    pickle_ms: float  # the supervisor, once for every worker
    longest_ms: float  # the longest callback on the worker's loop
    total_ms: float


def _frames(data: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        frames.append(data[at + 4:at + 4 + length])
        at += 4 + length
    return frames


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def measure(scenario: str, served: RoutingTable, change: TableChange,
            loop: asyncio.AbstractEventLoop) -> Cost:
    started = time.perf_counter()
    data = change_frames(change)
    pickle_ms = (time.perf_counter() - started) * 1000
    dataplane = Dataplane(Settings(), loop)
    dataplane.swap(served)
    parts: list[TableChange] = []
    callbacks: list[float] = []
    freeze_survivors(full=True)  # a worker serving its table has done so
    full_passes = FullPasses()
    for raw in _frames(data):  # as worker_main does, one frame per callback
        started = time.perf_counter()
        kind, payload = pickle.loads(raw)
        dataplane.stage(payload)
        parts.append(payload)
        if kind == "part":
            full_passes.hold()
        else:
            whole = join(parts)
            dataplane.install(whole.apply(dataplane.table))
            full_passes.release()
            if len(parts) > 1:
                freeze_survivors()
        callbacks.append((time.perf_counter() - started) * 1000)
    return Cost(scenario, len(callbacks), len(data), pickle_ms, max(callbacks), sum(callbacks))


def measure_before(served: RoutingTable, table: RoutingTable,
                   loop: asyncio.AbstractEventLoop) -> Cost:
    """The whole table in one pickle, swapped in with the data plane working out the rest."""
    started = time.perf_counter()
    data = dumps(("table", table))
    pickle_ms = (time.perf_counter() - started) * 1000
    dataplane = Dataplane(Settings(), loop)
    dataplane.swap(served)

    def install() -> None:
        _, new = pickle.loads(data)
        dataplane.swap(new)

    took = _timed(install)
    return Cost("before: whole table, one pickle", 1, len(data), pickle_ms, took, took)


def one_ingress_changed(objects: Snapshot) -> Snapshot:
    changed = {kind: dict(bucket) for kind, bucket in objects.items()}
    key = next(iter(changed["Ingress"]))
    body = copy.deepcopy(changed["Ingress"][key])
    body["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/changed"
    changed["Ingress"][key] = body
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingresses", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    objects = cluster(args.ingresses)
    served = build(objects, BuildSettings(), time.time(), generation=1).table
    rebuilt = build(one_ingress_changed(objects), BuildSettings(), time.time(),
                    generation=2).table
    key = next(iter(served.endpoints))
    moved = endpoints_change(served, {key: EndpointSet(served.endpoints[key].ready[:1])})
    loop = asyncio.new_event_loop()
    scenarios = [
        ("endpoints: one EndpointSlice", served, moved),
        ("one Ingress: one virtual host", served, table_change(served, rebuilt)),
        ("whole table: a worker's first", EMPTY_TABLE, table_change(EMPTY_TABLE, served)),
    ]
    costs = [min((measure(name, base, change, loop) for _ in range(args.rounds)),
                 key=lambda c: c.longest_ms) for name, base, change in scenarios]
    costs.append(min((measure_before(EMPTY_TABLE, served, loop) for _ in range(args.rounds)),
                     key=lambda c: c.longest_ms))
    loop.close()
    print(f"{args.ingresses} Ingresses, parts of {PART_BUDGET} routes, best of {args.rounds}\n")
    print("| change | frames | bytes | supervisor pickles, ms | longest worker callback, ms "
          "| worker total, ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in costs:
        print(f"| {c.scenario} | {c.frames} | {c.bytes:,} | {c.pickle_ms:.1f} "
              f"| {c.longest_ms:.1f} | {c.total_ms:.1f} |")


if __name__ == "__main__":
    main()
