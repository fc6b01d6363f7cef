"""Gateways merged onto Portico's one address: which listeners of different Gateways
conflict (the older Gateway keeps them), what the newer one and its routes report, and
the status of a route whose matches another object takes first.

Modelled on the conformance test HTTPRouteMultipleGateways (which a merging
implementation cannot pass as written: both Gateways have a port-80 listener
without hostname) and on ListenerSetHostnameConflict's listener conditions.
"""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import ingress, path, problem_fields, rule, web
from gateway_objects import (
    backends,
    build,
    certificate_secret,
    condition,
    gateway_status,
    route_parent,
    service_of,
)

from ingress.build import BuildResult
from ingress.build.gateway.status import CONFLICTED, Condition, ListenerStatus
from kube import gateway_objects as kube
from kube.gateway_objects import gateway, gateway_class, http_route, http_rule, listener, prefix

OLD, NEW = "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"


def only_listener(result: BuildResult, gw: str) -> ListenerStatus:
    (status,) = gateway_status(result, gw).listeners
    return status


def conflicted(result: BuildResult, gw: str) -> str | None:
    """The reason `gw`'s only listener is Conflicted, or None."""
    status, reason = condition(only_listener(result, gw).conditions, "Conflicted")
    return reason if status == "True" else None


@pytest.mark.parametrize(("older", "newer", "reason"), [
    (listener(), listener(), "HostnameConflict"),
    (listener(hostname="a.example.com"), listener(hostname="a.example.com"), "HostnameConflict"),
    (listener(hostname="*.example.com"), listener(hostname="*.example.com"), "HostnameConflict"),
    # Every HTTP listener is served on Portico's one HTTP port.
    (listener(hostname="a.example.com"), listener(port=8080, hostname="a.example.com"),
     "HostnameConflict"),
    # The Service in front maps port 80 to one of Portico's ports.
    (listener("tls", 80, "HTTPS", tls=kube.https_listener()["tls"]),
     listener(hostname="a.example.com"), "ProtocolConflict"),
    # Distinct: different hostnames, or one more specific than the other, or other protocols.
    (listener(hostname="a.example.com"), listener(hostname="b.example.com"), None),
    (listener(hostname="*.example.com"), listener(hostname="a.example.com"), None),
    (listener(), listener(hostname="a.example.com"), None),
    (listener(hostname="a.example.com"), listener(), None),
    (listener(), kube.https_listener(), None),
])
def test_listeners_of_different_gateways(older: dict[str, Any], newer: dict[str, Any],
                                         reason: str | None) -> None:
    # Names in the opposite order of age: the creationTimestamp decides.
    result = build(gateway_class(), certificate_secret(),
                   gateway("a-new", newer, created=NEW), gateway("z-old", older, created=OLD))
    assert conflicted(result, "z-old") is None
    assert conflicted(result, "a-new") == reason


def test_a_conflicted_listener_is_neither_accepted_nor_programmed_and_its_gateway_says_so() -> None:
    result = build(gateway_class(), gateway("old", created=OLD), gateway("new", created=NEW))
    status = only_listener(result, "new")
    for kind, expected in (("Accepted", "False"), ("Programmed", "False"),
                           ("Conflicted", "True")):
        assert condition(status.conditions, kind) == (expected, "HostnameConflict")
    message = next(c.message for c in status.conditions if c.type == "Conflicted")
    assert "listener http of the older Gateway old" in message
    gw = gateway_status(result, "new")
    assert condition(gw.conditions, "Accepted") == ("False", "ListenersNotValid")
    assert condition(gw.conditions, "Programmed")[0] == "False"
    assert condition(gateway_status(result, "old").conditions, "Programmed") == (
        "True", "Programmed")


