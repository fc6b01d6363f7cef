"""Turn measurements into medians, per-round ratios to nginx, and a markdown report."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.harness.machine import Machine
from benchmarks.harness.measure import Measurement
from benchmarks.harness.rig import REFERENCE


@dataclass(frozen=True, slots=True)
class Summary:
    """Medians over rounds of one configuration in one scenario."""

    config: str
    scenario: str
    rounds: int
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    per_cpu_s: float
    cpu_us_per_request: float
    other_cpu_pct: float  # of the proxy's CPUs' time, spent outside the configuration
    # Ratios are taken within each round, then the median: the rounds'
    # conditions differ, the configurations within one round much less.
    rps_ratio: float | None
    cpu_ratio: float | None


def _ratio(values: list[float]) -> float | None:
    return median(values) if values else None


def summarize(measurements: Sequence[Measurement]) -> list[Summary]:
    ok = [m for m in measurements if m.failure is None]
    reference = {(m.scenario, m.round): m for m in ok if m.config == REFERENCE}
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for m in ok:
        groups.setdefault((m.scenario, m.config), []).append(m)
    summaries = []
    for (scenario, config), runs in groups.items():
        rps_ratios = []
        cpu_ratios = []
        for m in runs:
            ref = reference.get((scenario, m.round))
            if ref is not None and ref.rps and ref.per_cpu_s:
                rps_ratios.append(m.rps / ref.rps)
                cpu_ratios.append(m.per_cpu_s / ref.per_cpu_s)
        per_cpu = median([m.per_cpu_s for m in runs])
        summaries.append(Summary(
            config=config,
            scenario=scenario,
            rounds=len(runs),
            rps=median([m.rps for m in runs]),
            p50_ms=median([m.p50_ms for m in runs]),
            p99_ms=median([m.p99_ms for m in runs]),
            p999_ms=median([m.p999_ms for m in runs]),
            per_cpu_s=per_cpu,
            cpu_us_per_request=1e6 / per_cpu if per_cpu else 0.0,
            other_cpu_pct=median([100 * m.other_cpu_s / m.duration_s for m in runs]),
            rps_ratio=_ratio(rps_ratios),
            cpu_ratio=_ratio(cpu_ratios),
        ))
    return summaries


def _fmt_ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "—"


def markdown_table(summaries: Sequence[Summary], scenario_order: Sequence[str],
                   config_order: Sequence[str],
                   measured: set[tuple[str, str]] | None = None) -> list[str]:
    """One row per (scenario, configuration) that was measured (default: all of them)."""
    lines = [
        "| scenario | configuration | rps | p50 ms | p99 ms | p99.9 ms | req/CPU-s | "
        "CPU µs/req | rps ÷ nginx | req/CPU-s ÷ nginx | other CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_key = {(s.scenario, s.config): s for s in summaries}
    for scenario in scenario_order:
        for config in config_order:
            if measured is not None and (scenario, config) not in measured:
                continue
            s = by_key.get((scenario, config))
            if s is None:
                lines.append(f"| {scenario} | {config} | failed | | | | | | | | |")
                continue
            lines.append(
                f"| {scenario} | {config} | {s.rps:,.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | "
                f"{s.p999_ms:.2f} | {s.per_cpu_s:,.0f} | {s.cpu_us_per_request:.1f} | "
                f"{_fmt_ratio(s.rps_ratio)} | {_fmt_ratio(s.cpu_ratio)} | "
                f"{s.other_cpu_pct:.0f} |"
            )
    return lines


def failures(measurements: Sequence[Measurement]) -> list[str]:
    return [f"- {m.config} / {m.scenario} / round {m.round}: {m.failure}"
            for m in measurements if m.failure is not None]


def write_results_json(path: Path, machine: Machine, args: argparse.Namespace,
                       load_average: tuple[str, str], measurements: Sequence[Measurement],
                       **derived: Sequence[Any]) -> None:
    """Every run of a comparison, how it was made, and what was derived from the runs."""
    path.write_text(json.dumps({
        "machine": asdict(machine),
        "parameters": {k: str(v) for k, v in vars(args).items()},
        "load_average": {"before": load_average[0], "after": load_average[1]},
        "measurements": [asdict(m) for m in measurements],
        **{name: [asdict(item) for item in items] for name, items in derived.items()},
    }, indent=1))
