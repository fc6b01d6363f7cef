"""The load generator: keep-alive HTTP/1.1 connections (or HTTP/2 streams) driven open
loop or closed loop.

Open loop (`--rate`, `--stages`): a ticker dispatches request i at the
schedule's time for it whether or not earlier ones were answered, over a
fixed pool of keep-alive connections; a request that finds every connection
busy waits in a backlog. Its latency runs from the time it was *due* to the
last byte of its answer, so a server that stalls is charged for every
request it held up, including those not yet sent (no coordinated omission).
How late the ticker itself ran behind the schedule is measured separately:
a client that cannot keep up shows there, not as server latency.

Closed loop (`--connections` alone): every connection sends its next
request as soon as the last one is answered, as wrk does.

uvloop + httptools, no Task per request. With `--http2` each pool place is
a stream slot of a few multiplexed HTTP/2 connections (h2client.py).
Outcomes are counted per second of the run and handed to `emit` as each
second ends, with the latencies of that second as an HDR histogram.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import httptools

from ingress.loadtest.h2client import Lane, Sessions
from ingress.loadtest.histogram import encode, new_histogram, record_seconds
from ingress.loadtest.request import RequestSpec, Target
from ingress.loadtest.schedule import Schedule, Share

# uvloop's timers tick in milliseconds: a shorter wait rounds to zero and spins.
_TIMER_TICK = 0.001


@dataclass(frozen=True, slots=True)
class Plan:
    """One load generator's part of a run (plain data: it crosses process boundaries)."""

    request: RequestSpec
    schedule: Schedule | None  # None: closed loop for `duration`
    duration: float
    connections: int
    timeout: float
    share: int = 0  # this generator's index among `shares`
    shares: int = 1


@dataclass(slots=True)
class SecondStats:
    """What one generator saw finish in one second of the run."""

    share: int
    second: int
    sent: int = 0
    answered: int = 0  # HTTP responses, whatever their status
    status: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # transport failures by kind
    latency: bytes = b""  # encoded histogram of the answers with status < 400
    lag_ms: float = 0.0  # the most the dispatcher ran behind the schedule


@dataclass(frozen=True, slots=True)
class Totals:
    share: int
    t0: float  # monotonic time the run started
    sent: int
    first_errors: dict[str, str]  # kind → the first error's message, for the report


Emit = Callable[[SecondStats], None]


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, client: LoadClient) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.due = 0.0  # when the request in flight was due; 0 when idle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, due: float) -> None:
        assert self.transport is not None
        self.due = due
        self.transport.write(self.client.target.payload)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail("protocol", f"unparsable response: {error}")

    def on_headers_complete(self) -> None:
        if self.client.target.head:
            # llhttp cannot be told the request was HEAD: the response ends here.
            parser, self.parser = self.parser, httptools.HttpResponseParser(self)
            self._complete(parser.get_status_code(), parser.should_keep_alive())

    def on_message_complete(self) -> None:
        self._complete(self.parser.get_status_code(), self.parser.should_keep_alive())

    def _complete(self, status: int, reusable: bool) -> None:
        due, self.due = self.due, 0.0
        if not due:
            return  # an answer nobody waits for any more (timed out)
        self.client.answered(self, due, status, reusable)
        if not reusable and self.transport is not None:
            self.transport.close()

    def _fail(self, kind: str, message: str) -> None:
        due, self.due = self.due, 0.0
        if due:
            self.client.failed(due, kind, message)
        if self.transport is not None:
            self.transport.abort()

    def timed_out(self) -> None:
        self._fail("timeout", f"no answer within {self.client.plan.timeout:g} s")

    def connection_lost(self, exc: Exception | None) -> None:
        due, self.due = self.due, 0.0
        if due:
            why = str(exc) if exc is not None else "closed by the server"
            self.client.failed(due, "reset", f"connection lost before the answer: {why}")
        self.client.lost(self)


