"""Backends: Service port (number or name) → EndpointSlice port of the same name → pods."""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import (
    endpoint,
    endpoint_slice,
    ingress,
    path,
    problem_fields,
    rule,
    run,
    service,
)

from ingress.model import Backend, Endpoint, EndpointSet

TWO_PORTS = [
    {"name": "http", "port": 80, "targetPort": "web"},
    {"name": "metrics", "port": 9090, "targetPort": 9100},
]
SLICE_PORTS = [{"name": "http", "port": 8081}, {"name": "metrics", "port": 9100}]


def served(*objects: dict[str, Any], port: int | str = 80) -> tuple[Backend, EndpointSet]:
    """The backend of foo.com/ and its endpoints."""
    result = run(ingress("a", [rule("foo.com", path("/", "web", port))]), *objects)
    assert result.problems == ()
    route = result.table.route("foo.com", "/")
    assert route is not None
    return route.backend, result.table.endpoint_set(route.backend)


def endpoints_of(*objects: dict[str, Any], port: int | str = 80) -> EndpointSet:
    return served(*objects, port=port)[1]


def addresses(endpoints: tuple[Endpoint, ...]) -> list[tuple[str, int]]:
    return [e.address for e in endpoints]


@pytest.mark.parametrize(
    ("port", "expected"), [(80, 8081), ("http", 8081), (9090, 9100), ("metrics", 9100)]
)
def test_service_port_maps_to_the_endpoint_slice_port_of_the_same_name(
    port: int | str, expected: int
) -> None:
    backend, endpoints = served(
        service("web", TWO_PORTS),
        endpoint_slice("web-1", "web", [endpoint("10.0.0.1")], SLICE_PORTS),
        port=port,
    )
    assert addresses(endpoints.ready) == [("10.0.0.1", expected)]
    assert backend.port == str(port)
    assert backend.key == f"default/web:{port}"


def test_unnamed_single_port_matches_unnamed_slice_port() -> None:
    slice_ports = [{"port": 3000}]  # name absent
    endpoints = endpoints_of(service("web", [{"port": 80, "targetPort": 3000}]),
                         endpoint_slice("web-1", "web", [endpoint("10.0.0.1")], slice_ports))
    assert addresses(endpoints.ready) == [("10.0.0.1", 3000)]


def test_load_balances_across_all_pods_of_all_slices_deduplicated_and_sorted() -> None:
    endpoints = endpoints_of(
        service("web"),
        endpoint_slice("web-b", "web", [endpoint("10.0.0.3"), endpoint("10.0.0.1")]),
        endpoint_slice("web-a", "web", [endpoint("10.0.0.2"), endpoint("10.0.0.1")]),
        endpoint_slice("other", "other", [endpoint("10.9.9.9")]),
        endpoint_slice("ns2", "web", [endpoint("10.8.8.8")], namespace="elsewhere"),
    )
    assert addresses(endpoints.ready) == [
        ("10.0.0.1", 8080), ("10.0.0.2", 8080), ("10.0.0.3", 8080)]


def test_ipv6_slices_are_used_and_addresses_canonical() -> None:
    endpoints = endpoints_of(
        service("web"),
        endpoint_slice("web-6", "web", [endpoint("FD00:0::1")], address_type="IPv6"),
        endpoint_slice("web-fqdn", "web", [endpoint("pod.example.com")], address_type="FQDN"),
    )
    assert addresses(endpoints.ready) == [("fd00::1", 8080)]


@pytest.mark.parametrize(
    ("conditions", "where"),
    [
        ({}, "endpoints"),  # ready absent = ready
        ({"ready": True}, "endpoints"),
        ({"ready": False}, None),
        ({"ready": False, "serving": True}, None),  # serving but not ready, not terminating
        ({"ready": False, "serving": True, "terminating": True}, "fallback"),
        ({"ready": False, "serving": False, "terminating": True}, None),
        ({"ready": False, "terminating": True}, None),  # serving absent = ready's value
        ({"terminating": True}, "fallback"),  # ready absent → serving absent → serving
        ({"ready": True, "terminating": True}, "fallback"),  # never new traffic when terminating
    ],
)
def test_endpoint_conditions(conditions: dict[str, bool], where: str | None) -> None:
    endpoints = endpoints_of(
        service("web"), endpoint_slice("web-1", "web", [endpoint("10.0.0.1", **conditions)])
    )
    assert addresses(endpoints.ready) == ([("10.0.0.1", 8080)] if where == "endpoints" else [])
    assert addresses(endpoints.fallback) == ([("10.0.0.1", 8080)] if where == "fallback" else [])


