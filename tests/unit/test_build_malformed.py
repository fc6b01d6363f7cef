"""Malformed objects: a problem naming the object and field, never a crash."""

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

from ingress.build import build
from ingress.settings import BuildSettings


def good() -> dict[str, Any]:
    return ingress("good", [rule("good.com", path("/"))])


def with_spec(**spec: Any) -> dict[str, Any]:
    body = ingress("bad", [])
    body["spec"] = {"ingressClassName": "portico", **spec}
    return body


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({**ingress("bad"), "metadata": {"name": "bad", "namespace": "default",
                                         "annotations": ["x"]}},
         "metadata.annotations"),
        (with_spec(rules="all of them"), "spec.rules"),
        (with_spec(rules=[42]), "spec.rules[0]"),
        (with_spec(rules=[{"host": 7}]), "spec.rules[0].host"),
        (with_spec(rules=[{"host": "a.com", "http": {"paths": {"/": "web"}}}]),
         "spec.rules[0].http.paths"),
        (with_spec(rules=[{"host": "a.com", "http": {"paths": [42]}}]),
         "spec.rules[0].http.paths[0]"),
        (with_spec(rules=[{"http": {"paths": [{"path": 5, "pathType": "Prefix"}]}}]),
         "spec.rules[0].http.paths[0].path"),
        (with_spec(rules=[rule("a.com", {"path": "/", "pathType": "Prefix", "backend": "web"})]),
         "spec.rules[0].http.paths[0].backend"),
        (with_spec(rules=[rule("a.com", {"path": "/", "pathType": "Prefix",
                                         "backend": {"service": {"name": "web",
                                                                 "port": {"number": "80"}}}})]),
         "spec.rules[0].http.paths[0].backend.service.port.number"),
        (with_spec(defaultBackend=[]), "spec.defaultBackend"),
        (with_spec(tls={"hosts": ["a.com"]}), "spec.tls"),
        (with_spec(tls=[{"hosts": "a.com"}]), "spec.tls[0].hosts"),
        (with_spec(tls=[{"secretName": 3}]), "spec.tls[0].secretName"),
    ],
)
def test_malformed_ingress_is_a_problem_and_the_rest_still_builds(
    bad: dict[str, Any], field: str
) -> None:
    result = run(bad, good(), service("web"))
    assert problem_fields(result) == [("Ingress default/bad", field, "InvalidIngress")]
    assert "good.com" in result.table.hosts


def test_malformed_service_is_named_in_the_ingress_problem() -> None:
    broken = {**service("web"), "spec": {"ports": "80"}}
    result = run(ingress("a", [rule("a.com", path("/"))]), broken)
    assert [str(p) for p in result.problems] == [
        "Ingress default/a: spec.rules[0].http.paths[0].backend.service: "
        "Service default/web: spec.ports: must be a list, not str"]


@pytest.mark.parametrize(
    ("slice_changes", "field"),
    [
        ({"endpoints": {"a": 1}}, "endpoints"),
        ({"ports": [{"name": "", "port": "8080"}]}, "ports[0].port"),
        ({"endpoints": [{"addresses": ["not-an-ip"]}]}, "endpoints[0].addresses[0]"),
        ({"endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": "yes"}}]},
         "endpoints[0].conditions.ready"),
    ],
)
def test_malformed_endpoint_slice(slice_changes: dict[str, Any], field: str) -> None:
    broken = {**endpoint_slice("web-bad", "web", [endpoint("10.0.0.9")]), **slice_changes}
    fine = endpoint_slice("web-ok", "web", [endpoint("10.0.0.1")])
    result = run(ingress("a", [rule("a.com", path("/"))]), service("web"), broken, fine)
    assert problem_fields(result) == [
        ("EndpointSlice default/web-bad", field, "InvalidEndpointSlice")]
    route = result.table.route("a.com", "/")
    assert route is not None
    assert ("10.0.0.1", 8080) in [e.address for e in result.table.endpoint_set(route.backend).ready]


def test_garbage_everywhere_does_not_crash() -> None:
    objects: dict[str, dict[tuple[str, str], Any]] = {
        "Ingress": {("default", "x"): {"metadata": None, "spec": "nonsense"},
                    ("default", "y"): {"metadata": 5, "spec": None},
                    ("default", "z"): {"spec": {"ingressClassName": "portico",
                                                "rules": [{"http": None}, None]}}},
        "IngressClass": {("", "c"): {"spec": "x", "metadata": []}},
        "Service": {("default", "s"): {"spec": None}},
        "EndpointSlice": {("default", "e"): {"metadata": {"labels": {"kubernetes.io/service-name":
                                                                     "s"}}, "ports": None}},
        "Secret": {("default", "t"): {"data": None}},
    }
    result = build(objects, BuildSettings(watch_ingress_without_class=True), now=0.0)
    assert [ref.name for ref in result.owned] == ["x", "y", "z"]
    assert problem_fields(result) == [("Ingress default/x", "spec", "InvalidIngress"),
                                      ("Ingress default/y", "metadata", "InvalidIngress")]
