"""Hold many idle keep-alive client connections open to Portico and report the memory they cost.

    python -m benchmarks.idle_connections                  # 10,000 connections, own Portico
    python -m benchmarks.idle_connections --connections 200 --out DIR   # quick

It starts the benchmark rig with Portico (one worker), opens the connections
(each answered once through the proxy, so each is a real keep-alive client
connection, then left idle), reads the RSS and PSS of Portico's process tree
before and after, and checks every connection is still served. The target is
less than 100 MB added for 10,000 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import httptools
import uvloop

from benchmarks.harness.machine import describe_machine, hostname_slug
from benchmarks.harness.net import LOOPBACK
from benchmarks.harness.procs import Memory, tree_memory
from benchmarks.harness.rig import BENCH_HOST, SMALL_PATH, Rig

BENCH_DIR = Path(__file__).parent
TARGET_BYTES = 100 * 1024 * 1024
TARGET_CONNECTIONS = 10_000
_OPENING_CONCURRENCY = 200
_REQUEST = f"GET {SMALL_PATH} HTTP/1.1\r\nHost: {BENCH_HOST}\r\n\r\n".encode()


def raise_fd_limit(needed: int) -> None:
    """Allow `needed` descriptors here and in the processes started from here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError) as exc:
            raise SystemExit(f"need {needed} file descriptors, the hard limit is {hard} "
                             f"and cannot be raised ({exc}); run as root or raise it") from exc
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))


def source_addresses(count: int) -> list[str]:
    """Enough 127.0.0.x source addresses that `count` connections fit the ephemeral ports."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
        low, high = (int(x) for x in fh.read().split())
    # Use at most half the range per address: other tests on this machine need ports too.
    per_address = max(1, (high - low + 1) // 2)
    return [f"127.0.0.{i + 1}" for i in range(math.ceil(count / per_address))]


class _Idle(asyncio.Protocol):
    """A client connection that sends one request at a time when told to."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def ask(self) -> asyncio.Future[int]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(_REQUEST)
        return self.answer

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._settle(exc)

    def on_message_complete(self) -> None:
        self._settle(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._settle(exc or ConnectionResetError("closed by the server"))

    def _settle(self, outcome: int | Exception) -> None:
        if self.answer is None or self.answer.done():
            return
        if isinstance(outcome, Exception):
            self.answer.set_exception(outcome)
        else:
            self.answer.set_result(outcome)


async def _open_one(port: int, source: str, gate: asyncio.Semaphore) -> _Idle | None:
    loop = asyncio.get_running_loop()
    async with gate:
        try:
            _, conn = await loop.create_connection(_Idle, LOOPBACK, port,
                                                   local_addr=(source, 0))
            status = await asyncio.wait_for(conn.ask(), 10)
        except (OSError, TimeoutError):
            return None
    return conn if status == 200 else None


async def _ask_all(conns: list[_Idle]) -> int:
    """How many connections answer one more request with 200."""
    async def one(conn: _Idle, gate: asyncio.Semaphore) -> bool:
        if conn.closed:
            return False
        async with gate:
            try:
                return await asyncio.wait_for(conn.ask(), 10) == 200
            except (OSError, TimeoutError):
                return False

    gate = asyncio.Semaphore(_OPENING_CONCURRENCY)
    return sum(await asyncio.gather(*(one(c, gate) for c in conns)))


@dataclass(frozen=True, slots=True)
class IdleReport:
    wanted: int
    opened: int
    still_served: int
    before: Memory
    after: Memory
    open_seconds: float

    @property
    def added_rss(self) -> int:
        return self.after.rss_bytes - self.before.rss_bytes

    @property
    def added_pss(self) -> int:
        return self.after.pss_bytes - self.before.pss_bytes

    @property
    def within_target(self) -> bool:
        budget = TARGET_BYTES * self.wanted / TARGET_CONNECTIONS
        return self.opened == self.wanted and self.added_rss < budget

    def lines(self) -> list[str]:
        mb = 1024 * 1024
        per_conn = self.added_rss / self.opened if self.opened else 0.0
        return [
            f"- connections wanted / opened / still served afterwards: "
            f"{self.wanted:,} / {self.opened:,} / {self.still_served:,} "
            f"(opened in {self.open_seconds:.1f} s)",
            f"- Portico RSS: {self.before.rss_bytes / mb:.1f} MB → "
            f"{self.after.rss_bytes / mb:.1f} MB, added {self.added_rss / mb:.1f} MB "
            f"({per_conn / 1024:.1f} KiB per connection)",
            f"- Portico PSS: {self.before.pss_bytes / mb:.1f} MB → "
            f"{self.after.pss_bytes / mb:.1f} MB, added {self.added_pss / mb:.1f} MB",
            f"- target: < {TARGET_BYTES * self.wanted / TARGET_CONNECTIONS / mb:.0f} MB added "
            f"for {self.wanted:,}: {'met' if self.within_target else 'NOT met'}",
        ]


async def hold_idle(port: int, pid: int, count: int) -> IdleReport:
    before = tree_memory(pid)
    gate = asyncio.Semaphore(_OPENING_CONCURRENCY)
    sources = source_addresses(count)
    started = time.monotonic()
    opened = await asyncio.gather(*(_open_one(port, sources[i % len(sources)], gate)
                                    for i in range(count)))
    open_seconds = time.monotonic() - started
    conns = [c for c in opened if c is not None]
    after = tree_memory(pid)
    still_served = await _ask_all(conns)
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return IdleReport(count, len(conns), still_served, before, after, open_seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.idle_connections",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=TARGET_CONNECTIONS)
    ap.add_argument("--workers", type=int, default=1, help="Portico worker processes")
    ap.add_argument("--workdir", type=Path, default=BENCH_DIR / ".run" / "idle")
    ap.add_argument("--out", type=Path, help="directory for idle_connections.md "
                    "(default: benchmarks/results/<date>-<host>)")
    args = ap.parse_args(argv)
    if args.connections < 1:
        ap.error("--connections: must be at least 1")
    # This process holds the client ends, Portico (which inherits the limit)
    # the server ends plus its upstream pool: each needs the count plus slack.
    raise_fd_limit(args.connections + 1024)
    config = f"portico-{args.workers}"
    with Rig(args.workdir, (config,)) as rig:
        if config not in rig.targets:
            print(f"{config} did not start: {rig.failed.get(config)}", file=sys.stderr)
            return 1
        target = rig.targets[config]
        port = int(target.http_url.rsplit(":", 1)[1])
        report = uvloop.run(hold_idle(port, target.cpu_root, args.connections))
    machine = describe_machine()
    out: Path = args.out or BENCH_DIR / "results" / (
        f"{datetime.date.today().isoformat()}-{hostname_slug(machine.hostname)}")
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Idle keep-alive connections held by Portico ({config})", "",
             *machine.describe(), "", *report.lines()]
    (out / "idle_connections.md").write_text("\n".join(lines) + "\n")
    print("\n".join(report.lines()))
    ok = report.within_target and report.still_served == report.opened
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
