"""`make bench-smoke`: the whole benchmark path, every configuration once, no speed checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare import SMOKE_SCENARIOS
from benchmarks.harness.measure import H2_CONFIGS
from benchmarks.harness.rig import CONFIGS

ROOT = Path(__file__).resolve().parents[2]

# Its load saturates both CPUs (the proxy's and wrk's): `make test` runs it after the other
# tests, not beside them and their deadlines.
@pytest.mark.bench
@pytest.mark.skipif(any(shutil.which(t) is None
                        for t in ("nginx", "haproxy", "wrk", "h2load", "taskset")),
                    reason="needs nginx, haproxy, wrk, taskset: benchmarks/setup.sh installs them")
def test_every_configuration_produces_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.compare", "--smoke", "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (tmp_path / "results" / "README.md").read_text()
    for config in CONFIGS:
        rows = [line for line in report.splitlines() if line.startswith("| ") and
                f"| {config} |" in line]
        # HTTP/2 and gRPC scenarios run against nginx and portico-1 only.
        h2_scenarios = sum(1 for name in SMOKE_SCENARIOS if name.startswith(("h2-", "grpc-")))
        expected = len(SMOKE_SCENARIOS) - (0 if config in H2_CONFIGS else h2_scenarios)
        assert len(rows) == expected, f"{config}: {rows}"
        assert not any("failed" in row for row in rows)
    assert (tmp_path / "results" / "throughput.png").stat().st_size > 10_000
    assert (tmp_path / "results" / "latency.png").stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("taskset") is None,
                    reason="needs nginx and taskset: benchmarks/setup.sh installs them")
def test_idle_connections_are_held_and_their_memory_reported(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.idle_connections", "--connections", "300",
         "--workdir", str(tmp_path / "run"), "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (tmp_path / "idle_connections.md").read_text()
    assert "300 / 300 / 300" in report
    assert "target: < 3 MB added for 300: met" in report


def test_scale_run_measures_every_source(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--smoke", "--workers", "1",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = json.loads((tmp_path / "results.json").read_text())
    assert [(r["source"], r["ingresses"]) for r in runs] == [("files", 20), ("api", 20)]
    for run in runs:
        assert run["ready_s"] > 0 and run["rss_mb"] > 0 and len(run["changes_ms"]) == 3
        assert len(run["route_changes_ms"]) == 3 and run["rebuild_s"] > 0
        assert run["steady_requests"] > 50 and run["swaps_max_ms"] > 0
        assert run["steady_max_ms"] >= run["steady_p99_ms"] > 0
    assert (tmp_path / "scale.png").stat().st_size > 10_000
