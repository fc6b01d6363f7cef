"""Compare Portico with nginx, HAProxy and the bare upstream: `make bench`.

Every configuration proxies to the same upstream nginx. The proxy under test
runs alone on CPU 0; wrk (or the open-loop client) and the upstream share
CPU 1. Each run counts the CPU time of the configuration's whole process
tree, and configurations are interleaved round by round, so "requests per
CPU-second ÷ nginx" compares like with like (recipes/fast-proxy).

    python -m benchmarks.compare                # full run → benchmarks/results/<date>-<host>/
    python -m benchmarks.compare --smoke        # each configuration once, ~20 s, no speed checks
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
import time
from pathlib import Path

from benchmarks.harness.machine import Machine, describe_machine, hostname_slug
from benchmarks.harness.measure import (
    H2_CONFIGS,
    Load,
    Measurement,
    Scenario,
    failed,
    measure,
    scenarios,
)
from benchmarks.harness.plots import plot_latency, plot_throughput
from benchmarks.harness.report import (
    failures,
    markdown_table,
    summarize,
    write_results_json,
)
from benchmarks.harness.rig import CONFIGS, PURE_CONFIG, Rig, Target

BENCH_DIR = Path(__file__).parent
# Between them: wrk and the fixed-rate client, HTTP and TLS, both response sizes, and
# h2load's gRPC calls. (Every configuration already answered both sizes over both
# protocols before the first run.)
SMOKE_SCENARIOS = ("tls-16KiB", "http-3B@1krps", "grpc-unary")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4, help="seconds per run (whole)")
    ap.add_argument("--connections", type=int, default=50, help="wrk connections")
    # Moderate for every configuration here (Portico-1 peaks near 9k rps on
    # this project's 2-core VMs): latency at a rate, not queueing.
    ap.add_argument("--rate", type=float, default=2000, help="rps of the fixed-rate runs")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"comma-separated, from {','.join(CONFIGS)}, {PURE_CONFIG}")
    ap.add_argument("--scenarios", default="",
                    help="comma-separated scenario names (default: all)")
    ap.add_argument("--proxy-cpus", default="0", help="CPUs of the proxy under test")
    ap.add_argument("--load-cpus", default="1", help="CPUs of the load generator and upstream")
    ap.add_argument("--out", type=Path, help="results directory "
                    "(default: benchmarks/results/<date>-<host>)")
    ap.add_argument("--workdir", type=Path, default=BENCH_DIR / ".run" / "compare")
    ap.add_argument("--smoke", action="store_true",
                    help="1 round of 1 s on a few scenarios, results under the workdir")
    args = ap.parse_args(argv)
    if args.smoke:
        args.rounds, args.duration, args.rate = 1, 1, 1000
        args.scenarios = args.scenarios or ",".join(SMOKE_SCENARIOS)
        args.out = args.out or args.workdir / "results"
    for name in ("rounds", "duration", "connections"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}: must be at least 1")
    return args


def _select_scenarios(all_scenarios: tuple[Scenario, ...], wanted: str) -> list[Scenario]:
    if not wanted:
        return list(all_scenarios)
    names = [n for n in wanted.split(",") if n]
    known = {s.name: s for s in all_scenarios}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"--scenarios: unknown {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]


def _warm_up(targets: dict[str, Target], load: Load, chosen: list[Scenario]) -> None:
    """One short closed-loop run per configuration and protocol, not recorded.

    Fills the upstream keep-alive pools, and lets caches and the CPU
    frequency settle before the first recorded round.
    """
    short = dataclasses.replace(load, duration_s=1)
    for target in targets.values():
        for tls in sorted({s.tls for s in chosen if not s.h2}):
            warm = Scenario("warm-up", tls=tls, large=False, rate=None)
            measure(target, warm, 0, short)


def _line(m: Measurement) -> str:
    if m.failure is not None:
        return f"{m.scenario:<18} {m.config:<10} FAILED: {m.failure.splitlines()[0]}"
    return (f"{m.scenario:<18} {m.config:<10} {m.rps:>9,.0f} rps  p50 {m.p50_ms:6.2f} ms  "
            f"p99 {m.p99_ms:7.2f} ms  {m.per_cpu_s:>9,.0f} req/CPU-s")


def run(args: argparse.Namespace) -> tuple[list[Measurement], dict[str, str]]:
    configs = tuple(c for c in args.configs.split(",") if c)
    chosen = _select_scenarios(scenarios(args.rate), args.scenarios)
    load = Load(connections=args.connections, duration_s=args.duration,
                open_loop_connections=32, load_cpus=args.load_cpus,
                proxy_cpus=args.proxy_cpus, workdir=str(args.workdir))
    results: list[Measurement] = []
    with Rig(args.workdir, configs, args.proxy_cpus, args.load_cpus) as rig:
        for name, why in rig.failed.items():
            print(f"{name}: did not start: {why}", file=sys.stderr)
        if not args.smoke:
            _warm_up(rig.targets, load, chosen)
        for rnd in range(1, args.rounds + 1):
            print(f"--- round {rnd}/{args.rounds}", flush=True)
            for scenario in chosen:
                for config in configs:
                    if scenario.h2 and config not in H2_CONFIGS:
                        continue  # HTTP/2 and gRPC: nginx and portico-1 only
                    target = rig.targets.get(config)
                    if target is None:
                        m = failed(config, scenario.name, rnd, "did not start")
                    else:
                        m = measure(target, scenario, rnd, load)
                    results.append(m)
                    print(_line(m), flush=True)
        return results, dict(rig.failed)


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_results(out: Path, args: argparse.Namespace, machine: Machine,
                  results: list[Measurement], start_failures: dict[str, str],
                  load_before: str) -> Path:
    load_after = _load_average()
    out.mkdir(parents=True, exist_ok=True)
    configs = [c for c in args.configs.split(",") if c]
    scenario_order = list(dict.fromkeys(m.scenario for m in results))
    summaries = summarize(results)
    title = f"Portico vs nginx/HAProxy, {machine.cores} cores"
    plot_throughput(out / "throughput.png", summaries, scenario_order, configs, title)
    plot_latency(out / "latency.png", summaries, scenario_order, configs, title)
    write_results_json(out / "results.json", machine, args, (load_before, load_after), results,
                       summaries=summaries)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"# Benchmark results, {when}",
        "",
        *machine.describe(),
        "",
        f"{args.rounds} interleaved round(s); closed-loop runs: wrk -t1 -c{args.connections} "
        f"for {args.duration} s; HTTP/2 and gRPC runs (h2-*, grpc-*, nginx and portico-1 "
        "only): h2load -c5 -m10 (5 connections x 10 streams), whose p50 column is "
        "h2load's mean (it reports no percentiles); fixed-rate runs: open-loop client at "
        f"{args.rate:g} rps, 32 connections. Proxy pinned to CPU "
        f"{args.proxy_cpus}, load generator and upstream to CPU {args.load_cpus}. "
        "Medians over rounds; ratios are to nginx in the same round, then the median. "
        "For `direct`, the CPU columns are the upstream nginx's own. "
        "\"other CPU %\": how busy the proxy's CPU was outside the configuration's "
        "processes (the kernel's loopback work, other programs); large values mean a "
        f"disturbed run. Load average before/after: {load_before} / {load_after}.",
        "",
        *markdown_table(summaries, scenario_order, configs,
                        {(m.scenario, m.config) for m in results}),
        "",
        "![throughput](throughput.png)",
        "",
        "![latency](latency.png)",
    ]
    problems = failures(results) + [f"- {name} did not start: {why.splitlines()[0]}"
                                     for name, why in start_failures.items()]
    if problems:
        lines += ["", "## Failures", "", *problems]
    report = out / "README.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = time.monotonic()
    machine = describe_machine()
    load_before = _load_average()
    results, start_failures = run(args)
    out = args.out or BENCH_DIR / "results" / (
        f"{datetime.date.today().isoformat()}-{hostname_slug(machine.hostname)}")
    report = write_results(out, args, machine, results, start_failures, load_before)
    bad = [m for m in results if m.failure is not None]
    print(f"report: {report} ({time.monotonic() - started:.0f} s)")
    if bad or start_failures:
        print(f"{len(bad)} run(s) failed; see {report}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
