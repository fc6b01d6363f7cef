"""What the numbers were measured on: they mean little without it."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Machine:
    cpu_model: str
    cores: int
    kernel: str
    python: str
    hostname: str
    tools: dict[str, str]  # tool -> version line

    def describe(self) -> list[str]:
        lines = [
            f"- CPU: {self.cpu_model}, {self.cores} cores",
            f"- Kernel: Linux {self.kernel}",
            f"- Python: {self.python}",
        ]
        lines += [f"- {tool}: {version}" for tool, version in self.tools.items()]
        return lines


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def hostname_slug(hostname: str) -> str:
    """A short, path-safe name for the machine (results/<date>-<slug>/)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", hostname.split(".")[0].lower()).strip("-")
    return slug[:24] or "host"


def describe_machine() -> Machine:
    return Machine(
        cpu_model=_cpu_model(),
        cores=os.cpu_count() or 0,
        kernel=platform.release(),
        python=platform.python_version(),
        hostname=socket.gethostname(),
        tools={
            "nginx": _version(["nginx", "-v"]),
            "HAProxy": _version(["haproxy", "-v"]),
            "wrk": _version(["wrk", "-v"]),
        },
    )
