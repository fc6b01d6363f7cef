"""Issue #14's targets against the newest benchmark results: measured, met or not.

Reads what the other benchmarks wrote (nothing is measured here):
`benchmarks.compare`'s results.json (requests per CPU-second against nginx,
compiled and pure), `benchmarks.scale`'s (change → traffic, swap stalls,
start-up, memory) and `benchmarks.build_scale --json`'s (rebuild time). By
default each is the newest under `benchmarks/results/`; a target whose
measurement is missing is reported as not measured. `make bench` ends with it.

    .venv/bin/python -m benchmarks.targets [--compare DIR] [--scale DIR ...] [--build FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SWAP_ALLOWANCE_MS = 20.0  # a swap may slow the slowest request this much past the steady p99


@dataclass(frozen=True, slots=True)
class Verdict:
    target: str
    where: str
    measured: str
    met: bool | None  # None: not measured, or shown for reference only
    reference: bool = False

    def row(self) -> str:
        state = ("for reference" if self.reference else
                 {True: "met", False: "**not met**", None: "not measured"}[self.met])
        return f"| {self.target} | {self.where} | {self.measured} | {state} |"


def newest(pattern: str, holding: str) -> Path | None:
    found = sorted((p.parent for p in RESULTS.glob(f"{pattern}/{holding}")),
                   key=lambda p: (p / holding).stat().st_mtime)
    return found[-1] if found else None


def _ratio_verdicts(summaries: list[dict[str, Any]], source: str) -> list[Verdict]:
    by_key = {(s["config"], s["scenario"]): s for s in summaries}
    out = []
    for scenario, floor in (("http-3B", 0.85), ("http-16KiB", 0.9), ("tls-3B", 0.9)):
        compiled = by_key.get(("portico-1", scenario))
        ratio = compiled.get("cpu_ratio") if compiled else None
        out.append(Verdict(f"req/CPU-s of one compiled worker ≥ {floor}x nginx", scenario,
                           f"{ratio:.2f}x ({source})" if ratio is not None else "—",
                           ratio >= floor if ratio is not None else None))
        pure = by_key.get(("portico-1-pure", scenario))
        if pure and pure.get("cpu_ratio") is not None:
            out.append(Verdict("req/CPU-s of one pure-Python worker ÷ nginx", scenario,
                               f"{pure['cpu_ratio']:.2f}x ({source})", None, reference=True))
    return out


def compare_verdicts(directory: Path | None) -> list[Verdict]:
    if directory is None:
        return [Verdict("req/CPU-s against nginx", "compare", "no results.json", None)]
    data = json.loads((directory / "results.json").read_text())
    return _ratio_verdicts(data["summaries"], directory.name)


def _p99(values: list[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def _runs(directories: Iterable[Path]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for directory in directories:
        for run in json.loads((directory / "results.json").read_text()):
            if not run.get("error"):
                runs.append({**run, "from": directory.name})
    return runs


def _where(run: dict[str, Any]) -> str:
    return f"{run['source']}, {run['ingresses']:,} Ingresses, {run['workers']} worker(s)"


def scale_verdicts(directories: list[Path]) -> list[Verdict]:
    runs = _runs(directories)
    if not runs:
        return [Verdict("scale targets", "scale", "no results.json", None)]
    out: list[Verdict] = []
    checks: list[tuple[str, Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]],
                                                                       tuple[str, bool]]]] = [
        ("EndpointSlice change → traffic p99 < 100 ms", lambda r: r["ingresses"] == 10_000,
         lambda r: (f"{_p99(r['changes_ms']):.0f} ms", _p99(r["changes_ms"]) < 100)),
        ("EndpointSlice change → traffic p99 < 50 ms", lambda r: r["ingresses"] == 100,
         lambda r: (f"{_p99(r['changes_ms']):.0f} ms", _p99(r["changes_ms"]) < 50)),
        (f"slowest request during routing changes < steady p99 + {SWAP_ALLOWANCE_MS:.0f} ms",
         lambda r: r["ingresses"] == 10_000 and r.get("swaps_max_ms", 0) > 0,
         lambda r: (f"{r['swaps_max_ms']:.0f} ms against {r['steady_p99_ms']:.0f} + "
                    f"{SWAP_ALLOWANCE_MS:.0f} ms",
                    r["swaps_max_ms"] < r["steady_p99_ms"] + SWAP_ALLOWANCE_MS)),
        ("ready < 30 s", lambda r: r["ingresses"] == 10_000,
         lambda r: (f"{r['ready_s']:.1f} s", r["ready_s"] < 30)),
        ("RSS of the process tree < 300 MB with 2 workers",
         lambda r: r["ingresses"] == 10_000 and r["workers"] == 2,
         lambda r: (f"{r['rss_mb']:.0f} MB (PSS {r.get('pss_mb', 0):.0f})",
                    r["rss_mb"] < 300)),
    ]
    for target, applies, judge in checks:
        chosen = [r for r in runs if applies(r)]
        if not chosen:
            out.append(Verdict(target, "—", "no run of that size", None))
        for run in chosen:
            measured, met = judge(run)
            out.append(Verdict(target, _where(run), f"{measured} ({run['from']})", met))
    return out


def build_verdicts(path: Path | None) -> list[Verdict]:
    if path is None:
        return [Verdict("full rebuild of 10,000 Ingresses < 0.3 s", "build_scale",
                        "no build_scale --json output", None)]
    out = []
    for row in json.loads(path.read_text()):
        if row["ingresses"] != 10_000:
            continue
        for kind, what in (("cold", "cold (start-up)"), ("one_ingress", "one Ingress changed"),
                           ("one_service", "one Service changed")):
            cpu = row[kind]["cpu_s"]
            out.append(Verdict("full rebuild of 10,000 Ingresses < 0.3 s", f"{what}, CPU",
                               f"{cpu:.2f} s ({path.parent.name})", cpu < 0.3))
    return out


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.targets",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", type=Path, help="a benchmarks.compare results directory")
    ap.add_argument("--scale", type=Path, action="append",
                    help="a benchmarks.scale results directory (repeatable)")
    ap.add_argument("--build", type=Path, help="a benchmarks.build_scale --json file")
    args = ap.parse_args(argv)
    args.compare = args.compare or newest("[0-9]*", "results.json")
    if args.scale is None:
        found = newest("scale-*", "results.json")
        args.scale = [found] if found else []
    if args.build is None:
        found = newest("build-*", "build_scale.json")
        args.build = found / "build_scale.json" if found else None
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    verdicts = [*compare_verdicts(args.compare), *build_verdicts(args.build),
                *scale_verdicts(args.scale)]
    print("| target | where | measured | |")
    print("|---|---|---|---|")
    for verdict in verdicts:
        print(verdict.row())
    unmet = sum(1 for v in verdicts if v.met is False)
    missing = sum(1 for v in verdicts if v.met is None and not v.reference)
    print(f"\n{sum(1 for v in verdicts if v.met)} met, {unmet} not met, {missing} not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
