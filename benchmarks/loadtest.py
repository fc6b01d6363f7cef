"""Load-test any running HTTP(S) deployment and report latency and throughput.

    python -m benchmarks.loadtest --url http://127.0.0.1:8080/ --host app.example \
        --rate 1000 --duration 10          # open loop: fixed rate, our client
    python -m benchmarks.loadtest --url http://127.0.0.1:8080/ --host app.example \
        --connections 50 --duration 10     # closed loop: as fast as answered, wrk

Writes README.md (the report) and latency.png to --out, and prints the report.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.machine import describe_machine
from benchmarks.harness.openloop import run_open_loop
from benchmarks.harness.plots import plot_load_test
from benchmarks.harness.wrk import run_wrk, wrk_argv

BENCH_DIR = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class LoadReport:
    mode: str
    ok: int
    errors: int
    duration_s: float
    percentiles_ms: dict[float, float]
    per_second: Sequence[int]

    @property
    def rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0


def _progress(text: str) -> None:
    print(f"\r{text:<79}", end="", file=sys.stderr, flush=True)


def run_fixed_rate(url: str, host: str | None, rate: float, duration: int,
                   connections: int) -> LoadReport:
    def progress(elapsed: float, sent: int, completed: int, errors: int) -> None:
        _progress(f"  {elapsed:5.1f}/{duration} s  sent {sent:,}  answered {completed:,}  "
                  f"errors {errors:,}")

    result = run_open_loop(url, host, rate, duration, connections, progress)
    return LoadReport(
        mode=f"open loop at {rate:g} rps over {connections} connections (benchmarks client)",
        ok=result.completed,
        errors=result.errors,
        duration_s=result.duration_s,
        percentiles_ms={p: v / 1e3 for p, v in result.percentiles_us.items()},
        per_second=result.per_second,
    )


def run_closed_loop(url: str, host: str | None, connections: int, duration: int) -> LoadReport:
    threads = max(1, min(connections, os.cpu_count() or 1))

    def tick(elapsed: float) -> None:
        _progress(f"  {elapsed:5.1f}/{duration} s  wrk -t{threads} -c{connections} running")

    report = run_wrk(wrk_argv(url, host, connections, duration, threads=threads), tick)
    return LoadReport(
        mode=f"closed loop, wrk -t{threads} -c{connections}",
        ok=report.requests - report.errors["status"],
        errors=report.failed_requests,
        duration_s=report.duration_s,
        percentiles_ms={p: v / 1e3 for p, v in report.percentiles_us.items()},
        per_second=(),
    )


def render(url: str, host: str | None, report: LoadReport) -> list[str]:
    machine = describe_machine()
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"# Load test of {url}" + (f" (Host: {host})" if host else ""),
        "",
        f"{when}, {report.mode}, {report.duration_s:.1f} s. Client machine:",
        "",
        *machine.describe(),
        "",
        "| responses | errors | rps | " + " | ".join(f"p{p:g} ms" for p in report.percentiles_ms)
        + " |",
        "|---:|---:|---:|" + "---:|" * len(report.percentiles_ms),
        f"| {report.ok:,} | {report.errors:,} | {report.rps:,.0f} | "
        + " | ".join(f"{v:.2f}" for v in report.percentiles_ms.values()) + " |",
        "",
        "![latency](latency.png)",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.loadtest",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="http(s)://address:port/path")
    ap.add_argument("--host", help="Host header (and TLS server name); default from --url")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--rate", type=float, help="fixed request rate (open loop)")
    mode.add_argument("--connections", type=int, help="concurrent connections (closed loop)")
    ap.add_argument("--duration", type=int, default=10, help="seconds (whole)")
    ap.add_argument("--rate-connections", type=int, default=64,
                    help="connection pool of the fixed-rate client")
    ap.add_argument("--out", type=Path, help="report directory "
                    "(default: benchmarks/.run/loadtest/<timestamp>)")
    args = ap.parse_args(argv)
    if args.duration < 1:
        ap.error("--duration: must be at least 1 second")
    if args.rate is not None and args.rate <= 0:
        ap.error("--rate: must be positive")
    if args.connections is not None and args.connections < 1:
        ap.error("--connections: must be at least 1")
    try:
        if args.rate is not None:
            report = run_fixed_rate(args.url, args.host, args.rate, args.duration,
                                    args.rate_connections)
        else:
            report = run_closed_loop(args.url, args.host, args.connections, args.duration)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"\nload test of {args.url} failed: {exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    out: Path = args.out or BENCH_DIR / ".run" / "loadtest" / datetime.datetime.now().strftime(
        "%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    lines = render(args.url, args.host, report)
    (out / "README.md").write_text("\n".join(lines) + "\n")
    if report.percentiles_ms:
        plot_load_test(out / "latency.png", f"{args.url}: {report.mode}",
                       report.percentiles_ms, report.per_second)
    print("\n".join(lines[:-2]))
    print(f"\nreport: {out / 'README.md'}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
