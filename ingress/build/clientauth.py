"""Client-certificate policies are per host: the oldest Ingress of a host that sets one
decides it, and every route of the host checks it, as ingress-nginx configures the
whole nginx server from the first Ingress with auth-tls annotations."""

from __future__ import annotations

import dataclasses

from ingress.build.ingress import PathClaim
from ingress.model import Route
from ingress.model.filters.clientcert import ClientAuth, ClientCertificateCheck


def policy_of(route: Route) -> ClientAuth | None:
    """The policy the annotations of `route`'s Ingress ask for, if any."""
    for flt in route.filters:
        if isinstance(flt, ClientCertificateCheck):
            return flt.policy
    return None


def guarded(route: Route, policy: ClientAuth) -> Route:
    """`route` (and its alternatives) checking `policy` first, instead of their own."""
    filters = [f for f in route.filters if not isinstance(f, ClientCertificateCheck)]
    following = guarded(route.next, policy) if route.next is not None else None
    return dataclasses.replace(route, filters=(ClientCertificateCheck(policy), *filters),
                               next=following)


def guarded_claims(claims: list[PathClaim], policy: ClientAuth | None) -> list[PathClaim]:
    if policy is None:
        return claims
    return [dataclasses.replace(claim, route=guarded(claim.route, policy)) for claim in claims]