def test_a_gateway_keeps_its_distinct_listeners_beside_a_conflicted_one() -> None:
    newer = gateway("new", listener("dup"), listener("own", hostname="own.example.com"),
                    created=NEW)
    result = build(gateway_class(), *backends(), gateway("old", created=OLD), newer,
                   http_route("r", parents=[{"name": "new"}]))
    accepted = next(c for c in gateway_status(result, "new").conditions if c.type == "Accepted")
    assert (accepted.status, accepted.reason) == ("True", "ListenersNotValid")
    assert accepted.message == "not valid: dup (HostnameConflict); accepted: own"
    assert condition(route_parent(result, "r").conditions, "Accepted") == ("True", "Accepted")
    assert service_of(result, "own.example.com", "/") == "v1"


def test_the_winner_is_not_named_to_a_gateway_of_another_namespace() -> None:
    result = build(gateway_class(), gateway("old", created=OLD, namespace="platform"),
                   gateway("new", created=NEW))
    message = next(c.message for c in only_listener(result, "new").conditions
                   if c.type == "Conflicted")
    assert "platform" not in message and "another namespace" in message


@pytest.mark.parametrize("older", [
    gateway("old", created=OLD, cls="another-class"),  # not ours: not served by Portico
    gateway("old", created=OLD, addresses=[{"type": "IPAddress", "value": "10.0.0.1"}]),
])
def test_gateways_portico_does_not_serve_claim_nothing(older: dict[str, Any]) -> None:
    result = build(gateway_class(), older, gateway("new", created=NEW))
    assert conflicted(result, "new") is None


def test_age_ties_go_to_namespace_and_name() -> None:
    result = build(gateway_class(), gateway("b"), gateway("a"))
    assert (conflicted(result, "a"), conflicted(result, "b")) == (None, "HostnameConflict")


def multiple_gateways() -> list[dict[str, Any]]:
    """HTTPRouteMultipleGateways: same-namespace (older) and all-namespaces, both with an
    HTTP listener on port 80 without hostname; a route shared by both, one of each's own."""
    both = [{"name": "same-namespace"}, {"name": "all-namespaces"}]
    return [
        gateway_class(), *backends(),
        gateway("same-namespace", created=OLD),
        gateway("all-namespaces", listener(source="All"), created=NEW),
        http_route("shared", http_rule(prefix("/shared")), parents=both),
        http_route("same-dedicated", parents=[{"name": "same-namespace"}]),
        http_route("all-dedicated", http_rule(backends=[{"name": "v3", "port": 8080}]),
                   parents=[{"name": "all-namespaces"}]),
    ]


def test_multiple_gateways_the_newer_gateways_routes_say_they_are_not_served() -> None:
    result = build(*multiple_gateways())
    assert service_of(result, "any.example", "/") == "v1"  # same-dedicated: Service v1
    assert service_of(result, "any.example", "/shared") == "v1"
    dedicated = route_parent(result, "all-dedicated")
    assert condition(dedicated.conditions, "Accepted") == ("False", "NotAllowedByListeners")
    message = next(c.message for c in dedicated.conditions if c.type == "Accepted")
    assert "Conflicted" in message and "same-namespace" in message
    shared_old, shared_new = (route_parent(result, "shared", i) for i in (0, 1))
    assert condition(shared_old.conditions, "Accepted") == ("True", "Accepted")
    assert condition(shared_new.conditions, "Accepted") == ("False", "NotAllowedByListeners")
    # A Conflicted listener still counts the routes attached to it (spec: attachedRoutes).
    assert only_listener(result, "all-namespaces").attached_routes == 2
    assert only_listener(result, "same-namespace").attached_routes == 2


