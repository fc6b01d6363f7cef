"""PNG plots of the results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
