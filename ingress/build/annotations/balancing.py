"""load-balance: the algorithm that picks an endpoint for each request."""

from __future__ import annotations

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import Balancer

_BALANCERS = {
    "round_robin": Balancer.ROUND_ROBIN,
    "least_conn": Balancer.LEAST_CONN,
    "random": Balancer.RANDOM,
    # ingress-nginx's EWMA prefers the endpoint with the least expected
    # latency; least outstanding requests is the closest thing Portico has.
    "ewma": Balancer.LEAST_CONN,
}


def _balancer(value: str) -> Balancer:
    balancer = _BALANCERS.get(value.strip())
    if balancer is None:
        raise values.InvalidValue(f"must be one of {', '.join(_BALANCERS)}, not {value!r}")
    return balancer


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    balancer = annotations.parsed("load-balance", _balancer)
    if balancer is not None:
        spec.balancer = balancer
