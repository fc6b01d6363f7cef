"""Rate limits through `portico run`: request rates, concurrent requests, response bandwidth."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import aiohttp
import pytest

from e2e.harness import Portico, serving
from kube import objects as o

PODS = ("127.0.0.2",)


@pytest.fixture(scope="module")
def portico(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portico]:
    with serving(tmp_path_factory.mktemp("limits"), PODS, [
        # One request a minute and a burst of 5: the clock cannot drain it during the test.
        o.annotated(o.ingress("rpm", host="rpm.test"), **{"limit-rpm": "1"}),
        o.annotated(o.ingress("rps", host="rps.test"),
                    **{"limit-rps": "1", "limit-burst-multiplier": "2",
                      "limit-allowlist": "10.0.0.0/8"}),
        o.annotated(o.ingress("trusted", host="trusted.test"),
                    **{"limit-rpm": "1", "limit-whitelist": "10.0.0.0/8, 127.0.0.0/8"}),
        o.annotated(o.ingress("conn", host="conn.test"), **{"limit-connections": "8"}),
        o.annotated(o.ingress("slow", host="slow.test"), **{"limit-rate": "50"}),
        o.annotated(o.ingress("later", host="later.test"),
                    **{"limit-rate": "50", "limit-rate-after": "200"}),
    ]) as (portico, _):
        yield portico


async def statuses(portico: Portico, host: str, n: int, path: str = "/",
                   at_once: bool = False) -> Counter[int]:
    async with aiohttp.ClientSession() as session:
        async def one() -> int:
            async with session.get(portico.url + path, headers={"Host": host}) as response:
                await response.read()
                return response.status
        if at_once:
            return Counter(await asyncio.gather(*(one() for _ in range(n))))
        return Counter([await one() for _ in range(n)])


async def test_request_rate_allows_the_burst_then_answers_503(portico: Portico) -> None:
    # limit-rpm 1 x 5: the first request and five more, as nginx's limit_req counts them.
    assert await statuses(portico, "rpm.test", 10) == Counter({200: 6, 503: 4})
    # The zone is the Ingress: every path of it shares the budget.
    assert await statuses(portico, "rpm.test", 1, "/other") == Counter({503: 1})


async def test_request_rate_drains(portico: Portico) -> None:
    assert await statuses(portico, "rps.test", 5) == Counter({200: 3, 503: 2})
    await asyncio.sleep(1.1)  # one request a second drains back in
    assert (await statuses(portico, "rps.test", 2))[200] == 1


async def test_allowlisted_clients_are_not_limited(portico: Portico) -> None:
    assert await statuses(portico, "trusted.test", 10) == Counter({200: 10})


async def test_limit_connections_counts_requests_in_flight(portico: Portico) -> None:
    # ingress-nginx's limitconnections.go: 20 concurrent slow requests, a limit of 8.
    assert await statuses(portico, "conn.test", 20, "/delay/0.5", at_once=True) == Counter(
        {200: 8, 503: 12})
    # Finished requests hold nothing: the next burst gets its 8 again.
    assert (await statuses(portico, "conn.test", 9, "/delay/0.2", at_once=True))[200] == 8


async def fetch_seconds(portico: Portico, host: str, size: int) -> float:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.get(
        f"{portico.url}/bytes/{size}", headers={"Host": host}
    ) as response:
        assert len(await response.read()) == size
    return time.monotonic() - started


async def test_limit_rate_paces_the_response(portico: Portico) -> None:
    # 50 KiB/s with the first second's worth at once: 150 KiB take about two seconds.
    assert await fetch_seconds(portico, "slow.test", 150 * 1024) >= 1.8
    # limit-rate-after 200 KiB: the same response goes at full speed.
    assert await fetch_seconds(portico, "later.test", 150 * 1024) < 1.0
