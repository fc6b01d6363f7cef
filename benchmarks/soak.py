"""Soak: the zero-loss churn under keep-alive load for minutes, watching for loss and leaks.

    python -m benchmarks.soak                  # 300 s, results in benchmarks/results/soak-DATE/
    python -m benchmarks.soak --duration 10    # quick look, results in soak-DATE-10s/

One `portico run --manifests DIR` (one worker) and the demo pods, as in
tests/e2e/test_zero_loss.py; `benchmarks.churn` drives the same clients (three
plain-HTTP, one HTTPS, back to back) and the same configuration changes.
The run is split into cycles that alternate a steady phase (a quarter of the
cycle, nothing changes) and a churn phase (the rest, one change every
0.1 s), so steady and churn latencies are measured under the same,
shifting, load of a shared machine. Every few seconds it samples the RSS and
open file descriptors of the Portico process and the rebuild counter; the
report fits a line through the samples to show whether memory or
descriptors grow. It exits with status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.churn import OTHER_POD, PODS, Churn, Load, Traffic
from benchmarks.harness.machine import describe_machine
from benchmarks.harness.procs import tree_memory, tree_pids
from ingress.loadtest.histogram import histogram_of, percentiles_ms

from e2e.harness import Manifests, Pods, Portico, free_port  # isort: skip  (tests/ on the path via churn)

BENCH_DIR = Path(__file__).parent
DEFAULT_DURATION = 300.0
STEADY_SHARE = 0.25  # of each cycle; the rest is churn
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Window:
    """One phase of the schedule, in `time.perf_counter` seconds."""

    kind: str  # "steady" or "churn"
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds since the load started
    rss_bytes: int
    fds: int
    rebuilds: int
    load_average: float  # 1-minute, the whole machine


@dataclass(frozen=True, slots=True)
class LatencySummary:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def schedule(start: float, duration: float, cycles: int) -> list[Window]:
    """`cycles` times (steady for `STEADY_SHARE` of a cycle, then churn) filling `duration`."""
    if duration <= 0 or cycles < 1:
        raise ValueError(f"schedule: duration {duration} and cycles {cycles} must be positive")
    cycle = duration / cycles
    windows: list[Window] = []
    for n in range(cycles):
        begin = start + n * cycle
        turn = begin + cycle * STEADY_SHARE
        windows += [Window("steady", begin, turn), Window("churn", turn, begin + cycle)]
    return windows


def latencies_by_window(loads: Sequence[Load], windows: Sequence[Window]) -> list[list[float]]:
    """For each of the (ordered, disjoint) `windows`, the sorted latencies of the answers
    completed inside it."""
    starts = [w.start for w in windows]
    buckets: list[list[float]] = [[] for _ in windows]
    for load in loads:
        for done, latency in zip(load.done_at, load.latency, strict=True):
            i = bisect.bisect_right(starts, done) - 1
            if i >= 0 and done < windows[i].end:
                buckets[i].append(latency)
    for bucket in buckets:
        bucket.sort()
    return buckets


def summarize(latencies: Sequence[float], seconds: float) -> LatencySummary | None:
    if not latencies:
        return None
    ms = percentiles_ms(histogram_of(latencies), (50.0, 99.0, 99.9, 100.0))
    return LatencySummary(len(latencies), seconds, ms[50.0], ms[99.0], ms[99.9], ms[100.0])


def slope_per_minute(samples: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, in value per minute."""
    if len(samples) < 2:
        raise ValueError(f"slope needs two samples or more, got {len(samples)}")
    xs, ys = zip(*samples, strict=True)
    if len(set(xs)) < 2:
        raise ValueError("slope needs samples at two different times or more")
    return statistics.linear_regression(xs, ys).slope * 60


def open_fds(pid: int) -> int:
    """Descriptors open in `pid`'s process tree (a worker exiting between reads counts 0)."""
    total = 0
    for member in tree_pids(pid):
        try:
            total += len(os.listdir(f"/proc/{member}/fd"))
        except OSError:
            continue
    return total


