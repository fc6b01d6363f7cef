"""What one build produces besides the table: the per-object verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ingress.build.gateway.status import NO_STATUSES, GatewayStatuses
from ingress.build.parse_cache import NO_CACHE, ParseCache
from ingress.model import EMPTY_TABLE, ObjectRef, Problem, RoutingTable
from ingress.store import Key


@dataclass(frozen=True, slots=True)
class BuildResult:
    table: RoutingTable = EMPTY_TABLE
    # Every problem found, each naming its object and field.
    problems: tuple[Problem, ...] = ()
    # Ingresses this controller serves (their class is ours); only these get status.
    owned: tuple[ObjectRef, ...] = ()
    # Secrets (namespace, name) that owned Ingresses or the default certificate need.
    referenced_secrets: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    # What the Gateway API front end says of each object (with --gateway-api).
    gateway: GatewayStatuses = NO_STATUSES
    # ConfigMaps (namespace, name) the build read: the controller's and custom-headers ones.
    referenced_config_maps: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    # (namespace, Service) → `endpoints_key` of each backend of it served from EndpointSlices
    # → the Service port's name: the endpoint sets a change of the Service's slices touches.
    backends_by_service: Mapping[Key, Mapping[str, str]] = field(default_factory=dict)
    # Services whose endpoints decided a route: a change of their EndpointSlices rebuilds.
    routed_on_endpoints: frozenset[Key] = frozenset()
    # What the next build may reuse of this one's work (`build(..., cache=...)`).
    parse_cache: ParseCache = NO_CACHE
