"""How long one build of N Ingresses takes, and the process's peak RSS.

Each Ingress has two paths to its own Service, whose EndpointSlice has
three ready pods: the shape of a large multi-tenant cluster. Targets:
10,000 Ingresses in under 2 s and under 300 MB RSS.

    .venv/bin/python -m benchmarks.build_scale [N ...]
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from typing import Any

from ingress.build import build
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
    started = time.perf_counter()
    result = build(objects, BuildSettings(), now=time.time())
    seconds = time.perf_counter() - started
    routes = sum(len(v.exact) + len(v.prefixes) for v in result.table.hosts.values())
    assert routes == 2 * count and not result.problems, "the benchmark cluster must build cleanly"
    print(f"{count:>6} Ingresses: build {seconds:.3f} s, {routes} routes, "
          f"peak RSS {rss_mb():.0f} MB")


def main() -> None:
    for count in [int(arg) for arg in sys.argv[1:]] or [1_000, 10_000]:
        measure(count)


if __name__ == "__main__":
    main()
