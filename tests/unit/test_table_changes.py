"""Table changes: what differs between two tables, applied only to the table it came from."""

from __future__ import annotations

import pickle
from dataclasses import fields, replace
from typing import Any

import pytest
from build_objects import endpoint, endpoint_slice, ingress, path, rule, run, service

from ingress.model import EMPTY_TABLE, Backend, Endpoint, EndpointSet, RoutingTable
from ingress.model.changes import (
    Singles,
    StaleChange,
    TableChange,
    endpoints_change,
    join,
    split,
    table_change,
)
from ingress.model.pickling import dumps
from ingress.observability.config_hash import ConfigDigest, table_hash


def cluster(count: int, *, pods: int = 1, extra: tuple[dict[str, Any], ...] = (),
            generation: int = 1) -> RoutingTable:
    """`count` hosts app-N.test, each with its own Service of `pods` pods."""
    objects: list[dict[str, Any]] = list(extra)
    for n in range(count):
        name = f"app-{n}"
        objects += [
            ingress(name, [rule(f"{name}.test", path("/", name), path("/api", name))]),
            service(name),
            endpoint_slice(f"{name}-x", name,
                           [endpoint(f"10.{n // 250}.{n % 250}.{i}") for i in range(1, pods + 1)]),
        ]
    return replace(run(*objects).table, generation=generation)


def test_applying_the_change_gives_the_new_table() -> None:
    old = cluster(5)
    new = cluster(6, extra=(ingress("more", [rule("app-1.test", path("/more", "app-2"))]),),
                  generation=2)
    change = table_change(old, new)
    assert change.apply(old) == new
    assert set(change.hosts.put) == {"app-1.test", "app-5.test"}  # one changed, one added
    assert change.hosts.removed == ()
    assert set(change.endpoints.put) == {"default/app-5:80"}


def test_unchanged_parts_are_shared_with_the_old_table() -> None:
    old = cluster(3)
    new = cluster(2, generation=2)
    applied = table_change(old, new).apply(old)
    assert applied.hosts["app-0.test"] is old.hosts["app-0.test"]
    assert applied.endpoints["default/app-1:80"] is old.endpoints["default/app-1:80"]
    assert "app-2.test" not in applied.hosts and "default/app-2:80" not in applied.endpoints


def test_a_change_applies_only_to_the_generation_it_was_made_from() -> None:
    first, second = cluster(2), cluster(3, generation=2)
    change = table_change(first, second)
    assert (change.base, change.generation) == (1, 2)
    with pytest.raises(StaleChange):
        change.apply(second)
    with pytest.raises(StaleChange):
        change.apply(EMPTY_TABLE)


def test_an_endpoint_change_keeps_the_generation_and_the_routes() -> None:
    table = cluster(3)
    moved = EndpointSet((Endpoint("10.9.9.9", 8080),))
    change = endpoints_change(table, {"default/app-1:80": moved})
    assert (change.base, change.generation) == (1, 1)
    assert not change.hosts.put and change.singles is None
    assert not change.tls_changed()
    applied = change.apply(table)
    assert applied.hosts is table.hosts and applied.generation == 1
    assert applied.endpoints["default/app-1:80"] is moved
    assert applied.endpoints["default/app-0:80"] is table.endpoints["default/app-0:80"]
    # The change is small whatever the table's size: one endpoint set.
    assert len(pickle.dumps(change)) < 1000


def test_singles_travel_only_when_they_change() -> None:
    old = cluster(2)
    assert table_change(old, cluster(2, generation=2)).singles is None
    with_default = cluster(2, extra=(ingress("d", default_backend=path("/", "app-0")["backend"]),),
                           generation=2)
    change = table_change(old, with_default)
    assert change.singles is not None and change.apply(old) == with_default


def test_passthrough_hosts_travel_with_the_change() -> None:
    old = cluster(2)
    new = replace(cluster(2, generation=2),
                  passthrough={"app-0.test": Backend("default", "app-0", "80")})
    change = table_change(old, new)
    assert change.singles is not None and change.apply(old) == new
    assert table_change(new, replace(new, generation=3)).singles is None


def test_every_field_of_a_table_travels_in_a_change() -> None:
    # Workers build their tables by applying changes: a RoutingTable field that no change
    # carries would silently be missing from them (as `passthrough` was after a merge).
    entries = {f.name for f in fields(TableChange)} - {"base", "generation", "singles"}
    singles = {f.name for f in fields(Singles)}
    assert {f.name for f in fields(RoutingTable)} == entries | singles | {"generation"}


