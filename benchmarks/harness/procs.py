"""Processes under measurement: launch them pinned, account a whole tree's CPU, stop them.

CPU is read from /proc/PID/stat rather than from the load generator's view
because rps alone is capped by the rig (two cores shared by client, upstream
and proxy); CPU-seconds spent by the proxy's process tree are what compare.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_POLL_INTERVAL = 0.05


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    # utime + stime + cutime + cstime: reaped children are counted through
    # their parent's c-times, live ones through their own entry, never twice.
    ticks: int


def parse_stat(text: str) -> ProcStat:
    """Parse one /proc/PID/stat line; the command name may hold spaces and ')'."""
    head, _, tail = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    rest = tail.split()
    # rest[0] is the state (field 3); utime..cstime are fields 14..17.
    ppid = int(rest[1])
    ticks = sum(int(x) for x in rest[11:15])
    return ProcStat(pid=pid, ppid=ppid, ticks=ticks)


def _all_stats() -> dict[int, ProcStat]:
    stats: dict[int, ProcStat] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = parse_stat(fh.read())
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        stats[stat.pid] = stat
    return stats


def tree_of(root: int, stats: dict[int, ProcStat]) -> list[ProcStat]:
    """`root` and all its live descendants found in `stats`."""
    children: dict[int, list[int]] = {}
    for st in stats.values():
        children.setdefault(st.ppid, []).append(st.pid)
    found: list[ProcStat] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(stats[pid])
        todo.extend(children.get(pid, ()))
    return found


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU consumed so far by `root`'s whole process tree."""
    return sum(st.ticks for st in tree_of(root, _all_stats())) / CLOCK_TICKS


def tree_pids(root: int) -> list[int]:
    return [st.pid for st in tree_of(root, _all_stats())]


def parse_cpu_list(text: str) -> set[int]:
    """CPUs in taskset's list form: "0", "0,2", "1-3"."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def cpus_busy_seconds(cpus: set[int]) -> float:
    """Time the given CPUs spent not idle, from /proc/stat, whoever used them."""
    busy = 0
    with open("/proc/stat") as fh:
        for line in fh:
            name, *values = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, values[:8])
                busy += user + nice + system + irq + softirq + steal
    return busy / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class Memory:
    rss_bytes: int
    # PSS splits shared pages between the processes sharing them, so forked
    # workers are not counted once per worker.
    pss_bytes: int


def tree_memory(root: int) -> Memory:
    rss = pss = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    key, _, value = line.partition(":")
                    if key == "Rss":
                        rss += int(value.split()[0]) * 1024
                    elif key == "Pss":
                        pss += int(value.split()[0]) * 1024
        except OSError:
            continue
    return Memory(rss_bytes=rss, pss_bytes=pss)


class ProcessDied(RuntimeError):
    """A process of the rig exited while it was needed."""


class Managed:
    """One long-running process of the rig, pinned to `cpus`, logging to a file."""

    def __init__(self, name: str, argv: Sequence[str], cpus: str, log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        # taskset execs the command, so the pid is the server's own.
        self.popen = subprocess.Popen(
            ["taskset", "-c", cpus, *argv],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise ProcessDied(f"{self.name} exited with code {code}: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """Ask the process (and its workers) to exit; `stop` waits for it."""
        if self.popen.poll() is None:
            # Its own session: the signal reaches its workers and nothing else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate()
        if self.popen.poll() is None:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()


def wait_until(ready: Callable[[], bool], timeout: float, what: str,
               watched: Sequence[Managed] = ()) -> None:
    """Poll `ready` until it holds; fail early if a watched process died."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in watched:
            proc.check_alive()
        if ready():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(_POLL_INTERVAL)
