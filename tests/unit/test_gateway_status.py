"""The status the Gateway API front end decides for GatewayClasses, Gateways, listeners and
HTTPRoute parents, with observedGeneration on every condition.

Cases from the conformance tests GatewayClassObservedGenerationBump,
GatewayObservedGenerationBump, HTTPRouteObservedGenerationBump,
GatewayInvalidListenersUnsupportedProtocol, GatewayInvalidRouteKind,
GatewayInvalidTLSConfiguration, GatewayInvalidParametersRef,
GatewaySecret{Invalid,Missing}ReferenceGrant, GatewaySecretReferenceGrant{Specific,
AllInNamespace}, GatewayWithAttachedRoutes, HTTPRouteInvalidCrossNamespaceParentRef,
HTTPRouteInvalidParentRefNotMatchingSectionName,
HTTPRouteInvalidParentRefSectionNameNotMatchingPort, HTTPRouteHostnameIntersection,
HTTPRouteCrossNamespace and the ReferenceGrant tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import problem_fields, tls_secret
from gateway_objects import (
    backends,
    base,
    build,
    certificate_secret,
    condition,
    gateway_status,
    route_parent,
    served,
    service_of,
)

from ingress.build import BuildResult
from ingress.build.gateway.features import SUPPORTED_FEATURES
from ingress.build.gateway.status import ListenerStatus
from ingress.model.filters.core import DirectResponse
from kube.gateway_objects import (
    GROUP,
    NS,
    backend_ref,
    gateway,
    gateway_class,
    http_route,
    http_rule,
    https_listener,
    listener,
    namespace,
    reference_grant,
)


def listener_status(result: BuildResult, name: str = "http", gw: str = "gw") -> ListenerStatus:
    return next(ls for ls in gateway_status(result, gw).listeners if ls.name == name)


def test_gateway_class_of_ours_is_accepted_with_features_and_generation() -> None:
    cls = gateway_class()
    cls["metadata"]["generation"] = 4
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "gateways.gateway.networking.k8s.io",
                        "annotations": {f"{GROUP}/bundle-version": "v1.3.0"}}}
    result = build(cls, gateway_class("other", "example.com/other"), crd)
    [status] = result.gateway.classes
    assert status.name == "portico" and status.supported_features == SUPPORTED_FEATURES
    assert condition(status.conditions, "Accepted") == ("True", "Accepted")
    assert condition(status.conditions, "SupportedVersion") == ("True", "SupportedVersion")
    assert {c.observed_generation for c in status.conditions} == {4}


@pytest.mark.parametrize(("annotations", "expected"), [
    ({f"{GROUP}/bundle-version": "v2.0.0"}, ("False", "UnsupportedVersion")),
    ({}, ("Unknown", "Pending")),
])
def test_gateway_class_supported_version(annotations: dict[str, str],
                                         expected: tuple[str, str]) -> None:
    crd = {"kind": "CustomResourceDefinition",
           "metadata": {"name": "gateways.gateway.networking.k8s.io", "annotations": annotations}}
    [status] = build(gateway_class(), crd).gateway.classes
    assert condition(status.conditions, "SupportedVersion") == expected


def test_a_gateway_class_with_parameters_is_not_accepted_nor_its_gateways_served() -> None:
    cls = gateway_class(parametersRef={"group": "x.io", "kind": "Params", "name": "p"})
    result = build(cls, gateway("gw"), *backends(), http_route("r"))
    assert condition(result.gateway.classes[0].conditions, "Accepted") == (
        "False", "InvalidParameters")
    assert condition(gateway_status(result).conditions, "Accepted") == ("False", "Invalid")
    assert service_of(result, "h", "/") is None


def test_gateways_of_other_classes_are_not_ours() -> None:
    result = build(gateway_class(), gateway("gw", cls="other"), http_route("r"))
    assert result.gateway.gateways == () and result.gateway.routes == ()


def test_gateway_and_listener_status_with_generation() -> None:
    result = build(gateway_class(), gateway("gw", listener(), generation=3), *backends(),
                   http_route("r"), http_route("r2"))
    status = gateway_status(result)
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("Accepted", "True", "Accepted"), ("Programmed", "True", "Programmed")]
    [ls] = status.listeners
    assert ls.supported_kinds == ("HTTPRoute",) and ls.attached_routes == 2
    assert [(c.type, c.status, c.reason) for c in ls.conditions] == [
        ("Accepted", "True", "Accepted"), ("Programmed", "True", "Programmed"),
        ("ResolvedRefs", "True", "ResolvedRefs"), ("Conflicted", "False", "NoConflicts")]
    generations = {c.observed_generation for c in (*status.conditions, *ls.conditions)}
    assert generations == {3}


def test_unsupported_protocols() -> None:
    only = gateway("only", listener("invalid", 1111, "INVALID"))
    mixed = gateway("mixed", listener("http"), listener("invalid", 1111, "INVALID"))
    result = build(gateway_class(), only, mixed)
    assert condition(gateway_status(result, "only").conditions, "Accepted") == (
        "False", "ListenersNotValid")
    assert condition(gateway_status(result, "mixed").conditions, "Accepted") == (
        "True", "ListenersNotValid")
    invalid = listener_status(result, "invalid", "mixed")
    assert invalid.supported_kinds == ()
    assert condition(invalid.conditions, "Accepted") == ("False", "UnsupportedProtocol")
    assert condition(listener_status(result, "http", "mixed").conditions, "Accepted") == (
        "True", "Accepted")


@pytest.mark.parametrize(("kinds", "supported"), [
    ([{"kind": "InvalidRoute"}], ()),
    ([{"kind": "InvalidRoute"}, {"kind": "HTTPRoute"}], ("HTTPRoute",)),
])
def test_invalid_route_kinds(kinds: list[dict[str, str]], supported: tuple[str, ...]) -> None:
    gw = gateway("gw", listener(source="All", allowedRoutes={"namespaces": {"from": "All"},
                                                             "kinds": kinds}))
    status = listener_status(build(gateway_class(), gw))
    assert status.supported_kinds == supported
    assert condition(status.conditions, "ResolvedRefs") == ("False", "InvalidRouteKinds")


@pytest.mark.parametrize(("ref", "extra", "reason"), [
    ({"name": "nonexistent-certificate"}, [], "InvalidCertificateRef"),
    ({"name": "cert", "group": "wrong.group.company.io"}, [], "InvalidCertificateRef"),
    ({"name": "cert", "kind": "WrongKind"}, [], "InvalidCertificateRef"),
    ({"name": "malformed"}, [tls_secret("malformed", b"Hello world\n", b"Hello world\n",
                                        namespace=NS)], "InvalidCertificateRef"),
    ({"name": "certificate", "namespace": "web"}, [], "RefNotPermitted"),
    ({"name": "certificate", "namespace": "web"},
     [reference_grant("web", "Secret", "certificate", from_kind="HTTPRoute"),
      reference_grant("app", "Secret", "certificate", from_kind="Gateway"),
      reference_grant("web", "Secret", "other", from_kind="Gateway")], "RefNotPermitted"),
])
def test_unusable_certificate_refs(ref: dict[str, Any], extra: list[dict[str, Any]],
                                   reason: str) -> None:
    tls = {"certificateRefs": [{"kind": "Secret", **ref}]}
    gw = gateway("gw", listener("https", 443, "HTTPS", tls=tls))
    result = build(gateway_class(), gw, certificate_secret("cert"),
                   certificate_secret("certificate", namespace="web"), *extra)
    status = listener_status(result, "https")
    assert condition(status.conditions, "ResolvedRefs") == ("False", reason)
    assert condition(status.conditions, "Programmed") == ("False", "Invalid")
    assert status.supported_kinds == ("HTTPRoute",)


@pytest.mark.parametrize("grant", [
    reference_grant("web", "Secret", "certificate", from_kind="Gateway"),
    reference_grant("web", "Secret", None, from_kind="Gateway"),  # every Secret there
])
def test_a_reference_grant_permits_a_certificate_in_another_namespace(
        grant: dict[str, Any]) -> None:
    gw = gateway("gw", https_listener(secret="certificate", namespace="web"))
    result = build(gateway_class(), gw, certificate_secret("certificate", namespace="web"), grant)
    status = listener_status(result, "https")
    assert condition(status.conditions, "ResolvedRefs") == ("True", "ResolvedRefs")
    assert condition(status.conditions, "Programmed") == ("True", "Programmed")
    assert ("web", "certificate") in result.referenced_secrets


@pytest.mark.parametrize(("spec", "reason"), [
    ({"infrastructure": {"parametersRef": {"group": "invalid.io", "kind": "P", "name": "x"}}},
     "InvalidParameters"),
    ({"addresses": [{"type": "IPAddress", "value": "10.0.0.1"}]}, "UnsupportedAddress"),
])
def test_gateways_asking_for_what_portico_does_not_take(spec: dict[str, Any],
                                                        reason: str) -> None:
    result = build(gateway_class(), gateway("gw", **spec), *backends(), http_route("r"))
    assert condition(gateway_status(result).conditions, "Accepted") == ("False", reason)
    assert service_of(result, "h", "/") is None


@pytest.mark.parametrize(("listeners", "conflicted"), [
    ([listener("a"), listener("b")], {"a": "HostnameConflict", "b": "HostnameConflict"}),
    ([listener("a", hostname="x.com"), listener("b", hostname="y.com")], {}),
    ([listener("a"), listener("b", port=8080)], {}),
    ([listener("a", port=443), https_listener("b")],
     {"a": "ProtocolConflict", "b": "ProtocolConflict"}),
])
def test_conflicted_listeners(listeners: list[dict[str, Any]],
                              conflicted: dict[str, str]) -> None:
    result = build(gateway_class(), gateway("gw", *listeners), certificate_secret())
    accepted = condition(gateway_status(result).conditions, "Accepted")
    assert accepted == (("False", "ListenersNotValid") if conflicted else ("True", "Accepted"))
    found = {}
    for ls in gateway_status(result).listeners:
        status, reason = condition(ls.conditions, "Conflicted")
        if status == "True":
            found[ls.name] = reason
            assert condition(ls.conditions, "Accepted") == ("False", reason)
    assert found == conflicted


def test_attached_routes_count_accepted_routes_even_on_an_unprogrammed_listener() -> None:
    two = gateway("two", listener(hostname="foo.example.com"))
    broken = gateway("broken", https_listener("tls", secret="does-not-exist"))
    result = build(
        gateway_class(), *backends(), two, broken,
        http_route("r2", parents=[{"name": "two"}]), http_route("r3", parents=[{"name": "two"}]),
        http_route("not-accepted", parents=[{"name": "two"}], hostnames=["not-accepted.test.com"]),
        http_route("r4", http_rule(backends=[backend_ref("does-not-exist")]),
                   parents=[{"name": "broken", "sectionName": "tls"}]),
    )
    assert listener_status(result, "http", "two").attached_routes == 2
    assert condition(route_parent(result, "not-accepted").conditions, "Accepted") == (
        "False", "NoMatchingListenerHostname")
    tls = listener_status(result, "tls", "broken")
    assert tls.attached_routes == 1
    assert condition(tls.conditions, "Programmed") == ("False", "Invalid")
    assert condition(route_parent(result, "r4").conditions, "ResolvedRefs") == (
        "False", "BackendNotFound")


@pytest.mark.parametrize(("parent", "reason"), [
    ({"name": "gw", "sectionName": "http1", "port": 80}, "NoMatchingParent"),
    ({"name": "gw", "sectionName": "http", "port": 81}, "NoMatchingParent"),
    ({"name": "gw", "port": 8080}, "NoMatchingParent"),
])
def test_parent_refs_select_listeners_by_section_name_and_port(parent: dict[str, Any],
                                                               reason: str) -> None:
    result = build(base(), http_route("r", parents=[parent]))
    assert condition(route_parent(result, "r").conditions, "Accepted") == ("False", reason)
    assert listener_status(result).attached_routes == 0
    assert service_of(result, "h", "/") is None


def test_a_route_from_a_namespace_the_listener_does_not_admit() -> None:
    route = http_route("r", http_rule(backends=[backend_ref("web")]), namespace="web",
                       parents=[{"name": "gw", "namespace": NS}])
    result = build(base(), *backends("web", ("web",)), route)
    parent = route_parent(result, "r")
    assert condition(parent.conditions, "Accepted") == ("False", "NotAllowedByListeners")
    assert condition(parent.conditions, "ResolvedRefs") == ("True", "ResolvedRefs")
    assert parent.parent_ref == {"group": GROUP, "kind": "Gateway", "namespace": NS,
                                 "name": "gw"}
    assert listener_status(result).attached_routes == 0


@pytest.mark.parametrize(("labels", "admitted"), [
    ({"gateway-conformance": "backend"}, True),
    ({"gateway-conformance": "other"}, False),
    ({}, False),
])
def test_listener_namespace_selector(labels: dict[str, str], admitted: bool) -> None:
    gw = gateway("gw", listener(source="Selector", allowedRoutes={"namespaces": {
        "from": "Selector", "selector": {"matchLabels": {"gateway-conformance": "backend"}}}}))
    route = http_route("r", http_rule(backends=[backend_ref("web")]), namespace="web",
                       parents=[{"name": "gw", "namespace": NS}])
    result = build(gateway_class(), gw, namespace("web", **labels), *backends("web", ("web",)),
                   route)
    assert (service_of(result, "h", "/") == "web") is admitted


def test_namespace_selector_on_the_name_label_works_without_namespace_objects() -> None:
    selector = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                      "values": [NS]}]}
    gw = gateway("gw", listener(allowedRoutes={"namespaces": {"from": "Selector",
                                                              "selector": selector}}))
    result = build(gateway_class(), gw, *backends(), http_route("r"))
    assert service_of(result, "h", "/") == "v1"


def test_cross_namespace_backend_needs_a_reference_grant() -> None:
    route = http_route("r", http_rule(backends=[backend_ref("web", namespace="web")]))
    objects = [*base(), *backends("web", ("web",)), route]
    denied = served(build(objects), "h", "/")
    assert denied is not None and denied.filters == (DirectResponse(500),)
    wrong = [reference_grant("web", from_namespace="elsewhere"),
             reference_grant("web", from_group="not-the-group"),
             reference_grant("web", from_kind="Gateway"),
             reference_grant("web", to_group="not-the-group"),
             reference_grant("web", "Secret"),
             reference_grant("web", "Service", "not-web"),
             reference_grant(NS, "Service", "web")]
    result = build(objects, *wrong)
    assert condition(route_parent(result, "r").conditions, "ResolvedRefs") == (
        "False", "RefNotPermitted")
    granted = build(objects, reference_grant("web", "Service", "web"))
    assert service_of(granted, "h", "/") == "web"
    assert condition(route_parent(granted, "r").conditions, "ResolvedRefs") == (
        "True", "ResolvedRefs")


def test_route_status_has_one_entry_per_parent_ref_of_ours_with_the_generation() -> None:
    other = gateway("other-class", cls="someone-else")
    route = http_route("r", parents=[{"name": "gw"}, {"name": "gw", "sectionName": "http"},
                                     {"name": "other-class"}], generation=7)
    result = build(base(), other, route)
    [status] = result.gateway.routes
    assert [p.parent_ref.get("sectionName") for p in status.parents] == [None, "http"]
    assert {c.observed_generation for p in status.parents for c in p.conditions} == {7}
    assert listener_status(result).attached_routes == 1


def test_problems_name_the_object_and_field() -> None:
    result = build(base(), http_route("r", http_rule(backends=[backend_ref("nonexistent")])))
    assert problem_fields(result) == [
        ("HTTPRoute infra/r", "spec.rules[0].backendRefs[0]", "BackendNotFound")]