def test_gateways_of_different_teams_with_distinct_hostnames_all_work() -> None:
    result = build(
        gateway_class(), *backends(),
        gateway("team-a", listener(hostname="a.example.com"), created=OLD),
        gateway("team-b", listener(hostname="b.example.com"), created=NEW),
        gateway("platform", listener(hostname="*.example.com"), created=OLD),
        http_route("a", parents=[{"name": "team-a"}]),
        http_route("b", http_rule(backends=[{"name": "v2", "port": 8080}]),
                   parents=[{"name": "team-b"}]),
        http_route("p", http_rule(backends=[{"name": "v3", "port": 8080}]),
                   parents=[{"name": "platform"}]),
    )
    assert [service_of(result, f"{host}.example.com", "/") for host in "abc"] == [
        "v1", "v2", "v3"]
    for gw in ("team-a", "team-b", "platform"):
        assert conflicted(result, gw) is None
        assert condition(gateway_status(result, gw).conditions, "Accepted") == (
            "True", "Accepted")
    for name in ("a", "b", "p"):
        conditions = route_parent(result, name).conditions
        assert condition(conditions, "Accepted") == ("True", "Accepted")
        assert CONFLICTED not in {c.type for c in conditions}
    assert problem_fields(result) == []


def conflict(result: BuildResult, name: str, index: int = 0) -> Condition | None:
    return next((c for c in route_parent(result, name, index).conditions
                 if c.type == CONFLICTED), None)


def test_a_route_whose_match_an_older_route_takes_says_so() -> None:
    result = build(gateway_class(), *backends(), gateway(),
                   http_route("older", created=OLD), http_route("newer", created=NEW))
    lost = conflict(result, "newer")
    assert lost is not None and (lost.status, lost.reason) == ("True", "MatchesTaken")
    assert "host '*' Prefix path '/' (spec.rules[0].matches[0]) goes to HTTPRoute infra/older" in (
        lost.message)
    assert condition(route_parent(result, "newer").conditions, "Accepted") == (
        "True", "Accepted")
    assert conflict(result, "older") is None
    assert ("HTTPRoute infra/newer", "spec.rules[0].matches[0]", "Conflict") in (
        problem_fields(result))


def test_a_winner_in_another_namespace_is_not_named_on_the_route() -> None:
    result = build(gateway_class(), *backends(), *backends("team"),
                   gateway("gw", listener(source="All")),
                   http_route("older", created=OLD, namespace="team"),
                   http_route("newer", created=NEW))
    lost = conflict(result, "newer")
    assert lost is not None
    assert "team/" not in lost.message
    assert "goes to another namespace's HTTPRoute" in lost.message


def test_a_route_whose_path_an_older_ingress_keeps_says_so() -> None:
    result = build(gateway_class(), *backends(), gateway(), *web(name="web"),
                   ingress("shop", [rule("shop.com", path("/", "web"))], namespace="default",
                           created=OLD),
                   http_route("r", http_rule(prefix("/")), hostnames=["shop.com"], created=NEW))
    assert service_of(result, "shop.com", "/") == "web"
    lost = conflict(result, "r")
    assert lost is not None and "host 'shop.com' Prefix path '/' (spec.rules)" in (
        lost.message)


def test_a_loss_is_reported_on_the_parents_that_serve_its_host_only() -> None:
    result = build(
        gateway_class(), *backends(), gateway("one", listener(hostname="one.example.com")),
        gateway("two", listener(hostname="two.example.com")),
        http_route("older", parents=[{"name": "one"}], created=OLD),
        http_route("newer", parents=[{"name": "one"}, {"name": "two"}], created=NEW))
    assert conflict(result, "newer", 0) is not None
    assert conflict(result, "newer", 1) is None
    assert service_of(result, "two.example.com", "/") == "v1"



def test_the_older_gateways_listener_serves_the_certificate_of_a_shared_hostname() -> None:
    def tls(name: str, created: str) -> dict[str, Any]:
        return gateway(name, kube.https_listener(secret=name, hostname="a.example.com"),
                       created=created)

    result = build(gateway_class(), certificate_secret("a-new", "a.example.com"),
                   certificate_secret("z-old", "a.example.com"),
                   tls("a-new", NEW), tls("z-old", OLD))
    served_certificate = result.table.certificate("a.example.com")
    assert served_certificate is not None and served_certificate.secret.name == "z-old"
