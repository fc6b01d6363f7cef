"""PNG plots of the results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from benchmarks.harness.report import Summary


def _grouped_bars(ax: Axes, summaries: Sequence[Summary], scenarios: Sequence[str],
                  configs: Sequence[str], value: str, ylabel: str, log: bool = False) -> None:
    by_key = {(s.scenario, s.config): s for s in summaries}
    width = 0.8 / max(1, len(configs))
    for i, config in enumerate(configs):
        xs = [j + (i - (len(configs) - 1) / 2) * width for j in range(len(scenarios))]
        ys = [float(getattr(by_key[(sc, config)], value)) if (sc, config) in by_key else 0.0
              for sc in scenarios]
        ax.bar(xs, ys, width, label=config)
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=15, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)


def plot_throughput(path: Path, summaries: Sequence[Summary], scenarios: Sequence[str],
                    configs: Sequence[str], title: str) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), constrained_layout=True)
    _grouped_bars(top, summaries, scenarios, configs, "rps", "requests / s (median)")
    top.set_title(f"{title}: throughput")
    top.legend(ncols=len(configs), fontsize="small")
    _grouped_bars(bottom, summaries, scenarios, configs, "per_cpu_s",
                  "requests per CPU-second of the proxy")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(path: Path, summaries: Sequence[Summary], scenarios: Sequence[str],
                 configs: Sequence[str], title: str) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), constrained_layout=True)
    _grouped_bars(top, summaries, scenarios, configs, "p50_ms", "p50 latency, ms", log=True)
    top.set_title(f"{title}: latency (median of rounds)")
    top.legend(ncols=len(configs), fontsize="small")
    _grouped_bars(bottom, summaries, scenarios, configs, "p99_ms", "p99 latency, ms", log=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


class ScalePoint(Protocol):
    source: str
    ingresses: int
    workers: int
    ready_s: float
    rss_mb: float
    rebuild_s: float
    steady_p99_ms: float
    swaps_max_ms: float

    def change_percentile(self, p: float) -> float: ...

    def route_change_percentile(self, p: float) -> float: ...


class ScaleRecord(Protocol):
    source: str
    ingresses: int
    workers: int
    rss_mb: float

    def change_percentile(self, p: float) -> float: ...


def _scale_value(run: ScalePoint, field: str) -> float:
    if field == "p99":
        return run.change_percentile(99)
    if field == "route_p99":
        return run.route_change_percentile(99)
    if field == "stall":
        return run.swaps_max_ms - run.steady_p99_ms
    return float(getattr(run, field))


def plot_scale(path: Path, runs: Sequence[ScalePoint]) -> None:
    """Readiness, memory, rebuild time, change → traffic p99 (EndpointSlice and routing) and
    the slowest request during table swaps, against the number of Ingresses."""
    panels = (("ready_s", "ready, s"), ("rss_mb", "RSS of the tree, MB"),
              ("rebuild_s", "rebuild after a routing change, s"),
              ("p99", "EndpointSlice change → traffic p99, ms"),
              ("route_p99", "routing change → traffic p99, ms"),
              ("stall", "slowest request during swaps\nminus steady p99, ms"))
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    series = sorted({(r.source, r.workers) for r in runs})
    for ax, (field, label) in zip(axes.flat, panels, strict=True):
        for source, workers in series:
            points = sorted((r.ingresses, _scale_value(r, field))
                            for r in runs if (r.source, r.workers) == (source, workers))
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o",
                    label=f"{source}, --workers {workers}")
        ax.set_xscale("log")
        ax.set_xlabel("Ingresses (each with a Service and an EndpointSlice)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize="small")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scale_before_after(path: Path, before: Sequence[ScaleRecord],
                            after: Sequence[ScaleRecord]) -> None:
    """EndpointSlice change → traffic p99 and RSS, two runs side by side, per configuration."""
    keys = sorted({(r.source, r.ingresses, r.workers) for r in after}
                  & {(r.source, r.ingresses, r.workers) for r in before})
    labels = [f"{source}\n{size:,}\nw{workers}" for source, size, workers in keys]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 8), constrained_layout=True)
    for ax, field, label, log in ((top, "p99", "EndpointSlice change → traffic p99, ms", True),
                                  (bottom, "rss_mb", "RSS of the tree, MB", False)):
        for offset, (name, runs) in ((-0.2, ("before", before)), (0.2, ("after", after))):
            by_key = {(r.source, r.ingresses, r.workers): r for r in runs}
            values = [by_key[key].change_percentile(99) if field == "p99"
                      else by_key[key].rss_mb for key in keys]
            ax.bar([i + offset for i in range(len(keys))], values, 0.4, label=name)
        ax.set_xticks(range(len(keys)), labels, fontsize="small")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    top.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
