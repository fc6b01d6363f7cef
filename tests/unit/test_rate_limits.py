"""The proxy's request-rate and concurrency counters: nginx's limit_req/limit_conn arithmetic."""

from __future__ import annotations

import asyncio
from typing import cast

from ingress.model.filters.ratelimit import RequestRate
from ingress.proxy.filters.ratelimit import MAX_CLIENTS, Limits
from ingress.proxy.filters.registry import FilterServices
from ingress.settings import Settings


class Clock:
    """A loop's clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def limits(clock: Clock, workers: int = 1) -> Limits:
    loop = cast(asyncio.AbstractEventLoop, clock)
    return Limits(FilterServices(loop, Settings(workers=workers)))


def passed(counters: Limits, rates: tuple[RequestRate, ...], n: int, client: str = "1.2.3.4",
           zone: str = "ns/ing") -> int:
    return sum(counters.admit(zone, rates, client) for _ in range(n))


def test_burst_then_the_rate() -> None:
    clock = Clock()
    counters = limits(clock)
    rps_1 = (RequestRate(1, 5),)  # limit-rps: 1 with the default multiplier
    # The first request costs nothing, then 5 more fit in the burst, as in nginx.
    assert passed(counters, rps_1, 10) == 6
    clock.now += 1.0  # one request's worth drains
    assert passed(counters, rps_1, 3) == 1
    clock.now += 10.0  # drained completely
    assert passed(counters, rps_1, 10) == 6


def test_a_rejected_request_is_not_charged() -> None:
    clock = Clock()
    counters = limits(clock)
    rate = (RequestRate(2, 0),)  # no burst: one request every 0.5 s
    assert passed(counters, rate, 1) == 1
    for _ in range(4):
        clock.now += 0.1
        assert passed(counters, rate, 1) == 0  # rejections do not push the next one out
    clock.now += 0.1001
    assert passed(counters, rate, 1) == 1


def test_every_rate_must_pass_and_only_then_all_are_charged() -> None:
    clock = Clock()
    counters = limits(clock)
    rps, rpm = RequestRate(10, 0), RequestRate(1 / 60, 2)
    assert passed(counters, (rps, rpm), 1) == 1
    clock.now += 1
    assert passed(counters, (rps, rpm), 1) == 1
    clock.now += 1
    assert passed(counters, (rps, rpm), 1) == 1
    clock.now += 1
    assert passed(counters, (rps, rpm), 1) == 0  # the per-minute burst is spent
    # The per-second rate was not charged for the rejection: alone it still passes.
    assert passed(counters, (rps,), 1) == 1


def test_clients_and_zones_are_counted_apart() -> None:
    counters = limits(Clock())
    rate = (RequestRate(1, 0),)
    assert passed(counters, rate, 3, client="10.0.0.1") == 1
    assert passed(counters, rate, 3, client="10.0.0.2") == 1
    assert passed(counters, rate, 3, client="10.0.0.1", zone="ns/other") == 1


def test_each_worker_enforces_its_share() -> None:
    clock = Clock()
    counters = limits(clock, workers=4)
    rate = (RequestRate(40, 20),)  # 10 r/s and a burst of 5 per worker
    assert passed(counters, rate, 20) == 6
    clock.now += 0.1  # one request's worth at 10 r/s
    assert passed(counters, rate, 5) == 1
    concurrency = counters.concurrency("ns/ing", 8)
    assert sum(concurrency.enter("1.2.3.4") for _ in range(8)) == 2


def test_memory_stays_bounded_under_a_flood_of_addresses() -> None:
    clock = Clock()
    counters = limits(clock)
    rate = (RequestRate(1, 0),)
    assert passed(counters, rate, 2, client="192.0.2.1") == 1
    for i in range(MAX_CLIENTS + 1000):
        zone = f"ns/ing-{i % 3}"  # the bound holds across zones
        counters.admit(zone, rate, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert len(counters._rates) == MAX_CLIENTS
    # The oldest client was forgotten: it starts again at zero (the most permissive state).
    assert passed(counters, rate, 1, client="192.0.2.1") == 1


def test_concurrency_counts_requests_in_flight() -> None:
    counters = limits(Clock())
    concurrency = counters.concurrency("ns/ing", 2)
    assert concurrency.enter("a") and concurrency.enter("a") and not concurrency.enter("a")
    assert concurrency.enter("b")
    concurrency.leave("a")
    assert concurrency.enter("a")
    for _ in range(3):
        concurrency.leave("a")
    assert "a" not in concurrency.counts  # nothing kept for clients with nothing in flight
    assert counters.concurrency("ns/ing", 2) is concurrency  # survives across requests
