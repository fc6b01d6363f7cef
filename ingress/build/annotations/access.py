"""Client IP lists: whitelist-source-range / allowlist-source-range."""

from __future__ import annotations

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.core import SourceRanges


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    # allowlist- is the newer name of whitelist-; when both are set it wins.
    whitelist = annotations.parsed("whitelist-source-range", values.networks)
    allowlist = annotations.parsed("allowlist-source-range", values.networks)
    allow = allowlist if allowlist is not None else whitelist
    if allow is not None:
        spec.filters.append(SourceRanges(allow=allow))
