"""Swapping tables in the data plane: state that outlives changes, cleanup of what left."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from ingress.model import (
    EMPTY_TABLE,
    Backend,
    Balancer,
    Endpoint,
    EndpointSet,
    ObjectRef,
    PathType,
    Route,
    RoutingTable,
    VirtualHost,
)
from ingress.model.changes import endpoints_change, table_change
from ingress.proxy.dataplane import Dataplane
from ingress.proxy.installer import LocalInstaller
from ingress.settings import Settings

PODS = tuple(Endpoint(f"10.0.0.{i}", 8080) for i in range(1, 5))
WEB = Backend("default", "web", "80")
OTHER = Backend("default", "other", "80")
SLOW = Backend("default", "slow", "80", Balancer.EWMA)


def host(name: str, backend: Backend, tls: bool = False) -> VirtualHost:
    route = Route("/", PathType.PREFIX, backend, ObjectRef("Ingress", "default", name), name)
    return VirtualHost(name, prefixes={"": route}, tls=tls)


TABLE = RoutingTable(
    hosts={"web.test": host("web.test", WEB), "other.test": host("other.test", OTHER, tls=True),
           "slow.test": host("slow.test", SLOW)},
    endpoints={WEB.key: EndpointSet(PODS[:3]), OTHER.key: EndpointSet(PODS[3:]),
               SLOW.key: EndpointSet(PODS[:3])},
    generation=1,
)


@pytest.fixture()
def dataplane() -> Iterator[Dataplane]:
    loop = asyncio.new_event_loop()
    plane = Dataplane(Settings(), loop)
    plane.swap(TABLE)
    yield plane
    loop.close()


def pick(plane: Dataplane, backend: Backend) -> Endpoint | None:
    return plane.balancers.pick(backend, plane.table.endpoint_set(backend).usable)


def test_round_robin_goes_on_across_endpoint_changes_of_other_backends(
        dataplane: Dataplane) -> None:
    assert [pick(dataplane, WEB) for _ in range(2)] == list(PODS[:2])
    change = endpoints_change(dataplane.table, {OTHER.key: EndpointSet(PODS[2:])})
    dataplane.swap(change.apply(dataplane.table), change)
    assert pick(dataplane, WEB) == PODS[2]  # not PODS[0]: the cursor survived


def test_latency_averages_and_ejections_survive_their_backends_changes(
        dataplane: Dataplane) -> None:
    dataplane.balancers.observe(PODS[0], 0.3)
    dataplane.balancers.observe(PODS[2], 0.1)
    dataplane.balancers.ejected[PODS[1].address] = 1e12
    for pod in PODS[:3]:
        dataplane.pool(pod.address)
    # PODS[2] leaves SLOW but stays in WEB; nothing leaves the table.
    change = endpoints_change(dataplane.table, {SLOW.key: EndpointSet(PODS[:2])})
    dataplane.swap(change.apply(dataplane.table), change)
    assert set(dataplane.balancers.ewma.stats) == {PODS[0].address, PODS[2].address}
    assert PODS[1].address in dataplane.balancers.ejected
    assert not any(pool.retired for pool in dataplane.pools.values())
    # Now PODS[0] leaves every backend: its pool retires, its average and ejection go.
    dataplane.balancers.ejected[PODS[0].address] = 1e12
    change = endpoints_change(dataplane.table, {SLOW.key: EndpointSet(PODS[1:2]),
                                                WEB.key: EndpointSet(PODS[1:3])})
    old_pool = dataplane.pools[PODS[0].address]
    dataplane.swap(change.apply(dataplane.table), change)
    assert old_pool.retired and PODS[0].address not in dataplane.pools
    assert PODS[0].address not in dataplane.balancers.ewma.stats
    assert PODS[0].address not in dataplane.balancers.ejected
    assert PODS[2].address in dataplane.balancers.ewma.stats


def test_a_rebuild_keeps_the_state_of_backends_it_keeps(dataplane: Dataplane) -> None:
    pick(dataplane, WEB)
    dataplane.stats.request_done(TABLE.hosts["web.test"].prefixes[""].labels, 200, b"GET",
                                 0.01, 10, 10)
    dataplane.stats.request_done(TABLE.hosts["other.test"].prefixes[""].labels, 200, b"GET",
                                 0.01, 10, 10)
    rebuilt = replace(TABLE, hosts={"web.test": host("web.test", WEB)},
                      endpoints={WEB.key: EndpointSet(PODS[:3])}, generation=2)
    dataplane.swap(rebuilt, table_change(dataplane.table, rebuilt))
    assert pick(dataplane, WEB) == PODS[1]
    assert [key[0][0] for key in dataplane.stats.series] == ["web.test"]
    assert not dataplane.has_tls_hosts  # other.test, the TLS host, left
    assert dataplane.contents.labels.counts == {TABLE.hosts["web.test"].prefixes[""].labels: 1}


def test_a_swap_without_a_change_works_it_out(dataplane: Dataplane) -> None:
    assert dataplane.has_tls_hosts
    dataplane.pool(PODS[3].address)
    dataplane.swap(replace(TABLE, hosts={}, endpoints={}, generation=2))
    assert dataplane.contents.labels.counts == {} and dataplane.contents.addresses.counts == {}
    assert dataplane.pools == {} and not dataplane.has_tls_hosts


def big_table(hosts: int, generation: int) -> RoutingTable:
    vhosts = {f"h{n}.test": host(f"h{n}.test", Backend("default", f"s{n}", "80"))
              for n in range(hosts)}
    endpoints = {f"default/s{n}:80": EndpointSet(PODS[:2]) for n in range(hosts)}
    return RoutingTable(hosts=vhosts, endpoints=endpoints, generation=generation)


async def test_a_large_change_is_installed_in_parts_and_nothing_overtakes_it() -> None:
    plane = Dataplane(Settings(), asyncio.get_running_loop())
    installer = LocalInstaller(plane, None)
    first = big_table(300, 1)
    installer.apply(first, table_change(EMPTY_TABLE, first))
    assert plane.table is EMPTY_TABLE  # staged a part at a time, between other callbacks
    moved = endpoints_change(first, {"default/s7:80": EndpointSet(PODS[2:3])})
    installer.apply(moved.apply(first), moved)  # small, but behind the large one
    assert plane.table is EMPTY_TABLE
    ticks = 0
    while plane.table.generation != 1 or plane.table.endpoints["default/s7:80"].ready != (
            PODS[2],):
        ticks += 1
        await asyncio.sleep(0)
    assert ticks > 3
    assert plane.contents.labels.counts.keys() == {
        r.labels for r in moved.apply(first).all_routes()}
    # A small change on an idle installer goes in at once.
    again = endpoints_change(plane.table, {"default/s8:80": EndpointSet(PODS[3:])})
    installer.apply(again.apply(plane.table), again)
    assert plane.table.endpoints["default/s8:80"].ready == (PODS[3],)