def test_tls_contexts_are_prepared_again_for_any_change_but_endpoints() -> None:
    # A host's client-certificate policy or TLS settings can change with no certificate.
    old = cluster(2)
    assert table_change(old, cluster(3, generation=2)).tls_changed()
    assert table_change(old, cluster(1, generation=2)).tls_changed()
    assert not endpoints_change(old, {"default/app-0:80": EndpointSet()}).tls_changed()


def test_a_large_change_splits_into_parts_that_join_back() -> None:
    table = cluster(40, pods=3)
    whole = table_change(EMPTY_TABLE, table)
    parts = split(whole, budget=10)
    assert len(parts) > 10
    assert all(part.singles is None for part in parts[:-1])
    assert all(part.weight() <= 10 + 3 for part in parts[:-1])  # a budget, then one entry more
    assert join(parts) == whole
    assert join([pickle.loads(dumps(part)) for part in parts]).apply(EMPTY_TABLE) == table


def test_a_small_change_is_one_part() -> None:
    table = cluster(2)
    change = endpoints_change(table, {"default/app-0:80": EndpointSet()})
    assert split(change, budget=100) == [change]


def test_removals_come_with_the_last_part() -> None:
    old, new = cluster(30), cluster(1, generation=2)
    parts = split(table_change(old, new), budget=5)
    assert set(parts[-1].hosts.removed) == {f"app-{n}.test" for n in range(1, 30)}
    assert join(parts).apply(old) == new


def test_a_change_pickles_small_next_to_its_table() -> None:
    table = cluster(200)
    grown = cluster(201, generation=2)
    change = table_change(table, grown)
    assert len(pickle.dumps(change)) * 20 < len(pickle.dumps(grown))


def test_a_new_table_from_an_unchanged_world_is_no_change_at_all() -> None:
    change = table_change(cluster(4), cluster(4, generation=2))
    assert change.weight() == 0
    assert not any(entries.removed for entries in (change.hosts, change.endpoints))
    assert not change.tls_changed()


def test_endpoint_sets_prefer_ready_pods() -> None:
    terminating = Endpoint("10.0.0.9", 8080)
    assert EndpointSet((), (terminating,)).usable == (terminating,)
    ready = (Endpoint("10.0.0.1", 8080),)
    assert EndpointSet(ready, (terminating,)).usable == ready
    assert EndpointSet().usable == ()



def test_the_config_hash_follows_changes_as_if_computed_anew() -> None:
    tables = [cluster(3), cluster(4, generation=2), cluster(2, generation=3),
              cluster(2, extra=(ingress("x", [rule("app-0.test", path("/x", "app-1"))]),),
                      generation=4)]
    digest, served = ConfigDigest(), EMPTY_TABLE
    values = []
    for table in tables:
        digest = digest.updated(served, table_change(served, table))
        served = table
        assert digest.value == table_hash(table)
        values.append(digest.value)
    assert len(set(values)) == len(values)
    # Endpoints are no configuration: they change without a reload.
    moved = endpoints_change(served, {"default/app-0:80": EndpointSet()})
    assert digest.updated(served, moved).value == digest.value
    assert table_hash(replace(served, generation=9)) == digest.value


P = "nginx.ingress.kubernetes.io/"


def test_the_model_pickles_through_its_constructors_and_loads_equal() -> None:
    table = run(
        ingress("re", [rule("re.test", path("/api/(.*)", "web"))],
                annotations={P + "use-regex": "true", P + "rewrite-target": "/$1",
                             P + "enable-cors": "true", P + "upstream-hash-by": "$request_uri",
                             P + "canary": "false", P + "proxy-read-timeout": "7"}),
        ingress("sticky", [rule("s.test", path("/", "web"))],
                annotations={P + "affinity": "cookie", P + "whitelist-source-range": "10.0.0.0/8"}),
        service("web"),
        endpoint_slice("web-x", "web", [endpoint("10.0.0.1"), endpoint("10.0.0.2")]),
    ).table
    loaded = pickle.loads(dumps(table))
    assert loaded == table
    route = loaded.route("re.test", "/api/x")
    assert route is not None and route.regex is not None and route.filters
    assert route.labels == table.route("re.test", "/api/x").labels  # type: ignore[union-attr]
    assert len(dumps(table)) < len(pickle.dumps(table, pickle.HIGHEST_PROTOCOL))
