"""One measured run: load on one configuration while its process tree's CPU is counted."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.h2load import GRPC_REQUEST, h2load_argv, run_h2load
from benchmarks.harness.procs import cpus_busy_seconds, parse_cpu_list, tree_cpu_seconds
from benchmarks.harness.rig import (
    BENCH_HOST,
    GRPC_HOST,
    GRPC_PATH,
    LARGE_PATH,
    LARGE_SIZE,
    SMALL_BODY,
    SMALL_PATH,
    Target,
)
from benchmarks.harness.wrk import run_wrk, wrk_argv


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    tls: bool
    large: bool
    rate: float | None  # None: closed loop (wrk); else open loop at this many rps
    # True: every request on a new connection ("Connection: close"), so with TLS
    # each request is a full handshake: requests per CPU-second = handshakes.
    new_connections: bool = False
    # "h2": h2load over TLS (ALPN h2) to the usual upstream; "grpc": h2load sending
    # unary gRPC calls over h2c to a gRPC upstream. Only nginx and Portico speak both.
    h2: str = ""

    @property
    def path(self) -> str:
        return LARGE_PATH if self.large else SMALL_PATH

    @property
    def body_size(self) -> int:
        return LARGE_SIZE if self.large else len(SMALL_BODY)


def scenarios(rate: float) -> tuple[Scenario, ...]:
    fixed = f"{rate / 1000:g}k"
    return (
        Scenario("http-3B", tls=False, large=False, rate=None),
        Scenario("http-16KiB", tls=False, large=True, rate=None),
        Scenario("tls-3B", tls=True, large=False, rate=None),
        Scenario("tls-16KiB", tls=True, large=True, rate=None),
        Scenario("tls-handshake", tls=True, large=False, rate=None, new_connections=True),
        Scenario(f"http-3B@{fixed}rps", tls=False, large=False, rate=rate),
        Scenario(f"tls-3B@{fixed}rps", tls=True, large=False, rate=rate),
        Scenario("h2-tls-3B", tls=True, large=False, rate=None, h2="h2"),
        Scenario("h2-tls-16KiB", tls=True, large=True, rate=None, h2="h2"),
        Scenario("grpc-unary", tls=False, large=False, rate=None, h2="grpc"),
    )


# portico-2's workers share portico-1's one CPU: for HTTP/2 it would add runs (and CI
# time in the smoke run) without a different answer.
H2_CONFIGS = ("nginx", "portico-1")
# 50 requests in flight, as wrk -c50: more than the 64 kept-alive upstream connections
# would measure connection churn, not HTTP/2.
_H2_CONNECTIONS, _H2_STREAMS = 5, 10


@dataclass(frozen=True, slots=True)
class Measurement:
    config: str
    scenario: str
    round: int
    requests: int  # answered with 2xx/3xx
    duration_s: float
    cpu_s: float  # of the configuration's process tree during the run
    p50_ms: float
    p99_ms: float
    p999_ms: float
    # CPU time on the proxy's CPUs not charged to the configuration: the
    # kernel's share of loopback traffic, and other work on a shared machine.
    other_cpu_s: float = 0.0
    failure: str | None = None  # why this run produced no valid result

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def per_cpu_s(self) -> float:
        return self.requests / self.cpu_s if self.cpu_s else 0.0


@dataclass(frozen=True, slots=True)
class Load:
    connections: int
    duration_s: int
    open_loop_connections: int
    load_cpus: str
    proxy_cpus: str
    workdir: str = "."
    wrk_threads: int = 1  # one per load CPU when several workers are to be saturated


def failed(config: str, scenario: str, rnd: int, why: str) -> Measurement:
    return Measurement(config, scenario, rnd, 0, 0.0, 0.0, 0.0, 0.0, 0.0, failure=why)


def _other_cpu(target: Target, busy_before: float, cpu: float, proxy_cpus: set[int]) -> float:
    busy = cpus_busy_seconds(proxy_cpus) - busy_before
    # "direct" runs on the load CPUs: everything on the proxy's CPUs is other work.
    return max(0.0, busy - cpu) if target.is_proxy else busy


def _open_loop(url: str, rate: float, load: Load) -> tuple[dict[str, Any] | None, str]:
    """`portico loadtest` at `rate` on the load CPUs: its report, or why there is none."""
    with tempfile.TemporaryDirectory(prefix="portico-bench-") as out:
        proc = subprocess.run(
            ["taskset", "-c", load.load_cpus, sys.executable, "-m", "ingress.cli", "loadtest",
             url, "--host", BENCH_HOST, "--rate", str(rate), "--duration", f"{load.duration_s}s",
             "--connections", str(load.open_loop_connections), "--insecure", "--no-plots",
             "--out", out],
            capture_output=True, text=True, check=False,
        )
        report_path = Path(out) / "report.json"
        if not report_path.exists():
            return None, f"portico loadtest exited {proc.returncode}: {proc.stderr[-1500:]}"
        report: dict[str, Any] = json.loads(report_path.read_text())
        return report, ""


def _measure_h2(target: Target, scenario: Scenario, rnd: int, load: Load,
                grpc_body: Path) -> Measurement:
    """h2load: 5 connections x 10 streams (browser-like multiplexing), counted like wrk runs."""
    cpu_before = tree_cpu_seconds(target.cpu_root)
    if scenario.h2 == "grpc":
        argv = h2load_argv(target.grpc_url + GRPC_PATH, GRPC_HOST, _H2_CONNECTIONS,
                           _H2_STREAMS, load.duration_s, load.load_cpus, grpc_body)
    else:
        argv = h2load_argv(target.https_url + scenario.path, BENCH_HOST, _H2_CONNECTIONS,
                           _H2_STREAMS, load.duration_s, load.load_cpus)
    report, why = run_h2load(argv)
    cpu = tree_cpu_seconds(target.cpu_root) - cpu_before
    if report is None:
        return failed(target.name, scenario.name, rnd, why)
    # h2load -D counts the requests still in flight when time is up as failed.
    if report.failed > _H2_CONNECTIONS * _H2_STREAMS:
        return failed(target.name, scenario.name, rnd, f"{report.failed} requests failed")
    # h2load reports no percentiles: the p50 column holds its mean for these rows.
    return Measurement(target.name, scenario.name, rnd, report.succeeded, report.duration_s,
                       cpu, report.mean_ms, 0.0, 0.0)


def measure(target: Target, scenario: Scenario, rnd: int, load: Load) -> Measurement:
    url = target.url(scenario.tls) + scenario.path
    proxy_cpus = parse_cpu_list(load.proxy_cpus)
    busy_before = cpus_busy_seconds(proxy_cpus)
    cpu_before = tree_cpu_seconds(target.cpu_root)
    if scenario.h2:
        body = Path(load.workdir) / "grpc-request.bin"
        body.write_bytes(GRPC_REQUEST)
        result = _measure_h2(target, scenario, rnd, load, body)
        if result.failure is not None:
            return result
        cpu = result.cpu_s
        problems: list[str] = []
    elif scenario.rate is None:
        report = run_wrk(wrk_argv(url, BENCH_HOST, load.connections, load.duration_s,
                                  threads=load.wrk_threads, cpus=load.load_cpus,
                                  close=scenario.new_connections))
        cpu = tree_cpu_seconds(target.cpu_root) - cpu_before
        requests = report.requests - report.errors["status"]
        wrk_pct = report.percentiles_us
        result = Measurement(target.name, scenario.name, rnd, requests, report.duration_s, cpu,
                             wrk_pct[50.0] / 1e3, wrk_pct[99.0] / 1e3, wrk_pct[99.9] / 1e3)
        problems = [f"{n} {kind} errors" for kind, n in report.errors.items() if n]
        # A body cut short still counts as a request for wrk: check the bytes.
        if report.requests and report.bytes / report.requests < scenario.body_size:
            problems.append(f"{report.bytes / report.requests:.0f} bytes per response, "
                            f"want at least {scenario.body_size}")
    else:
        report, why = _open_loop(url, scenario.rate, load)
        cpu = tree_cpu_seconds(target.cpu_root) - cpu_before
        if report is None:
            return failed(target.name, scenario.name, rnd, why)
        lat = report["latency_ms"]
        answered = sum(n for code, n in report["status"].items() if int(code) < 400)
        result = Measurement(target.name, scenario.name, rnd, answered, report["duration_s"], cpu,
                             lat.get("p50", 0.0), lat.get("p99", 0.0), lat.get("p99.9", 0.0))
        # The client's lag is not held against a run: it shares its CPU with the
        # upstream here, and what compares is CPU per request, not the tail.
        problems = [f"{n} {kind} errors" for kind, n in report["errors_by_kind"].items()]
    result = dataclasses.replace(
        result, other_cpu_s=_other_cpu(target, busy_before, cpu, proxy_cpus))
    if result.requests == 0:
        problems.append("no successful request")
    if problems:
        return failed(target.name, scenario.name, rnd, "; ".join(problems))
    return result
