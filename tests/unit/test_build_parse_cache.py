"""A build reuses the previous build's parse of an unchanged Ingress, and the table is the same."""

from __future__ import annotations

import copy
from typing import Any

from build_objects import (
    NOW,
    endpoint,
    endpoint_slice,
    ingress,
    path,
    rule,
    service,
    snapshot,
)

from ingress.build import BuildResult, build
from ingress.settings import BuildSettings

P = "nginx.ingress.kubernetes.io/"


def objects() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name in ("a", "b", "c"):
        found += [ingress(name, [rule(f"{name}.test", path("/", name))]), service(name),
                  endpoint_slice(f"{name}-x", name, [endpoint("10.0.0.1")])]
    found.append(ingress("auth", [rule("auth.test", path("/", "a"))],
                         annotations={P + "auth-type": "basic", P + "auth-secret": "users"}))
    return found


def rebuild(world: list[dict[str, Any]], previous: BuildResult,
            settings: BuildSettings | None = None) -> BuildResult:
    """A build with the previous cache, checked against one without."""
    settings = settings or BuildSettings()
    cached = build(snapshot(world), settings, NOW, cache=previous.parse_cache)
    fresh = build(snapshot(world), settings, NOW)
    assert cached.table == fresh.table and cached.problems == fresh.problems
    assert cached.backends_by_service == fresh.backends_by_service
    assert cached.referenced_secrets == fresh.referenced_secrets
    return cached


def request_of(result: BuildResult, name: str) -> object:
    entry = result.parse_cache.entries.get(("default", name))
    return entry.request if entry is not None else None


def test_unchanged_ingresses_are_not_parsed_again() -> None:
    world = objects()
    first = build(snapshot(world), BuildSettings(), NOW)
    world[0] = copy.deepcopy(world[0])  # a new object for Ingress a, the same content
    world[0]["spec"]["rules"][0]["host"] = "a2.test"
    second = rebuild(world, first)
    assert request_of(second, "b") is request_of(first, "b")
    assert request_of(second, "a") is not request_of(first, "a")
    assert "a2.test" in second.table.hosts and "a.test" not in second.table.hosts
    # The virtual hosts of unchanged Ingresses are the ones the first build made.
    assert second.table.hosts["b.test"] is first.table.hosts["b.test"]


def test_a_changed_service_takes_the_ingresses_that_name_it_along() -> None:
    world = objects()
    first = build(snapshot(world), BuildSettings(), NOW)
    world[4] = service("b", [{"name": "web", "port": 80, "targetPort": 8080}])
    second = rebuild(world, first)
    assert request_of(second, "b") is not request_of(first, "b")
    assert request_of(second, "c") is request_of(first, "c")
    # The slice's unnamed port is no longer the Service port's.
    route = second.table.route("b.test", "/")
    assert route is not None and not second.table.endpoint_set(route.backend).ready
    del world[4]  # and gone: the path is skipped with a problem
    third = rebuild(world, second)
    assert third.table.route("b.test", "/") is None
    assert [p.reason for p in third.problems if p.obj.name == "b"] == ["ServiceNotFound"]


def test_a_deleted_ingress_leaves_its_service_to_the_others() -> None:
    world = [*objects(), ingress("a-too", [rule("a-too.test", path("/", "a"))])]
    first = build(snapshot(world), BuildSettings(), NOW)
    second = rebuild([o for o in world if o["metadata"]["name"] != "a" or
                      o["kind"] != "Ingress"], first)
    assert ("default", "a") in second.backends_by_service
    assert second.table.route("a-too.test", "/") is not None


def test_what_reads_secrets_is_parsed_every_time() -> None:
    world = objects()
    first = build(snapshot(world), BuildSettings(), NOW)
    assert request_of(first, "auth") is None
    assert ("default", "users") in first.referenced_secrets
    second = rebuild(world, first)
    assert ("default", "users") in second.referenced_secrets


def test_other_settings_are_a_new_start() -> None:
    world = objects()
    first = build(snapshot(world), BuildSettings(), NOW)
    second = rebuild(world, first, BuildSettings(disable_svc_external_name=True))
    assert request_of(second, "b") is not request_of(first, "b")
