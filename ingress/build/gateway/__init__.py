"""The Gateway API front end: GatewayClasses, Gateways, HTTPRoutes → the same routes.

Pure like the rest of the builder. It reads the GatewayClasses of our
controller name, their Gateways, the HTTPRoutes attached to them, the
ReferenceGrants and Namespaces those depend on, and adds the resulting
routes and certificates to the table the Ingresses built. Its verdicts on
each object are the status the operator writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingress.build.backends import BackendResolver
from ingress.build.certificates import CertificateLoader
from ingress.build.gateway.assemble import assemble
from ingress.build.gateway.classes import select_classes
from ingress.build.gateway.gateways import select_gateways
from ingress.build.gateway.grants import ReferenceGrants
from ingress.build.gateway.httproutes import select_routes
from ingress.build.gateway.losses import with_losses
from ingress.build.gateway.merge import merge
from ingress.build.gateway.namespaces import Namespaces
from ingress.build.gateway.objects import age
from ingress.build.gateway.status import NO_STATUSES, GatewayStatuses
from ingress.model import Certificate, ObjectRef, Problem, RoutingTable
from ingress.store import Key, Snapshot

__all__ = ["NO_STATUSES", "GatewayAPI", "GatewayStatuses", "serve_gateway_api"]


@dataclass(frozen=True, slots=True)
class GatewayAPI:
    table: RoutingTable
    statuses: GatewayStatuses
    problems: tuple[Problem, ...]
    referenced_secrets: frozenset[Key]


def serve_gateway_api(objects: Snapshot, controller_name: str, resolver: BackendResolver,
                      now: float, table: RoutingTable) -> GatewayAPI:
    """`table` with the routes of the Gateways of our GatewayClasses added."""
    grants = ReferenceGrants(objects.get("ReferenceGrant", {}))
    classes = select_classes(objects, controller_name)
    gateways = select_gateways(objects.get("Gateway", {}), classes, grants,
                               CertificateLoader(objects.get("Secret", {}), now))
    routes = select_routes(objects.get("HTTPRoute", {}), gateways,
                           Namespaces(objects.get("Namespace", {})), grants, resolver)
    hosts, shadowed = assemble(routes.candidates)
    certificates: list[tuple[str, Certificate]] = [
        (listener.hostname, listener.certificate)
        for gateway in gateways.by_key.values() if gateway.accepted
        for listener in gateway.listeners
        if listener.programmed and listener.certificate is not None
    ]

    def created(ref: ObjectRef) -> tuple[str, str, str, str]:
        body = objects.get(ref.kind, {}).get((ref.namespace, ref.name))
        return (age(body) if body is not None else "", ref.kind, ref.namespace, ref.name)

    merged, taken = merge(table, hosts, certificates, created)
    losses = (*shadowed, *taken)
    statuses = GatewayStatuses(
        classes.statuses,
        tuple(gateway.status() for gateway in gateways.by_key.values()),
        with_losses(routes.statuses, losses, routes.served_hosts),
    )
    return GatewayAPI(merged, statuses, (*gateways.problems, *routes.problems,
                                         *(loss.problem() for loss in losses)),
                      frozenset(gateways.referenced_secrets))
