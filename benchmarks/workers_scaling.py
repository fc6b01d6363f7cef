"""How throughput grows with `--workers`, next to nginx with as many worker processes.

For each N: `portico run --workers N` and nginx with `worker_processes N`, on the
proxy CPUs; wrk on the load CPUs with one thread per load CPU, closed loop,
small responses over HTTP and TLS; interleaved rounds, medians. Per N it
reports requests/s, requests per CPU-second, and the **efficiency**
rps(N) / (min(N, proxy CPUs) x rps(1)): 1.0 is linear scaling, and on a
machine with more cores the same command draws the longer curve.

The defaults split the machine: with 4 or more CPUs the first half runs the
proxies and the rest the load; with 2 or 3, proxies and load share all of
them (there is no core to spare), so the load generator competes with the
workers and efficiency understates what a dedicated machine gets.

    .venv/bin/python -m benchmarks.workers_scaling [--workers 1,2,4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from benchmarks.harness.machine import describe_machine, hostname_slug
from benchmarks.harness.measure import Load, Measurement, Scenario, measure, scenarios
from benchmarks.harness.procs import parse_cpu_list
from benchmarks.harness.report import write_results_json
from benchmarks.harness.rig import Rig

BENCH_DIR = Path(__file__).resolve().parent
SCENARIOS = ("http-3B", "tls-3B")
PROXIES = ("portico", "nginx")
CONNECTIONS_PER_WORKER = 50  # as the one-worker comparison's wrk -c50


@dataclass(frozen=True, slots=True)
class Point:
    """Medians over rounds for one proxy with N workers in one scenario."""

    proxy: str
    workers: int
    scenario: str
    rps: float
    per_cpu_s: float
    efficiency: float  # rps / (min(N, proxy CPUs) x the same proxy's rps with 1 worker)


def default_cpus(available: list[int]) -> tuple[str, str]:
    """(proxy CPUs, load CPUs) in taskset's list form."""
    if len(available) < 4:
        shared = ",".join(map(str, available))
        return shared, shared
    half = len(available) // 2
    return ",".join(map(str, available[:half])), ",".join(map(str, available[half:]))


def default_workers(proxy_cpus: int) -> list[int]:
    counts, n = [1], 2
    while n <= max(2, proxy_cpus):
        counts.append(n)
        n *= 2
    return counts


def points(results: list[Measurement], proxy_cpus: int) -> list[Point]:
    by_key: dict[tuple[str, int, str], list[Measurement]] = {}
    for m in results:
        if m.failure is None:
            proxy, count = m.config.split("-")
            by_key.setdefault((proxy, int(count), m.scenario), []).append(m)
    rps = {key: median(m.rps for m in runs) for key, runs in by_key.items()}
    out = []
    for (proxy, workers, scenario), runs in sorted(by_key.items()):
        one = rps.get((proxy, 1, scenario))
        scale = min(workers, proxy_cpus)
        out.append(Point(proxy, workers, scenario, rps[proxy, workers, scenario],
                         median(m.per_cpu_s for m in runs),
                         rps[proxy, workers, scenario] / (scale * one) if one else 0.0))
    return out


