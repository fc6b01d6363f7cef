"""Endpoint choice: algorithms, exclusion of tried endpoints, passive-health ejection."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from ingress.model import Backend, Balancer, Endpoint, EndpointSet
from ingress.proxy.balancer import Balancers
from ingress.proxy.endpoint_pool import EndpointPool

ENDPOINTS = tuple(Endpoint(f"10.0.0.{i}", 8080) for i in range(1, 4))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Rig = tuple[Balancers, dict[tuple[str, int], EndpointPool], Clock]


@pytest.fixture()
def rig() -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    clock = Clock()
    loop.time = clock  # type: ignore[method-assign]
    pools: dict[tuple[str, int], EndpointPool] = {}

    def pool(address: tuple[str, int]) -> EndpointPool:
        if address not in pools:
            pools[address] = EndpointPool(address, loop, 8, 32768)
        return pools[address]

    yield Balancers(pool, clock), pools, clock
    loop.close()


def backend(balancer: Balancer = Balancer.ROUND_ROBIN) -> Backend:
    return Backend("default", "web", "80", balancer)


def test_round_robin_cycles_and_survives_a_new_backend_object(rig: Rig) -> None:
    balancers, _, _ = rig
    first = [balancers.pick(backend(), ENDPOINTS) for _ in range(3)]
    assert first == list(ENDPOINTS)
    # A rebuilt table has an equal but new Backend: the cursor goes on, it does not restart.
    assert balancers.pick(backend(), ENDPOINTS) == ENDPOINTS[0]
    assert balancers.pick(backend(), ENDPOINTS) == ENDPOINTS[1]


def test_tried_endpoints_are_skipped_until_none_is_left(rig: Rig) -> None:
    balancers, _, _ = rig
    tried = [ENDPOINTS[0].address, ENDPOINTS[1].address]
    assert balancers.pick(backend(), ENDPOINTS, tried) == ENDPOINTS[2]
    assert balancers.pick(backend(), ENDPOINTS, [e.address for e in ENDPOINTS]) is None


def test_fallback_endpoints_only_when_none_is_ready(rig: Rig) -> None:
    balancers, _, _ = rig
    terminating = Endpoint("10.0.0.9", 8080)  # serving, terminating: listed as a fallback
    only_fallback = EndpointSet((), (terminating,)).usable
    assert balancers.pick(backend(), only_fallback) == terminating
    assert balancers.pick(backend(), EndpointSet(ENDPOINTS, (terminating,)).usable) in ENDPOINTS


def test_least_conn_prefers_the_idlest(rig: Rig) -> None:
    balancers, pools, _ = rig
    for endpoint, active in zip(ENDPOINTS, (3, 1, 2), strict=True):
        balancers.pick(backend(Balancer.LEAST_CONN), ENDPOINTS)  # creates the pools
        pools[endpoint.address].active = active
    assert balancers.pick(backend(Balancer.LEAST_CONN), ENDPOINTS) == ENDPOINTS[1]


def test_random_spreads(rig: Rig) -> None:
    balancers, _, _ = rig
    seen = Counter(balancers.pick(backend(Balancer.RANDOM), ENDPOINTS) for _ in range(300))
    assert set(seen) == set(ENDPOINTS)


def test_ejection_after_consecutive_failures_doubles_and_never_ejects_all(rig: Rig) -> None:
    balancers, _, clock = rig
    bad = balancers._pools(ENDPOINTS[0].address)
    ejected = balancers.ejected
    bad.connect_failed(ejected, eject_after=2, eject_base=1.0)
    assert not ejected
    bad.connect_failed(ejected, eject_after=2, eject_base=1.0)
    assert ejected == {ENDPOINTS[0].address: clock.now + 1.0}
    assert ENDPOINTS[0] not in {balancers.pick(backend(), ENDPOINTS) for _ in range(6)}
    clock.now += 1.5
    assert balancers.pick(backend(), ENDPOINTS) is not None and not ejected  # expired and pruned
    bad.connect_failed(ejected, 2, 1.0)
    bad.connect_failed(ejected, 2, 1.0)
    assert ejected[ENDPOINTS[0].address] == clock.now + 2.0  # the second ejection lasts 2 s
    # Every endpoint ejected: they are used anyway rather than failing the Service.
    for endpoint in ENDPOINTS:
        ejected[endpoint.address] = clock.now + 10
    assert balancers.pick(backend(), ENDPOINTS) in ENDPOINTS
    bad.connect_succeeded(ejected)
    assert bad.ejections == 0 and ENDPOINTS[0].address not in ejected
