"""How long a rebuild of N Ingresses takes, as `portico run` does it, and the peak RSS.

Each Ingress has two paths to its own Service, whose EndpointSlice has
three ready pods: the shape of a large multi-tenant cluster. The objects go
into a `Reconciler`'s store, and each build is its `rebuild()`: the slices
indexed as they changed, the pure build with the previous build's cache,
the change from the table served and the configuration hash, with the
cyclic collector's full passes held off, as in `portico run`. Builds:

- *cold*: from nothing (start-up: every EndpointSlice parsed too);
- *one Ingress*: after one Ingress's path changed (a routing change);
- *one Service*: after the Service of one Ingress changed (a new object
  with another label, which its Ingress's parse depends on).

Each change is made `--rounds` times (a new object each time): CPU time
(the figure to read on a shared machine), min-max. Target: 10,000
Ingresses in under 0.3 s (issue #14).

    .venv/bin/python -m benchmarks.build_scale [--rounds 3] [N ...]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingress.compiled import mode
from ingress.pipeline import Reconciler
from ingress.settings import BuildSettings
from ingress.store import KINDS, Body, Snapshot


def cluster(count: int) -> Snapshot:
    objects: dict[str, dict[tuple[str, str], Any]] = {kind: {} for kind in KINDS}
    for i in range(count):
        ns, name = f"team-{i % 100}", f"app-{i}"
        backend = {"service": {"name": name, "port": {"name": "http"}}}
        objects["Ingress"][(ns, name)] = {
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns,
                         "creationTimestamp": f"2024-01-01T00:{i // 60 % 60:02}:{i % 60:02}Z"},
            "spec": {"ingressClassName": "portico", "rules": [{
                "host": f"{name}.example.com",
                "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": backend},
                    {"path": "/api/v1", "pathType": "Exact", "backend": backend},
                ]},
            }]},
        }
        objects["Service"][(ns, name)] = {
            "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        }
        objects["EndpointSlice"][(ns, f"{name}-x1")] = {
            "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-x1", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [
                {"addresses": [f"10.{i // 250 % 250}.{i % 250}.{pod}"],
                 "conditions": {"ready": True}}
                for pod in (1, 2, 3)
            ],
        }
    return objects


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(count: int, rounds: int) -> dict[str, Any]:
    objects = cluster(count)
    reconciler = Reconciler(BuildSettings(), [])
    for bucket in objects.values():
        for body in bucket.values():
            reconciler.store.upsert(body)
    del objects
    gc.collect()
    cold = _timed(lambda: None, reconciler.rebuild)
    result = reconciler.result
    assert result is not None
    routes = sum(len(v.exact) + len(v.prefixes) for v in result.table.hosts.values())
    assert routes == 2 * count and not result.problems, "the benchmark cluster must build cleanly"
    ingress = reconciler.store.get("Ingress", "team-0", "app-0")
    service = reconciler.store.get("Service", "team-0", "app-0")
    assert ingress is not None and service is not None
    one_ingress = [_timed(lambda i=i: reconciler.store.upsert(_with_path(ingress, f"/v{i}")),
                          reconciler.rebuild) for i in range(rounds)]
    one_service = [_timed(lambda i=i: reconciler.store.upsert(_with_label(service, str(i))),
                          reconciler.rebuild) for i in range(rounds)]
    print(f"{count:>6} Ingresses: CPU s (wall s) cold {_span([cold])}, "
          f"one Ingress changed {_span(one_ingress)}, one Service changed "
          f"{_span(one_service)}; {routes} routes, peak RSS {rss_mb():.0f} MB")
    # The slowest of each kind: what a target is held to.
    return {"ingresses": count, "routes": routes, "peak_rss_mb": rss_mb(),
            "cold": _worst([cold]), "one_ingress": _worst(one_ingress),
            "one_service": _worst(one_service)}


def _worst(samples: list[tuple[float, float]]) -> dict[str, float]:
    return {"cpu_s": max(s[0] for s in samples), "wall_s": max(s[1] for s in samples)}


def _timed(change: Callable[[], object], rebuild: Callable[[], object]) -> tuple[float, float]:
    """CPU and wall seconds of `rebuild()` after `change()` (CPU time holds on a shared
    machine)."""
    change()
    wall, cpu = time.perf_counter(), time.process_time()
    rebuild()
    return time.process_time() - cpu, time.perf_counter() - wall


def _span(samples: list[tuple[float, float]]) -> str:
    cpu, wall = sorted(s[0] for s in samples), sorted(s[1] for s in samples)
    if len(samples) == 1:
        return f"{cpu[0]:.3f} ({wall[0]:.3f})"
    return f"{cpu[0]:.3f}-{cpu[-1]:.3f} ({wall[0]:.3f}-{wall[-1]:.3f})"


def _with_path(body: Body, path: str) -> Body:
    """A new body for the Ingress, whose first path is `path`."""
    rule = body["spec"]["rules"][0]
    paths = [{**rule["http"]["paths"][0], "path": path}, *rule["http"]["paths"][1:]]
    return {**body, "spec": {**body["spec"], "rules": [{**rule, "http": {"paths": paths}}]}}


def _with_label(body: Body, value: str) -> Body:
    return {**body, "metadata": {**body["metadata"], "labels": {"round": value}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000, 10_000])
    parser.add_argument("--rounds", type=int, default=3, help="changes of each kind")
    parser.add_argument("--json", type=Path, help="also write the figures here "
                        "(benchmarks.targets reads results/build-*/build_scale.json)")
    args = parser.parse_args()
    print(f"builder: {mode()}")
    rows = [measure(count, args.rounds) for count in args.sizes]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
