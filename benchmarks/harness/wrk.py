"""Closed-loop load with wrk: N keep-alive connections, each sending as fast as answered."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPORT_SCRIPT = Path(__file__).parent / "report.lua"
_MARKER = "WRK_JSON "


@dataclass(frozen=True, slots=True)
class WrkReport:
    requests: int
    duration_s: float
    bytes: int
    errors: dict[str, int]
    mean_us: float
    max_us: int
    percentiles_us: dict[float, int]

    @property
    def failed_requests(self) -> int:
        # connect errors count connections, the rest count requests; all are failures.
        return sum(self.errors.values())


def parse_report(output: str) -> WrkReport:
    for line in reversed(output.splitlines()):
        if line.startswith(_MARKER):
            data = json.loads(line[len(_MARKER):])
            return WrkReport(
                requests=int(data["requests"]),
                duration_s=int(data["duration_us"]) / 1e6,
                bytes=int(data["bytes"]),
                errors={k: int(v) for k, v in data["errors"].items()},
                mean_us=float(data["mean_us"]),
                max_us=int(data["max_us"]),
                percentiles_us={float(k): int(v) for k, v in data["percentiles_us"].items()},
            )
    raise ValueError(f"wrk printed no summary line; its output was:\n{output[-2000:]}")


def wrk_argv(url: str, host: str | None, connections: int, duration_s: int, threads: int = 1,
             cpus: str | None = None, close: bool = False) -> list[str]:
    if duration_s < 1:
        raise ValueError(f"wrk duration: {duration_s} s; wrk counts whole seconds (>= 1)")
    if connections < threads:
        raise ValueError(f"wrk connections: {connections} < threads {threads}")
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration_s}s",
            "--timeout", "5s", "-s", str(REPORT_SCRIPT), url]
    if host:
        argv[-1:-1] = ["-H", f"Host: {host}"]
    if close:
        argv[-1:-1] = ["-H", "Connection: close"]
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def run_wrk(argv: list[str], tick: Callable[[float], None] | None = None) -> WrkReport:
    """Run wrk to completion; `tick(elapsed_s)` is called about twice a second."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start = time.monotonic()
    while True:
        try:
            out, _ = proc.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if tick is not None:
                tick(time.monotonic() - start)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {out[-2000:]}")
    return parse_report(out)
