"""A build with the previous build's cache makes what a build from nothing makes, after any edit.

One world holds what a build's reuse depends on: conflicts decided by age,
a canary, a default backend, TLS from a Secret, basic auth from a Secret,
the controller ConfigMap, an IngressClass, EndpointSlices. Each edit below
(added, removed or changed objects of every kind) is built twice, with the
cache of the build before it and without any: the results must be equal,
problems (the Events) and their order included. The edits are then applied
one after another, the cache carried from each build to the next.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import trustme
from build_objects import (
    NOW,
    backend,
    endpoint,
    endpoint_slice,
    ingress,
    ingress_class,
    path,
    rule,
    service,
    snapshot,
    tls_secret,
)

from ingress.build import BuildResult, build
from ingress.settings import BuildSettings

P = "nginx.ingress.kubernetes.io/"
SETTINGS = BuildSettings(configmap="default/controller")
LEAF = trustme.CA().issue_cert("a.test", "b.test")
World = dict[tuple[str, str], dict[str, Any]]  # (kind, name) → body


def tls(name: str) -> dict[str, Any]:
    chain = b"".join(blob.bytes() for blob in LEAF.cert_chain_pems)
    return tls_secret(name, chain, LEAF.private_key_pem.bytes())


def opaque(kind: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    if kind == "Secret":
        data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "default"},
            "data": data}


def world() -> World:
    objects = [
        ingress_class("portico"),
        opaque("ConfigMap", "controller", {"ssl-redirect": "false"}),
        ingress("a", [rule("a.test", path("/", "svc-a"), path("/shared", "svc-a"))],
                tls=[{"hosts": ["a.test"], "secretName": "a-tls"}]),
        # Younger: its /shared on a.test conflicts with a's and loses.
        ingress("b", [rule("a.test", path("/shared", "svc-b")), rule("b.test", path("/", "svc-b"))],
                created="2024-01-01T00:00:05Z"),
        ingress("canary", [rule("b.test", path("/", "svc-c"))], created="2024-01-01T00:00:06Z",
                annotations={P + "canary": "true", P + "canary-weight": "10"}),
        ingress("default", default_backend=backend("svc-c"), created="2024-01-01T00:00:07Z"),
        ingress("auth", [rule("auth.test", path("/", "svc-a"))], created="2024-01-01T00:00:08Z",
                annotations={P + "auth-type": "basic", P + "auth-secret": "users"}),
        ingress("other-class", [rule("c.test", path("/", "svc-c"))], class_name="nginx"),
        tls("a-tls"),
        opaque("Secret", "users", {"auth": "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"}),
    ]
    for name in ("svc-a", "svc-b", "svc-c"):
        objects += [service(name), endpoint_slice(f"{name}-x", name, [endpoint("10.0.0.1")])]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def put(*objects: dict[str, Any]) -> Callable[[World], None]:
    def edit(world: World) -> None:
        for body in objects:
            world[body["kind"], body["metadata"]["name"]] = body
    return edit


def remove(kind: str, name: str) -> Callable[[World], None]:
    def edit(world: World) -> None:
        del world[kind, name]
    return edit


EDITS: dict[str, Callable[[World], None]] = {
    "an Ingress added": put(ingress("new", [rule("new.test", path("/", "svc-b"))])),
    "an older Ingress takes a contested path": put(ingress(
        "older", [rule("a.test", path("/shared", "svc-c"))], created="2023-12-31T00:00:00Z")),
    "an Ingress removed (its conflict goes too)": remove("Ingress", "a"),
    "an Ingress's path changed": put(ingress(
        "b", [rule("a.test", path("/mine", "svc-b")), rule("b.test", path("/", "svc-b"))],
        created="2024-01-01T00:00:05Z")),
    "an Ingress becomes the oldest": put(ingress(
        "b", [rule("a.test", path("/shared", "svc-b")), rule("b.test", path("/", "svc-b"))],
        created="2023-01-01T00:00:00Z")),
    "an Ingress moves to another class": put(ingress(
        "a", [rule("a.test", path("/", "svc-a"))], class_name="nginx")),
    "an Ingress moves to our class": put(ingress(
        "other-class", [rule("c.test", path("/", "svc-c"))])),
    "the canary removed": remove("Ingress", "canary"),
    "a Service's port renamed": put(service("svc-b", [{"name": "web", "port": 80}])),
    "a Service removed": remove("Service", "svc-a"),
    "an EndpointSlice changed": put(endpoint_slice("svc-a-x", "svc-a", [endpoint("10.0.0.9")])),
    "an EndpointSlice removed": remove("EndpointSlice", "svc-c-x"),
    "the TLS Secret removed": remove("Secret", "a-tls"),
    "the auth Secret changed": put(opaque("Secret", "users", {"auth": "not a user line"})),
    "a ConfigMap key changed": put(opaque("ConfigMap", "controller", {"ssl-redirect": "true"})),
    "the ConfigMap removed": remove("ConfigMap", "controller"),
    "the IngressClass removed": remove("IngressClass", "portico"),
    "the IngressClass made the default": put(ingress_class("portico", default=True)),
}


def check(world: World, previous: BuildResult) -> BuildResult:
    """The build of `world` with `previous`'s cache, checked against one from nothing."""
    cached = build(snapshot(world.values()), SETTINGS, NOW, cache=previous.parse_cache)
    fresh = build(snapshot(world.values()), SETTINGS, NOW)
    assert cached.table == fresh.table
    assert cached.problems == fresh.problems
    assert cached.owned == fresh.owned
    assert cached.referenced_secrets == fresh.referenced_secrets
    assert cached.referenced_config_maps == fresh.referenced_config_maps
    assert cached.backends_by_service == fresh.backends_by_service
    assert cached.routed_on_endpoints == fresh.routed_on_endpoints
    return cached


def test_the_world_builds_with_what_the_edits_change() -> None:
    result = build(snapshot(world().values()), SETTINGS, NOW)
    reasons = {p.reason for p in result.problems}
    assert "Conflict" in reasons
    assert result.table.route("a.test", "/shared").backend.service == "svc-a"
    assert result.table.route("b.test", "/").canary is not None
    assert result.table.default_backend is not None
    assert result.table.certificates["a.test"].secret.name == "a-tls"
    assert ("default", "users") in result.referenced_secrets
    assert "c.test" not in result.table.hosts


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_an_edit_builds_the_same_with_the_cache(edit: Callable[[World], None]) -> None:
    before = world()
    first = build(snapshot(before.values()), SETTINGS, NOW)
    after = dict(before)  # the unchanged objects stay the same objects, as in the store
    edit(after)
    second = check(after, first)
    check(before, second)  # and back


def test_edits_one_after_another_carry_the_cache() -> None:
    current = world()
    result = build(snapshot(current.values()), SETTINGS, NOW)
    for edit in EDITS.values():
        current = dict(current)
        edit(current)
        result = check(current, result)
