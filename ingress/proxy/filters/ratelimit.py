"""Runners of the rate limits (ingress.model.filters.ratelimit), and their counters.

Request rates follow nginx's limit_req with `nodelay`: a client's `excess`
drains at the rate and grows by one per request; a request that would
take it past the burst is rejected and changes nothing. The first request
of a client starts at zero, as in nginx. A request passes only when every
rate of its zone lets it, and only then are they charged.

Counters live in this process. With N worker processes, each enforces
1/N of every rate, burst and connection limit: the kernel spreads
connections over the workers (SO_REUSEPORT), so a client that opens
several connections gets the annotation's limit from the replica as a
whole, as from one nginx. A client that sends everything over one
keep-alive connection reaches one worker and gets 1/N of it.

Memory stays bounded under a flood of new addresses: the process keeps
the `MAX_CLIENTS` most recently charged (zone, rate, client) states of all
zones together (a forgotten client had the oldest, thus most drained,
state); concurrency counts exist only while requests are in flight, in at
most `MAX_ZONES` zones.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ingress.model.filters.core import Network
from ingress.model.filters.ratelimit import RateLimit, RequestRate, ResponseRate
from ingress.proxy.filters.registry import (
    ANSWERED,
    NEXT,
    FilterHost,
    FilterServices,
    request_runner,
)

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange
    from ingress.proxy.upstream import UpstreamConnection

MAX_CLIENTS = 100_000
MAX_ZONES = 4096

class _Concurrency:
    """Requests in flight per client of one zone."""

    __slots__ = ("counts", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    def enter(self, client: str) -> bool:
        count = self.counts.get(client, 0)
        if count >= self.limit:
            return False
        self.counts[client] = count + 1
        return True

    def leave(self, client: str) -> None:
        count = self.counts.get(client, 0) - 1
        if count > 0:
            self.counts[client] = count
        else:
            self.counts.pop(client, None)


class Limits:
    """This process's request-rate and concurrency counters, by zone and client."""

    def __init__(self, services: FilterServices) -> None:
        self._time = services.loop.time
        self.share = 1.0 / max(1, services.settings.workers)
        # (zone, rate, client) → (excess, when last charged), least recently charged first.
        self._rates: OrderedDict[tuple[str, RequestRate, str], tuple[float, float]] = (
            OrderedDict())
        self._concurrency: OrderedDict[tuple[str, int], _Concurrency] = OrderedDict()

    def admit(self, zone: str, rates: tuple[RequestRate, ...], client: str) -> bool:
        """Whether `client` may send one more request under every rate of `zone`."""
        now = self._time()
        share = self.share
        states = self._rates
        charges = []
        for rate in rates:
            key = (zone, rate, client)
            state = states.get(key)
            excess = 0.0
            if state is not None:
                drained = rate.per_second * share * max(now - state[1], 0.0)
                excess = max(state[0] - drained + 1.0, 0.0)
            if excess > rate.burst * share:
                return False
            charges.append((key, excess))
        for key, excess in charges:
            states[key] = (excess, now)
            states.move_to_end(key)
        while len(states) > MAX_CLIENTS:
            states.popitem(last=False)
        return True

    def concurrency(self, zone: str, limit: int) -> _Concurrency:
        share = max(1, math.ceil(limit * self.share))
        return _recent(self._concurrency, (zone, limit), lambda: _Concurrency(share))


K = TypeVar("K")
V = TypeVar("V")


def _recent(zones: OrderedDict[K, V], key: K, new: Callable[[], V]) -> V:
    """The zone at `key`, created if new; the least recently used goes beyond MAX_ZONES."""
    found = zones.get(key)
    if found is None:
        found = zones[key] = new()
        if len(zones) > MAX_ZONES:
            zones.popitem(last=False)
    else:
        zones.move_to_end(key)
    return found


def _within(client: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in networks)


@request_runner(RateLimit)
def rate_limit(host: FilterHost, exchange: Exchange, flt: RateLimit) -> int:
    client = host.client_address
    if flt.allow and _within(client, flt.allow):
        return NEXT
    limits = host.services.part(Limits)
    # nginx's limit_req runs before limit_conn: a rejected request holds no connection.
    if flt.rates and not limits.admit(flt.zone, flt.rates, client):
        host.answer(exchange, flt.request_status)
        return ANSWERED
    if flt.connections:
        counter = limits.concurrency(flt.zone, flt.connections)
        if not counter.enter(client):
            host.answer(exchange, flt.connection_status)
            return ANSWERED
        exchange.at_end(functools.partial(counter.leave, client))
    return NEXT


class Throttle:
    """Paces the response of one exchange to a rate, as nginx's limit_rate does.

    Response bytes that are not due yet wait here, and the upstream is not
    read meanwhile, so what waits is at most one read's worth. The end of
    the response (`then`) waits for them too.
    """

    __slots__ = ("exchange", "finish", "loop", "pending", "per_second", "start", "upfront",
                 "upstream", "written")

    def __init__(self, flt: ResponseRate, loop: asyncio.AbstractEventLoop,
                 exchange: Exchange) -> None:
        self.loop = loop
        self.exchange = exchange
        self.per_second = flt.per_second
        # nginx lets the first second's worth go at once: rate * (seconds elapsed + 1).
        self.upfront = flt.after + flt.per_second
        self.start = loop.time()
        self.written = 0
        self.pending: list[bytes] = []
        self.upstream: UpstreamConnection | None = None
        self.finish: Callable[[Exchange], None] | None = None

    @property
    def holding(self) -> bool:
        return bool(self.pending)

    def write(self, upstream: UpstreamConnection, data: bytes) -> None:
        self.upstream = upstream
        if self.pending:
            self.pending.append(data)
        else:
            self._send(data)

    def then(self, finish: Callable[[Exchange], None]) -> None:
        """Call `finish(exchange)` once every byte is written (now, if none waits)."""
        if self.pending:
            self.finish = finish
        else:
            finish(self.exchange)

    def _send(self, data: bytes) -> None:
        """Write what is due of `data`; keep the rest and hold the upstream until it is."""
        conn = self.exchange.conn
        due = int(self.upfront + self.per_second * (self.loop.time() - self.start)) - self.written
        if due >= len(data):
            self.written += len(data)
            conn.write(data)
            return
        if due > 0:
            self.written += due
            conn.write(data[:due])
            data = data[due:]
        self.pending.append(data)
        upstream = self.upstream
        # Once the response is all read, its connection serves others: leave it be.
        if upstream is not None and upstream.exchange is self.exchange and (
            upstream.transport is not None
        ):
            upstream.transport.pause_reading()
        step = min(len(data), self.per_second // 10 or 1)
        self.loop.call_later(step / self.per_second, self._flush)

    def _flush(self) -> None:
        exchange = self.exchange
        if exchange.conn.closed:
            return  # the client left: its connection already ended the exchange
        data = b"".join(self.pending)
        self.pending = []
        self._send(data)
        if self.pending:
            return
        upstream = self.upstream
        if (upstream is not None and upstream.exchange is exchange and not upstream.closed
                and upstream.transport is not None and not exchange.conn.write_paused):
            upstream.transport.resume_reading()
        finish, self.finish = self.finish, None
        if finish is not None:
            finish(exchange)


@request_runner(ResponseRate)
def response_rate(host: FilterHost, exchange: Exchange, flt: ResponseRate) -> int:
    exchange.throttle = Throttle(flt, host.services.loop, exchange)
    return NEXT
