"""How long one build of N Ingresses takes, and the process's peak RSS.

Each Ingress has two paths to its own Service, whose EndpointSlice has
three ready pods: the shape of a large multi-tenant cluster. Two builds:
*cold*, from nothing (start-up, or a change every Ingress depends on), and
*one changed*, after one Ingress's path changed, with the cold build's parse
cache (the rebuild after a routing change). Targets: 10,000 Ingresses in
under 0.3 s (issue #14) and under 300 MB RSS.

    .venv/bin/python -m benchmarks.build_scale [N ...]
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from ingress.build import build
from ingress.build.result import BuildResult
from ingress.settings import BuildSettings
from ingress.store import KINDS, Snapshot


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


def measure(count: int) -> None:
    objects = cluster(count)
    gc.collect()
    result, cold = _timed(lambda: build(objects, BuildSettings(), now=time.time()))
    routes = sum(len(v.exact) + len(v.prefixes) for v in result.table.hosts.values())
    assert routes == 2 * count and not result.problems, "the benchmark cluster must build cleanly"
    changed = _with_one_path_changed(objects)
    _, again = _timed(lambda: build(changed, BuildSettings(), now=time.time(),
                                    cache=result.parse_cache))
    print(f"{count:>6} Ingresses: build {cold} cold, {again} with one changed, "
          f"{routes} routes, peak RSS {rss_mb():.0f} MB")


def _timed(work: Callable[[], BuildResult]) -> tuple[BuildResult, str]:
    """What `work` returned, and its wall and CPU time (CPU time holds on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, (f"{time.perf_counter() - wall:.3f} s "
                    f"(CPU {time.process_time() - cpu:.3f} s)")


def _with_one_path_changed(objects: Snapshot) -> Snapshot:
    """`objects` with a new body for one Ingress, whose first path is another (the other
    bodies are the same objects, as the store keeps them)."""
    key, body = next(iter(objects["Ingress"].items()))
    rule = body["spec"]["rules"][0]
    paths = [{**rule["http"]["paths"][0], "path": "/changed"}, *rule["http"]["paths"][1:]]
    changed = {**body, "spec": {**body["spec"], "rules": [{**rule, "http": {"paths": paths}}]}}
    return {**objects, "Ingress": {**objects["Ingress"], key: changed}}


def main() -> None:
    for count in [int(arg) for arg in sys.argv[1:]] or [1_000, 10_000]:
        measure(count)


if __name__ == "__main__":
    main()