def table(found: list[Point]) -> list[str]:
    lines = ["| scenario | workers | Portico rps | Portico req/CPU-s | Portico efficiency "
             "| nginx rps | nginx req/CPU-s | nginx efficiency | Portico ÷ nginx rps |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_key = {(p.proxy, p.workers, p.scenario): p for p in found}
    for scenario, workers in sorted({(p.scenario, p.workers) for p in found}):
        ours, theirs = by_key.get(("portico", workers, scenario)), by_key.get(
            ("nginx", workers, scenario))
        cells = [scenario, str(workers)]
        for p in (ours, theirs):
            cells += ([f"{p.rps:,.0f}", f"{p.per_cpu_s:,.0f}", f"{p.efficiency:.2f}"]
                      if p else ["failed"] * 3)
        cells.append(f"{ours.rps / theirs.rps:.2f}" if ours and theirs and theirs.rps else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot(path: Path, found: list[Point], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), constrained_layout=True)
    for proxy in PROXIES:
        for scenario in SCENARIOS:
            line = sorted((p.workers, p) for p in found
                          if p.proxy == proxy and p.scenario == scenario)
            if not line:
                continue
            xs = [n for n, _ in line]
            label = f"{proxy} {scenario}"
            top.plot(xs, [p.rps for _, p in line], marker="o", label=label)
            bottom.plot(xs, [p.efficiency for _, p in line], marker="o", label=label)
    top.set_title(f"{title}: requests/s by worker processes")
    top.set_ylabel("requests / s (median)")
    bottom.set_ylabel("efficiency: rps(N) / (N x rps(1))")
    bottom.set_ylim(0, 1.2)
    for ax in (top, bottom):
        ax.set_xlabel("worker processes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    proxy_cpus, load_cpus = default_cpus(sorted(os.sched_getaffinity(0)))
    ap = argparse.ArgumentParser(prog="python -m benchmarks.workers_scaling",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="", help="comma-separated worker counts "
                    "(default: 1 and powers of two up to the proxy CPUs, at least 2)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4, help="seconds per run (whole)")
    ap.add_argument("--proxy-cpus", default=proxy_cpus)
    ap.add_argument("--load-cpus", default=load_cpus)
    ap.add_argument("--out", type=Path, help="results directory "
                    "(default: benchmarks/results/workers-<date>-<host>)")
    ap.add_argument("--workdir", type=Path, default=BENCH_DIR / ".run" / "workers")
    args = ap.parse_args(argv)
    args.proxy_cpu_count = len(parse_cpu_list(args.proxy_cpus))
    args.worker_counts = ([int(n) for n in args.workers.split(",") if n] if args.workers
                          else default_workers(args.proxy_cpu_count))
    if not args.worker_counts or min(args.worker_counts) < 1 or args.rounds < 1:
        ap.error("--workers and --rounds: at least 1")
    if 1 not in args.worker_counts:
        args.worker_counts.insert(0, 1)  # efficiency is relative to one worker
    return args


def run(args: argparse.Namespace) -> list[Measurement]:
    configs = tuple(f"{proxy}-{n}" for n in args.worker_counts for proxy in PROXIES)
    chosen: list[Scenario] = [s for s in scenarios(1000) if s.name in SCENARIOS]
    load_threads = len(parse_cpu_list(args.load_cpus))
    load = Load(connections=CONNECTIONS_PER_WORKER * max(args.worker_counts),
                duration_s=args.duration, open_loop_connections=32, load_cpus=args.load_cpus,
                proxy_cpus=args.proxy_cpus, workdir=str(args.workdir),
                wrk_threads=load_threads)
    results: list[Measurement] = []
    with Rig(args.workdir, configs, args.proxy_cpus, args.load_cpus) as rig:
        for name, why in rig.failed.items():
            print(f"{name}: did not start: {why}", file=sys.stderr)
        for rnd in range(1, args.rounds + 1):
            print(f"--- round {rnd}/{args.rounds}", flush=True)
            for scenario in chosen:
                for config in configs:
                    target = rig.targets.get(config)
                    if target is None:
                        continue
                    m = measure(target, scenario, rnd, load)
                    results.append(m)
                    print(f"{scenario.name:<8} {config:<10} "
                          + (f"FAILED: {m.failure.splitlines()[0]}" if m.failure else
                             f"{m.rps:>9,.0f} rps {m.per_cpu_s:>9,.0f} req/CPU-s"), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    machine = describe_machine()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = run(args)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    found = points(results, args.proxy_cpu_count)
    out = args.out or BENCH_DIR / "results" / (
        f"workers-{datetime.date.today().isoformat()}-{hostname_slug(machine.hostname)}")
    out.mkdir(parents=True, exist_ok=True)
    shared = args.proxy_cpus == args.load_cpus
    title = f"{machine.cores} cores"
    plot(out / "workers.png", found, title)
    write_results_json(out / "results.json", machine, args, (load_before, load_after), results,
                       points=found)
    lines = [
        f"# Worker scaling, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}", "",
        *machine.describe(), "",
        f"Proxies on CPU {args.proxy_cpus}, wrk ({len(parse_cpu_list(args.load_cpus))} threads, "
        f"{CONNECTIONS_PER_WORKER * max(args.worker_counts)} connections) and the upstream on "
        f"CPU {args.load_cpus}"
        + (" (shared: the load competes with the workers)" if shared else "")
        + f"; {args.rounds} interleaved rounds of {args.duration} s, medians. Efficiency: "
        "rps(N) / (min(N, proxy CPUs) x rps(1)). Load average before/after: "
        f"{load_before} / {load_after}.", "",
        *table(found), "", "![workers](workers.png)",
    ]
    failures = [f"- {m.config} {m.scenario} round {m.round}: {m.failure.splitlines()[0]}"
                for m in results if m.failure]
    if failures:
        lines += ["", "## Failures", "", *failures]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(table(found)))
    print(f"report: {out / 'README.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