class LoadClient:
    def __init__(self, plan: Plan, emit: Emit) -> None:
        self.plan = plan
        self.target = Target.from_spec(plan.request)
        self.emit = emit
        self.loop = asyncio.get_running_loop()
        self.share = Share(plan.schedule, plan.share, plan.shares) if plan.schedule else None
        self.open: set[_Connection | Lane] = set()
        self.idle: deque[_Connection | Lane] = deque()
        self.sessions = Sessions(self, self.target.streams)
        self.free_slots = plan.connections  # pool places with no connection, not connecting
        self.backlog: deque[float] = deque()  # due times of requests waiting for a connection
        self.connecting: set[asyncio.Task[None]] = set()
        self.sent = self.resolved = 0
        self.first_errors: dict[str, str] = {}
        self.t0 = 0.0
        self.end = 0.0  # closed loop: no request leaves after this
        self.sending_done = False
        self.finished = self.loop.create_future()
        self.second = 0
        self.second_ends = 0.0
        self.histogram = new_histogram()
        self.stats = SecondStats(plan.share, 0)

    # --- connections -------------------------------------------------------

    async def _connect(self, due: float | None) -> None:
        """Fill a pool place; send the request due at `due` on it, if there is one."""
        target, timeout = self.target, self.plan.timeout
        limit = timeout if due is None else max(0.0, due + timeout - time.monotonic())
        conn: _Connection | Lane
        try:
            async with asyncio.timeout(limit):
                if target.streams:
                    conn = await self.sessions.lane()
                else:
                    _, conn = await self.loop.create_connection(
                        lambda: _Connection(self), target.address, target.port, ssl=target.tls,
                        server_hostname=target.server_name if target.tls else None)
        except TimeoutError:
            self._connect_failed(due, "timeout", f"connecting took over {timeout:g} s")
            return
        except ssl.SSLError as error:
            self._connect_failed(due, "tls", f"TLS handshake: {error.reason or error}")
            return
        except OSError as error:
            self._connect_failed(due, "connect", error.strerror or str(error))
            return
        self.open.add(conn)
        if due is not None:
            conn.send(due)
        else:
            self._release(conn)

    def _start_connect(self, due: float | None) -> None:
        self.free_slots -= 1
        task = self.loop.create_task(self._connect(due))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    def _connect_failed(self, due: float | None, kind: str, message: str) -> None:
        if due is not None:
            self.failed(due, kind, message)
        self._slot_freed()

    def _slot_freed(self) -> None:
        self.free_slots += 1
        if not self.t0:
            return  # warming up: the run has not started
        if self.share is None:
            if self.sending_done:
                self._check_finished()
            elif due := self._issue():
                self._start_connect(due)
        elif self.backlog:
            self._start_connect(self.backlog.popleft())

    def _release(self, conn: _Connection | Lane) -> None:
        if not self.t0:
            self.idle.append(conn)
            return
        if self.share is None:
            due = self._issue()
            if due:
                conn.send(due)
                return
        elif self.backlog:
            conn.send(self.backlog.popleft())
            return
        self.idle.append(conn)
        self._check_finished()

    def lost(self, conn: _Connection | Lane) -> None:
        self.open.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        self._slot_freed()

    # --- sending -----------------------------------------------------------

    def _issue(self) -> float:
        """Closed loop: the next request's send time, or 0 once the run is over."""
        now = time.monotonic()
        if now >= self.end:
            if not self.sending_done:
                self.sending_done = True
                self._check_finished()
            return 0.0
        self.sent += 1
        self.stats.sent += 1
        return now

    def _dispatch(self, due: float) -> None:
        if self.idle:
            self.idle.popleft().send(due)
        elif self.free_slots:
            self._start_connect(due)
        else:
            self.backlog.append(due)

    def _tick(self) -> None:
        share = self.share
        assert share is not None
        now = time.monotonic()
        self._roll(now)
        due = share.due(now - self.t0)
        if due > self.sent:
            late = now - (self.t0 + share.at(self.sent))
            self.stats.lag_ms = max(self.stats.lag_ms, late * 1e3)
        while self.sent < due:
            scheduled = self.t0 + share.at(self.sent)
            self.sent += 1
            self.stats.sent += 1
            self._dispatch(scheduled)
        if self.sent < share.total:
            wait = max(_TIMER_TICK, self.t0 + share.at(self.sent) - now)
            self.loop.call_later(wait, self._tick)
        else:
            self.sending_done = True
            self._check_finished()

    # --- outcomes ----------------------------------------------------------

    def answered(self, conn: _Connection | Lane, due: float, status: int,
                 reusable: bool) -> None:
        now = time.monotonic()
        self._roll(now)
        stats = self.stats
        stats.answered += 1
        stats.status[status] = stats.status.get(status, 0) + 1
        if status < 400:
            record_seconds(self.histogram, now - due)
        self.resolved += 1
        if reusable:
            self._release(conn)
        else:
            self._check_finished()

    def failed(self, due: float, kind: str, message: str) -> None:
        self._roll(time.monotonic())
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
        self.first_errors.setdefault(kind, message)
        self.resolved += 1
        self._check_finished()

    def _sweep(self) -> None:
        """Time out what waited longer than --timeout: in flight, or still in the backlog."""
        if self.finished.done():
            return
        now = time.monotonic()
        oldest = now - self.plan.timeout
        for conn in [c for c in self.open if c.due and c.due < oldest]:
            conn.timed_out()
        while self.backlog and self.backlog[0] < oldest:
            self.failed(self.backlog.popleft(), "timeout",
                        f"no free connection within {self.plan.timeout:g} s")
        if self.share is None and now >= self.end and not self.sending_done:
            self.sending_done = True  # closed loop: every connection may be stuck
            self._check_finished()
        self._roll(now)
        self.loop.call_later(min(0.05, self.plan.timeout / 4), self._sweep)

    def _roll(self, now: float) -> None:
        """Hand over every second that has ended by `now`."""
        while now >= self.second_ends:
            self._flush()
            self.second += 1
            self.second_ends += 1.0

    def _flush(self) -> None:
        stats = self.stats
        stats.latency = encode(self.histogram)
        self.histogram.reset()
        self.emit(stats)
        self.stats = SecondStats(self.plan.share, self.second + 1)

    def _check_finished(self) -> None:
        if self.sending_done and self.resolved >= self.sent and not self.finished.done():
            self.finished.set_result(None)

    # --- the run -----------------------------------------------------------

    async def warm_up(self) -> None:
        """Open the pool before the clock starts: connecting is not the server's latency."""
        wanted = self.plan.connections if self.share is None else min(
            self.plan.connections, self.share.total)
        self.free_slots -= wanted
        await asyncio.gather(*(self._connect(None) for _ in range(wanted)))

    async def run(self, t0: float) -> Totals:
        """Start at monotonic time `t0` (shared by all generators) and run to the end."""
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        self.t0 = t0
        self.second_ends = t0 + 1.0
        self.end = t0 + self.plan.duration
        self.loop.call_later(min(0.05, self.plan.timeout / 4), self._sweep)
        if self.share is not None:
            self._tick()
        else:
            waiting, self.idle = self.idle, deque()
            for conn in waiting:
                self._release(conn)
            for _ in range(self.free_slots):
                if due := self._issue():
                    self._start_connect(due)
        await self.finished
        for task in list(self.connecting):
            task.cancel()
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.close()
        self._roll(time.monotonic())
        self._flush()
        return Totals(self.plan.share, self.t0, self.sent, dict(self.first_errors))


async def generate(plan: Plan, emit: Emit, start: Callable[[], float]) -> Totals:
    """Warm up, ask `start()` for the shared start time, run; the garbage collector off.

    The client's own objects are short-lived and acyclic: a collection pass
    would only add pauses to the schedule.
    """
    client = LoadClient(plan, emit)
    await client.warm_up()
    t0 = start()
    enabled = gc.isenabled()
    gc.disable()
    try:
        return await client.run(t0)
    finally:
        if enabled:
            gc.enable()
