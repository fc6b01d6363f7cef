"""ingress-nginx's `nginx_process_*` families, measured on Portico's proxy processes.

In ingress-nginx these describe the nginx processes that carry the traffic;
here they describe the processes that run the data plane: the worker
processes, or this process with `--workers 1`. CPU, memory and I/O come
from /proc on each scrape; connections and requests from the proxy's
counters. CPU time of a worker that exited is carried forward, so the
counter does not fall back when a worker is restarted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

from ingress.observability.families import Families
from ingress.observability.stats import ProxyStats

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcessSample:
    cpu_seconds: float
    resident_bytes: int
    virtual_bytes: int
    start_time: float  # epoch seconds
    read_bytes: int
    write_bytes: int


def _boot_time() -> float:
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("/proc/stat has no btime")


def sample_process(pid: int, boot_time: float) -> ProcessSample:
    """One process's counters from /proc (OSError when it is gone)."""
    with open(f"/proc/{pid}/stat") as fh:
        # The command name may hold spaces and parentheses: split after its last ')'.
        fields = fh.read().rpartition(")")[2].split()
    utime, stime, start = int(fields[11]), int(fields[12]), int(fields[19])
    vsize, rss = int(fields[20]), int(fields[21])
    read_bytes = write_bytes = 0
    try:
        with open(f"/proc/{pid}/io") as fh:
            io = dict(line.split(":", 1) for line in fh)
        read_bytes, write_bytes = int(io["read_bytes"]), int(io["write_bytes"])
    except (OSError, KeyError, ValueError):
        pass  # /proc/PID/io needs ptrace rights some containers do not grant
    return ProcessSample(
        cpu_seconds=(utime + stime) / _TICKS,
        resident_bytes=rss * _PAGE,
        virtual_bytes=vsize,
        start_time=boot_time + start / _TICKS,
        read_bytes=read_bytes,
        write_bytes=write_bytes,
    )


class ProcessCollector:
    def __init__(self, pids: Callable[[], Sequence[int]], get_stats: Callable[[], ProxyStats],
                 families: Families) -> None:
        self._pids = pids
        self._get_stats = get_stats
        self._families = families
        self._boot_time = _boot_time()
        # CPU seconds, read and written bytes last seen per pid, and those of pids gone since.
        self._last: dict[int, ProcessSample] = {}
        self._departed = (0.0, 0, 0)

    def _samples(self) -> list[ProcessSample]:
        samples: dict[int, ProcessSample] = {}
        for pid in self._pids():
            try:
                samples[pid] = sample_process(pid, self._boot_time)
            except OSError:
                continue
        cpu, read, written = self._departed
        for pid, gone in self._last.items():
            if pid not in samples:
                cpu += gone.cpu_seconds
                read += gone.read_bytes
                written += gone.write_bytes
        self._departed = (cpu, read, written)
        self._last = samples
        return list(samples.values())

    def collect(self) -> Iterator[Metric]:
        f = self._families
        samples = self._samples()
        stats = self._get_stats()
        cpu, read, written = self._departed
        gauges = (
            ("num_procs", "number of processes", len(samples)),
            ("resident_memory_bytes", "number of bytes of memory in use",
             sum(s.resident_bytes for s in samples)),
            ("virtual_memory_bytes", "number of bytes of memory in use",
             sum(s.virtual_bytes for s in samples)),
            ("oldest_start_time_seconds", "start time in seconds since 1970/01/01",
             min((s.start_time for s in samples), default=0.0)),
        )
        for name, help_text, value in gauges:
            metric = f.new("nginx_process_" + name, help_text, "gauge")
            f.sample(metric, "", (), (), value)
            yield metric
        counters = (
            ("cpu_seconds", "Cpu usage in seconds", cpu + sum(s.cpu_seconds for s in samples)),
            ("read_bytes", "number of bytes read", read + sum(s.read_bytes for s in samples)),
            ("write_bytes", "number of bytes written",
             written + sum(s.write_bytes for s in samples)),
            ("requests", "total number of client requests",
             sum(s.requests for s in stats.series.values())),
        )
        for name, help_text, value in counters:
            metric = f.new(f"nginx_process_{name}_total", help_text, "counter")
            f.sample(metric, "", (), (), value)
            yield metric
        accepted = f.new("nginx_process_connections_total",
                         "total number of connections with state {accepted, handled}", "counter")
        for state in ("accepted", "handled"):
            f.sample(accepted, "", ("state",), (state,), stats.connections_accepted)
        yield accepted
        current = f.new(
            "nginx_process_connections",
            "current number of client connections with state {active, reading, writing, waiting}",
            "gauge")
        for state, value in (("active", stats.active_connections), ("reading", stats.reading),
                             ("writing", stats.writing), ("waiting", stats.waiting)):
            f.sample(current, "", ("state",), (state,), value)
        yield current
