"""benchmarks.workers_scaling: how CPUs are split, which worker counts run, efficiency."""

from __future__ import annotations

import pytest

from benchmarks.harness.measure import Measurement, failed
from benchmarks.harness.rig import known_config, nginx_workers
from benchmarks.workers_scaling import default_cpus, default_workers, points, table


def test_small_machines_share_their_cpus_and_larger_ones_split_them() -> None:
    assert default_cpus([0, 1]) == ("0,1", "0,1")
    assert default_cpus([0, 1, 2, 3, 4, 5, 6, 7]) == ("0,1,2,3", "4,5,6,7")


def test_worker_counts_double_up_to_the_proxy_cpus() -> None:
    assert default_workers(1) == [1, 2]
    assert default_workers(2) == [1, 2]
    assert default_workers(8) == [1, 2, 4, 8]


def test_scaled_configurations_are_named_by_their_worker_count() -> None:
    assert known_config("portico-4") and known_config("nginx-16") and known_config("nginx")
    assert not known_config("nginx-0") and not known_config("envoy-2")
    assert nginx_workers("nginx") == 1 and nginx_workers("nginx-4") == 4


def _run(config: str, rnd: int, rps: int, cpu_s: float = 1.0) -> Measurement:
    return Measurement(config, "http-3B", rnd, rps, 1.0, cpu_s, 0.5, 1.0, 2.0)


def test_efficiency_is_relative_to_one_worker_of_the_same_proxy() -> None:
    runs = [_run("portico-1", 1, 1_000), _run("portico-2", 1, 1_500),
            _run("portico-4", 1, 2_000), _run("nginx-1", 1, 4_000), _run("nginx-2", 1, 8_000),
            failed("nginx-4", "http-3B", 1, "did not start")]
    # Two proxy CPUs: four workers can at best double one worker's rate.
    found = {(p.proxy, p.workers): p for p in points(runs, proxy_cpus=2)}
    assert found["portico", 2].efficiency == pytest.approx(0.75)
    assert found["portico", 4].efficiency == pytest.approx(1.0)
    assert found["nginx", 2].efficiency == pytest.approx(1.0)
    assert ("nginx", 4) not in found
    rows = table(list(found.values()))
    assert rows[-1].startswith("| http-3B | 4 | 2,000 |") and "failed" in rows[-1]
    assert rows[-2].endswith("| 0.19 |")  # 1,500 / 8,000
