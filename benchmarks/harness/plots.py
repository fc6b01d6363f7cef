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

    def change_percentile(self, p: float) -> float: ...


def plot_scale(path: Path, runs: Sequence[ScalePoint]) -> None:
    """Readiness, memory, rebuild time and change → traffic p99 against the number of Ingresses."""
    panels = (("ready_s", "ready, s"), ("rss_mb", "RSS of the tree, MB"),
              ("rebuild_s", "full rebuild, s"), ("p99", "change → traffic p99, ms"))
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    series = sorted({(r.source, r.workers) for r in runs})
    for ax, (field, label) in zip(axes.flat, panels, strict=True):
        for source, workers in series:
            points = sorted((r.ingresses, r.change_percentile(99) if field == "p99"
                             else float(getattr(r, field)))
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