class Sampler:
    """Samples Portico's memory, descriptors and rebuild counter; prints a progress line."""

    def __init__(self, portico: Portico, traffic: Traffic, start: float, duration: float) -> None:
        self.portico = portico
        self.traffic = traffic
        self.start = start
        self.duration = duration
        self.samples: list[Sample] = []
        self.phase = "steady"

    async def sample(self) -> Sample:
        rebuilds = await asyncio.to_thread(self.portico.metric, "portico_config_rebuilds_total")
        pid = self.portico.process.pid
        taken = Sample(
            t=time.perf_counter() - self.start,
            rss_bytes=tree_memory(pid).rss_bytes,
            fds=open_fds(pid),
            rebuilds=int(rebuilds),
            load_average=os.getloadavg()[0],
        )
        self.samples.append(taken)
        self._progress(taken)
        return taken

    async def run(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.sample()

    def _progress(self, s: Sample) -> None:
        requests = sum(load.ok for load in self.traffic.loads)
        failures = sum(len(load.failures) for load in self.traffic.loads)
        sys.stderr.write(
            f"\r[{min(s.t, self.duration):5.0f}/{self.duration:.0f} s] {self.phase:6}  "
            f"requests {requests:8d}  failures {failures}  rss {s.rss_bytes / MB:6.1f} MB  "
            f"fds {s.fds:3d}  rebuilds {s.rebuilds:5d}  load {s.load_average:4.2f} "
        )
        sys.stderr.flush()


@dataclass(frozen=True, slots=True)
class Run:
    duration: float
    cycles: int
    windows: list[Window]
    samples: list[Sample]
    traffic: Traffic
    churn: Churn
    rebuilds: int
    started: datetime.datetime


async def soak(duration: float, cycles: int, sample_every: float, workdir: Path) -> Run:
    port = free_port(PODS[0])
    pods = Pods([(ip, port) for ip in (*PODS, OTHER_POD)])
    churn = Churn(Manifests(workdir / "manifests"), port)
    churn.write_initial()
    portico = Portico(churn.manifests.root, log=workdir / "portico.log")
    try:
        portico.wait_ready()
        traffic = Traffic(portico.url, portico.secure_url, churn.client_ssl())
        started = datetime.datetime.now(datetime.UTC)
        start = time.perf_counter()
        windows = schedule(start, duration, cycles)
        sampler = Sampler(portico, traffic, start, duration)
        await sampler.sample()  # before any request: the start of the memory series
        traffic.start()
        sampling = asyncio.create_task(sampler.run(sample_every))
        for window in windows:
            sampler.phase = window.kind
            remaining = window.end - time.perf_counter()
            if window.kind == "churn":
                await churn.run(remaining)
            else:
                await asyncio.sleep(remaining)
            if sampling.done():
                sampling.result()  # the sampler failed (Portico gone?): stop here, say why
        await traffic.stop()
        sampling.cancel()
        await asyncio.gather(sampling, return_exceptions=True)
        final = await sampler.sample()
        sys.stderr.write("\n")
    finally:
        portico.stop()
        pods.close()
    return Run(duration, cycles, windows, sampler.samples, traffic, churn, final.rebuilds,
               started)


def rebuilds_during(samples: Sequence[Sample], windows: Sequence[Window], start: float,
                    kind: str) -> int:
    """Rebuild-counter increments between samples that both fall in a `kind` window.

    Samples straddling a phase change are left out, so the steady count
    stays honest (a rebuild still pending from the churn before it would
    otherwise be charged to steady).
    """
    def kind_at(t: float) -> str | None:
        return next((w.kind for w in windows if w.start <= start + t < w.end), None)

    return sum(b.rebuilds - a.rebuilds for a, b in itertools.pairwise(samples)
               if kind_at(a.t) == kind_at(b.t) == kind)


@dataclass(frozen=True, slots=True)
class Latencies:
    per_window: list[LatencySummary | None]  # in the order of `Run.windows`
    per_kind: dict[str, LatencySummary | None]  # "steady", "churn"


def latencies(run: Run) -> Latencies:
    buckets = latencies_by_window(run.traffic.loads, run.windows)
    per_kind: dict[str, LatencySummary | None] = {}
    for kind in ("steady", "churn"):
        chosen = [i for i, w in enumerate(run.windows) if w.kind == kind]
        merged = sorted(x for i in chosen for x in buckets[i])
        seconds = sum(run.windows[i].end - run.windows[i].start for i in chosen)
        per_kind[kind] = summarize(merged, seconds)
    per_window = [summarize(b, w.end - w.start) for b, w in zip(buckets, run.windows, strict=True)]
    return Latencies(per_window, per_kind)


def report(run: Run, lat: Latencies) -> str:
    start = run.windows[0].start
    summaries = lat.per_kind
    samples = run.samples
    rss = [(s.t, s.rss_bytes / MB) for s in samples]
    fds = [(s.t, float(s.fds)) for s in samples]
    first_cycle_end = run.duration / run.cycles
    settled = [(t, v) for t, v in rss if t >= first_cycle_end]
    plain, secure = run.traffic.loads
    failures = plain.failures + secure.failures
    machine = describe_machine()
    loads = [s.load_average for s in samples]

    def row(name: str, fmt: str, attr: str) -> str:
        cells = [format(getattr(summaries[k], attr), fmt) if summaries[k] else "-"
                 for k in ("steady", "churn")]
        return f"| {name} | {' | '.join(cells)} |"

    lines = [
        f"# Soak: churn under load for {run.duration:g} s",
        "",
        f"Started {run.started:%Y-%m-%d %H:%M} UTC: `python -m benchmarks.soak --duration "
        f"{run.duration:g} --cycles {run.cycles}`.",
        "",
        f"- CPU: {machine.cpu_model}, {machine.cores} cores; Linux {machine.kernel}; "
        f"Python {machine.python}",
        f"- Load average (1 min, whole machine, shared with other work): {loads[0]:.2f} at "
        f"start, {loads[-1]:.2f} at end, {max(loads):.2f} at most",
        "- `portico run --manifests DIR --workers 1`; 5+1 demo pods in a thread of the load "
        "process (they share its GIL, so absolute latencies are the rig's as much as Portico's)",
        f"- {run.cycles} cycles of {run.duration / run.cycles:g} s: steady for "
        f"{STEADY_SHARE:.0%} (nothing changes), then churn (one change every 0.1 s: an unrelated "
        "Ingress added or removed, the target path flipped Prefix↔ImplementationSpecific, its "
        "endpoints scaled among 1 to 5 pods; the TLS Secret rotated every 5th change)",
        "- Load: 3 plain-HTTP + 1 HTTPS keep-alive clients, back to back; a request belongs "
        "to the phase in which its answer completed",
        "",
        "## Requests",
        "",
        f"- **{plain.ok + secure.ok} answered, {len(failures)} failed** "
        f"(plain HTTP {plain.ok}/{len(plain.failures)}, HTTPS {secure.ok}/{len(secure.failures)})",
        f"- Pods reached: {len(plain.pods | secure.pods)} of {len(PODS)}",
        *[f"  - failure: `{f}`" for f in sorted(set(failures))[:10]],
        "",
        "| | steady | churn |",
        "|---|---:|---:|",
        row("requests", "d", "requests"),
        row("requests / s", ".0f", "rps"),
        row("p50, ms", ".2f", "p50_ms"),
        row("p99, ms", ".2f", "p99_ms"),
        row("p99.9, ms", ".2f", "p999_ms"),
        row("max, ms", ".1f", "max_ms"),
        f"| rebuilds (between samples inside the phase) | "
        f"{rebuilds_during(samples, run.windows, start, 'steady')} | "
        f"{rebuilds_during(samples, run.windows, start, 'churn')} |",
        "",
        f"Configuration: {run.churn.steps} changes, {run.churn.rotations} certificates, "
        f"**{run.rebuilds} rebuilds** in all.",
        "",
        f"## Portico process ({len(samples)} samples, every "
        f"{samples[1].t - samples[0].t:.1f} s or so)",
        "",
        "| | start | end | min | max | trend |",
        "|---|---:|---:|---:|---:|---|",
        f"| RSS, MB | {rss[0][1]:.1f} | {rss[-1][1]:.1f} | {min(v for _, v in rss):.1f} | "
        f"{max(v for _, v in rss):.1f} | {slope_per_minute(rss):+.3f} MB/min over the run, "
        + (f"{slope_per_minute(settled):+.3f} MB/min after the first cycle |"
           if len(settled) >= 2 else "- after the first cycle |"),
        f"| open fds | {fds[0][1]:.0f} | {fds[-1][1]:.0f} | {min(v for _, v in fds):.0f} | "
        f"{max(v for _, v in fds):.0f} | {slope_per_minute(fds):+.2f} /min over the run |",
        "",
        "The first sample is taken before any request; the first cycle also warms up "
        "pools, TLS sessions and allocator arenas, hence the second trend.",
        "",
        "![RSS, descriptors and latency over the run](soak.png)",
        "",
        "Raw samples: [samples.csv](samples.csv).",
        "",
    ]
    return "\n".join(lines)


def write_samples(path: Path, samples: Sequence[Sample]) -> None:
    rows = ["seconds,rss_bytes,open_fds,rebuilds,load_average"]
    rows += [f"{s.t:.2f},{s.rss_bytes},{s.fds},{s.rebuilds},{s.load_average:.2f}"
             for s in samples]
    path.write_text("\n".join(rows) + "\n")


def plot(path: Path, run: Run, latency: Latencies) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    start = run.windows[0].start
    minutes = [s.t / 60 for s in run.samples]
    fig, (mem, fd, lat) = plt.subplots(3, 1, figsize=(10, 9), sharex=True,
                                       constrained_layout=True)
    mem.plot(minutes, [s.rss_bytes / MB for s in run.samples], marker=".")
    mem.set_ylabel("RSS, MB")
    mem.set_title(f"Portico under churn and load, {run.duration:g} s (shaded: churn)")
    fd.plot(minutes, [s.fds for s in run.samples], marker=".", color="tab:green")
    fd.set_ylabel("open file descriptors")
    for kind, marker in (("p50", "o"), ("p99", "^")):
        for phase, color in (("steady", "tab:blue"), ("churn", "tab:red")):
            xs: list[float] = []
            ys: list[float] = []
            for w, summary in zip(run.windows, latency.per_window, strict=True):
                if w.kind == phase and summary is not None:
                    xs.append((w.start + w.end - 2 * start) / 2 / 60)
                    ys.append(summary.p50_ms if kind == "p50" else summary.p99_ms)
            lat.plot(xs, ys, marker=marker, linestyle="none", color=color,
                     label=f"{kind} {phase}")
    lat.set_ylabel("latency per phase, ms")
    lat.set_yscale("log")
    lat.yaxis.set_major_formatter(ScalarFormatter())
    lat.set_xlabel("minutes")
    lat.legend(ncols=2, fontsize="small")
    for ax in (mem, fd, lat):
        ax.grid(alpha=0.3)
        for w in run.windows:
            if w.kind == "churn":
                ax.axvspan((w.start - start) / 60, (w.end - start) / 60, color="tab:red",
                           alpha=0.07)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def default_out(duration: float) -> Path:
    name = f"soak-{datetime.date.today().isoformat()}"
    if duration != DEFAULT_DURATION:
        name += f"-{duration:g}s"
    return BENCH_DIR / "results" / name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION,
                        help="seconds of load (default 300; 10 for a quick look)")
    parser.add_argument("--cycles", type=int, default=5,
                        help="steady-then-churn cycles in the run (default 5)")
    parser.add_argument("--sample-every", type=float, default=None,
                        help="seconds between samples (default: duration/50, at most 2)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report directory (default benchmarks/results/soak-DATE, with "
                             "-Ns appended when the duration is not 300)")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.cycles < 1:
        parser.error("--duration and --cycles must be positive")
    every = args.sample_every or min(2.0, args.duration / 50)
    out: Path = args.out or default_out(args.duration)
    with tempfile.TemporaryDirectory(prefix="portico-soak-") as tmp:
        run = asyncio.run(soak(args.duration, args.cycles, every, Path(tmp)))
    out.mkdir(parents=True, exist_ok=True)
    lat = latencies(run)
    text = report(run, lat)
    (out / "README.md").write_text(text)
    write_samples(out / "samples.csv", run.samples)
    plot(out / "soak.png", run, lat)
    print(text)
    print(f"report: {out / 'README.md'}")
    failed = sum(len(load.failures) for load in run.traffic.loads)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
