"""Closed-loop HTTP/2 load with h2load (Debian's nghttp2-client): streams over few connections."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# A gRPC request message: no compression flag, 2-byte length, "hi" (what the
# upstream's canned answer does not look at).
GRPC_REQUEST = b"\x00\x00\x00\x00\x02hi"


@dataclass(frozen=True, slots=True)
class H2loadReport:
    succeeded: int
    failed: int
    duration_s: float
    mean_ms: float


def h2load_argv(url: str, authority: str, connections: int, streams: int, duration_s: int,
                cpus: str, grpc_body: Path | None = None) -> list[str]:
    argv = ["taskset", "-c", cpus, "h2load", "-D", str(duration_s), "-c", str(connections),
            "-m", str(streams), "-t", "1", "-H", f":authority: {authority}"]
    if grpc_body is not None:
        argv += ["-d", str(grpc_body), "-H", "content-type: application/grpc",
                 "-H", "te: trailers"]
    return [*argv, url]


def parse_h2load(output: str) -> H2loadReport:
    requests = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, "
                         r"(\d+) failed", output)
    finished = re.search(r"finished in ([\d.]+)(m?s)", output)
    timing = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", output)
    if requests is None or finished is None:
        raise ValueError(f"unexpected h2load output: {output[-800:]}")
    duration = float(finished[1]) / (1000 if finished[2] == "ms" else 1)
    mean_ms = 0.0
    if timing is not None:
        mean_ms = float(timing[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[timing[2]]
    return H2loadReport(int(requests[1]), int(requests[2]), duration, mean_ms)


def run_h2load(argv: list[str]) -> tuple[H2loadReport | None, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None, f"h2load exited {proc.returncode}: {(proc.stdout + proc.stderr)[-1500:]}"
    try:
        return parse_h2load(proc.stdout), ""
    except ValueError as error:
        return None, str(error)
