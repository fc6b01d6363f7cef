"""Open-loop load at a fixed request rate, for latency that is not just queueing.

Debian's wrk cannot pace requests and wrk2 is not packaged, so this is our
own client: uvloop + httptools, a fixed pool of keep-alive connections, and a
ticker that dispatches request i at t0 + i/rate whether or not earlier ones
were answered (open loop). Latency runs from dispatch to the last byte of the
response, so a request that waits for a free connection is charged its wait
(no coordinated omission). uvloop's timers tick in milliseconds: requests due
within the same millisecond leave together, and how late the ticker ran
behind the schedule is reported as `max_dispatch_lag_ms` (a client that
cannot keep up shows there, not as server latency).

    python -m benchmarks.harness.openloop --url http://127.0.0.1:8080/ok \
        --host bench.local --rate 5000 --duration 5      # prints one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import ssl
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools
import uvloop

from benchmarks.harness.net import insecure_tls_context
from benchmarks.harness.stats import PERCENTILES, percentile

_DRAIN_TIMEOUT = 5.0
_TIMER_TICK = 0.001
Progress = Callable[[float, int, int, int], None]  # elapsed s, sent, completed, errors


@dataclass(frozen=True, slots=True)
class OpenLoopResult:
    rate: float
    duration_s: float
    sent: int
    completed: int
    errors: int
    mean_us: float
    max_us: float
    percentiles_us: dict[float, float]
    max_dispatch_lag_ms: float
    per_second: list[int]  # responses completed in each second of the run


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    tls: ssl.SSLContext | None
    host_header: str
    request: bytes

    @classmethod
    def from_url(cls, url: str, host_header: str | None) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {url!r}: want http(s)://host[:port]/path")
        tls = parts.scheme == "https"
        host = host_header or parts.netloc
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        return cls(parts.hostname, parts.port or (443 if tls else 80),
                   insecure_tls_context() if tls else None, host, request)


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, client: _OpenLoop) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.started = 0.0  # dispatch time of the request in flight, 0 when idle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, dispatched: float) -> None:
        assert self.transport is not None
        self.started = dispatched
        self.transport.write(self.client.target.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_complete(self) -> None:
        started, self.started = self.started, 0.0
        reusable = self.parser.should_keep_alive()
        self.client.answered(self, started, self.parser.get_status_code(), reusable)
        if not reusable and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost(self, busy=self.started != 0.0)


class _OpenLoop:
    def __init__(self, target: Target, rate: float, duration_s: float, connections: int,
                 progress: Progress | None) -> None:
        if rate <= 0 or duration_s <= 0 or connections <= 0:
            raise ValueError(f"rate {rate}, duration {duration_s}, connections {connections}: "
                             "all must be positive")
        self.target = target
        self.rate = rate
        self.duration_s = duration_s
        self.total = max(1, int(rate * duration_s))
        self.connections = connections
        self.progress = progress
        self.idle: deque[_Connection] = deque()
        self.open: set[_Connection] = set()
        self.backlog: deque[float] = deque()
        self.latencies_us = array("d")
        self.per_second: list[int] = []
        self.sent = self.errors = 0
        self.max_lag = 0.0
        self.t0 = 0.0
        self.loop = asyncio.get_running_loop()
        self.finished = self.loop.create_future()
        self._opening: set[asyncio.Task[None]] = set()

    async def _open(self) -> None:
        try:
            _, conn = await self.loop.create_connection(
                lambda: _Connection(self), self.target.host, self.target.port,
                ssl=self.target.tls,
                server_hostname=self.target.host_header.split(":")[0] if self.target.tls else None,
            )
        except OSError:
            self.errors += 1
            return
        self.open.add(conn)
        self._release(conn)

    def _reopen(self) -> None:
        if self.finished.done():
            return
        task = self.loop.create_task(self._open())
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    def _release(self, conn: _Connection) -> None:
        if self.backlog:
            conn.send(self.backlog.popleft())
        else:
            self.idle.append(conn)

    def _dispatch(self, now: float) -> None:
        if self.idle:
            self.idle.popleft().send(now)
        else:
            self.backlog.append(now)

    def _tick(self) -> None:
        now = time.monotonic()
        due = min(self.total, int((now - self.t0) * self.rate) + 1)
        if due > self.sent:
            self.max_lag = max(self.max_lag, now - (self.t0 + self.sent / self.rate))
        while self.sent < due:
            self.sent += 1
            self._dispatch(now)
        if self.sent < self.total:
            # Never less than uvloop's 1 ms timer tick: shorter delays round
            # to zero and the loop would spin, starving the upstream that
            # shares this CPU.
            wait = max(_TIMER_TICK, self.t0 + self.sent / self.rate - now)
            self.loop.call_later(wait, self._tick)
        self._check_finished()

    def _report(self) -> None:
        if self.finished.done() or self.progress is None:
            return
        self.progress(time.monotonic() - self.t0, self.sent, len(self.latencies_us), self.errors)
        self.loop.call_later(1.0, self._report)

    def _check_finished(self) -> None:
        if (self.sent == self.total and len(self.latencies_us) + self.errors >= self.total
                and not self.finished.done()):
            self.finished.set_result(None)

    def answered(self, conn: _Connection, started: float, status: int, reusable: bool) -> None:
        done = time.monotonic()
        if status >= 400:
            self.errors += 1
        else:
            self.latencies_us.append((done - started) * 1e6)
            second = int(done - self.t0)
            while len(self.per_second) <= second:
                self.per_second.append(0)
            self.per_second[second] += 1
        if reusable:
            self._release(conn)
        else:
            self._reopen()
        self._check_finished()

    def lost(self, conn: _Connection, busy: bool) -> None:
        self.open.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if busy:
            self.errors += 1
        self._reopen()
        self._check_finished()

    async def run(self) -> OpenLoopResult:
        await asyncio.gather(*(self._open() for _ in range(self.connections)))
        if not self.idle:
            raise ConnectionError(f"could not connect to {self.target.host}:{self.target.port}")
        self.t0 = time.monotonic()
        self._tick()
        self.loop.call_later(1.0, self._report)
        # Requests still unanswered after the drain timeout count as errors.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.finished),
                                   self.duration_s + _DRAIN_TIMEOUT)
        elapsed = time.monotonic() - self.t0
        if not self.finished.done():
            self.finished.set_result(None)
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.close()
        return self._result(min(elapsed, self.duration_s + _DRAIN_TIMEOUT))

    def _whole_seconds(self) -> list[int]:
        # Answers to the last requests land just past the end: count them in
        # the last second rather than show a near-empty extra one.
        seconds = max(1, math.ceil(self.duration_s))
        counts = self.per_second[:seconds]
        if len(self.per_second) > seconds:
            counts[-1] += sum(self.per_second[seconds:])
        return counts

    def _result(self, elapsed: float) -> OpenLoopResult:
        ordered = sorted(self.latencies_us)
        completed = len(ordered)
        unanswered = self.total - completed - self.errors
        return OpenLoopResult(
            rate=self.rate,
            duration_s=elapsed,
            sent=self.sent,
            completed=completed,
            errors=self.errors + max(0, unanswered),
            mean_us=sum(ordered) / completed if completed else 0.0,
            max_us=ordered[-1] if ordered else 0.0,
            percentiles_us={p: percentile(ordered, p) for p in PERCENTILES} if ordered else {},
            max_dispatch_lag_ms=self.max_lag * 1e3,
            per_second=self._whole_seconds(),
        )


async def open_loop(url: str, host: str | None, rate: float, duration_s: float,
                    connections: int = 32, progress: Progress | None = None) -> OpenLoopResult:
    """Send `rate` requests per second for `duration_s` seconds to `url`."""
    client = _OpenLoop(Target.from_url(url, host), rate, duration_s, connections, progress)
    return await client.run()


def run_open_loop(url: str, host: str | None, rate: float, duration_s: float,
                  connections: int = 32, progress: Progress | None = None) -> OpenLoopResult:
    return uvloop.run(open_loop(url, host, rate, duration_s, connections, progress))


def result_to_json(result: OpenLoopResult) -> str:
    return json.dumps(asdict(result))


def result_from_json(text: str) -> OpenLoopResult:
    data = json.loads(text)
    data["percentiles_us"] = {float(k): v for k, v in data["percentiles_us"].items()}
    return OpenLoopResult(**data)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--host", help="Host header (default: from the url)")
    ap.add_argument("--rate", type=float, required=True, help="requests per second")
    ap.add_argument("--duration", type=float, required=True, help="seconds")
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args(argv)
    result = run_open_loop(args.url, args.host, args.rate, args.duration, args.connections)
    print(result_to_json(result))


if __name__ == "__main__":
    main()