def test_an_address_ready_in_one_slice_is_not_also_a_fallback() -> None:
    endpoints = endpoints_of(
        service("web"),
        endpoint_slice("web-1", "web", [endpoint("10.0.0.1", ready=True)]),
        endpoint_slice("web-2", "web", [endpoint("10.0.0.1", ready=False, serving=True,
                                                 terminating=True)]),
    )
    assert addresses(endpoints.ready) == [("10.0.0.1", 8080)]
    assert endpoints.fallback == ()


def test_service_without_endpoints_still_routes_with_no_endpoints() -> None:
    endpoints = endpoints_of(service("web"))
    assert endpoints.ready == () and endpoints.fallback == ()


def test_slice_without_the_port_contributes_nothing() -> None:
    endpoints = endpoints_of(
        service("web", TWO_PORTS),
        endpoint_slice("web-1", "web", [endpoint("10.0.0.1")], [{"name": "metrics", "port": 9100}]),
        port="http",
    )
    assert endpoints.ready == ()


def test_paths_to_the_same_service_port_share_one_backend() -> None:
    result = run(ingress("a", [rule("a.com", path("/x"), path("/y")), rule("b.com", path("/"))]),
                 service("web"), endpoint_slice("web-1", "web", [endpoint("10.0.0.1")]))
    backends = {id(r.backend) for v in result.table.hosts.values() for r in v.prefixes.values()}
    assert len(backends) == 1
    assert list(result.table.endpoints) == ["default/web:80"]


@pytest.mark.parametrize(
    ("entry", "objects", "field", "reason"),
    [
        (path("/", "missing"), [], "spec.rules[0].http.paths[0].backend.service.name",
         "ServiceNotFound"),
        (path("/", "web", 81), [service("web")],
         "spec.rules[0].http.paths[0].backend.service.port.number", "ServicePortNotFound"),
        (path("/", "web", "grpc"), [service("web", TWO_PORTS)],
         "spec.rules[0].http.paths[0].backend.service.port.name", "ServicePortNotFound"),
        (path("/", "web"), [service("web", type_="ExternalName")],
         "spec.rules[0].http.paths[0].backend.service", "InvalidService"),
        ({"path": "/", "pathType": "Prefix",
          "backend": {"resource": {"kind": "StorageBucket", "name": "b"}}}, [],
         "spec.rules[0].http.paths[0].backend.resource", "UnsupportedBackend"),
        ({"path": "/", "pathType": "Prefix",
          "backend": {"service": {"name": "web", "port": {"number": 80, "name": "http"}}}},
         [service("web")], "spec.rules[0].http.paths[0].backend.service.port", "InvalidIngress"),
        ({"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web"}}},
         [service("web")], "spec.rules[0].http.paths[0].backend.service.port.name",
         "InvalidIngress"),
        ({"path": "/", "pathType": "Prefix",
          "backend": {"service": {"name": "web", "port": {"number": 0}}}},
         [service("web")], "spec.rules[0].http.paths[0].backend.service.port.number",
         "InvalidIngress"),
        ({"path": "/", "pathType": "Prefix"}, [],
         "spec.rules[0].http.paths[0].backend.service", "InvalidIngress"),
    ],
)
def test_unusable_backend_skips_the_path(
    entry: dict[str, Any], objects: list[dict[str, Any]], field: str, reason: str
) -> None:
    result = run(ingress("a", [rule("foo.com", entry, path("/ok", "good"))]), service("good"),
                 *objects)
    assert problem_fields(result) == [("Ingress default/a", field, reason)]
    assert list(result.table.hosts["foo.com"].prefixes) == ["/ok"]


def test_missing_service_message_names_it() -> None:
    result = run(ingress("a", [rule("foo.com", path("/", "nope"))], namespace="shop"))
    assert [p.message for p in result.problems] == ["Service shop/nope not found"]


def test_services_are_looked_up_in_the_ingress_namespace() -> None:
    result = run(ingress("a", [rule("foo.com", path("/"))], namespace="shop"),
                 service("web", namespace="default"))
    assert [p.reason for p in result.problems] == ["ServiceNotFound"]
