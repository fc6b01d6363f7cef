"""Client IP lists: allowlist/whitelist-source-range and denylist-source-range.

A list that cannot be parsed closes the Ingress's paths (503), as
ingress-nginx denies such a location: an access rule never fails open.
Each annotation replaces the controller ConfigMap's list of its kind; the
ConfigMap's block-cidrs stay denied (ingress.build.config.access).
"""

from __future__ import annotations

from ingress.build.annotations import values
from ingress.build.annotations.spec import Annotations, RouteSpec
from ingress.model.filters.core import DirectResponse, Network, SourceRanges


def _networks(value: str) -> tuple[Network, ...]:
    try:
        return values.networks(value)
    except values.InvalidValue as error:
        raise values.InvalidValue(f"{error}; the paths answer 503 until it is fixed") from None


def parse(annotations: Annotations, spec: RouteSpec) -> None:
    problems_before = len(annotations.problems)
    # allowlist- is the newer name of whitelist-; when both are set it wins.
    whitelist = annotations.parsed("whitelist-source-range", _networks)
    allowlist = annotations.parsed("allowlist-source-range", _networks)
    deny = annotations.parsed("denylist-source-range", _networks)
    if len(annotations.problems) > problems_before:
        spec.filters.append(DirectResponse(503))
        return
    allow = allowlist if allowlist is not None else whitelist
    if allow is None and deny is None:
        return  # the ConfigMap's lists stand (RouteSpec.for_config)
    config = annotations.lookups.config
    spec.filters = [f for f in spec.filters if not isinstance(f, SourceRanges)]
    spec.filters.append(SourceRanges(
        allow=allow if allow is not None else config.allow_ranges,
        deny=config.blocked_ranges + (deny if deny is not None else config.deny_ranges)))
