"""What the Gateway API front end reports about each object: conditions, per listener and
per route parent, each stamped with the generation it was computed from.

The builder decides the conditions; the operator's status writer adds the
transition times and the addresses, and writes them through `/status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingress.model import ObjectRef

GROUP = "gateway.networking.k8s.io"
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"
# A route parent's condition: some of its matches go to other objects' routes (losses.py).
CONFLICTED = "portico.dev/Conflicted"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # TRUE, FALSE or UNKNOWN
    reason: str
    message: str
    observed_generation: int


@dataclass(frozen=True, slots=True)
class GatewayClassStatus:
    name: str
    conditions: tuple[Condition, ...]
    supported_features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListenerStatus:
    name: str
    supported_kinds: tuple[str, ...]  # route kinds of GROUP
    attached_routes: int
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    ref: ObjectRef
    conditions: tuple[Condition, ...]
    listeners: tuple[ListenerStatus, ...]


@dataclass(frozen=True, slots=True)
class ParentStatus:
    # The parentRef as the route wrote it, with group, kind and namespace filled in.
    parent_ref: Mapping[str, Any]
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class RouteStatus:
    """The parents of one HTTPRoute that are our Gateways (none: clear what we wrote)."""

    ref: ObjectRef
    parents: tuple[ParentStatus, ...]


@dataclass(frozen=True, slots=True)
class GatewayStatuses:
    classes: tuple[GatewayClassStatus, ...] = ()
    gateways: tuple[GatewayStatus, ...] = ()
    routes: tuple[RouteStatus, ...] = ()


NO_STATUSES = GatewayStatuses()
