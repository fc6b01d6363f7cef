"""enable-access-log: whether the requests of a route are written to the access log."""

from __future__ import annotations

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    enabled = annotations.parsed("enable-access-log", values.boolean)
    if enabled is not None:
        spec.access_log = enabled
