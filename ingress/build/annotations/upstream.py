"""How requests travel upstream: proxy-body-size, proxy-*-timeout, upstream-vhost."""

from __future__ import annotations

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model import UpstreamPolicy


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    policy = UpstreamPolicy(
        connect_timeout=annotations.parsed("proxy-connect-timeout", values.seconds),
        read_timeout=annotations.parsed("proxy-read-timeout", values.seconds),
        max_body_size=annotations.parsed("proxy-body-size", values.size),
        host=annotations.parsed("upstream-vhost", values.host_and_port),
    )
    if policy != spec.upstream:
        spec.upstream = policy
