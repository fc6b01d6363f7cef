"""Gateway API status: GatewayClasses, Gateways (with addresses) and HTTPRoute parents.

The builder decided every condition; this writes them through the `/status`
subresource with a merge-PATCH, only when they differ from what the object
shows (our own PATCH comes back as a watch event, so writing blindly would
loop). It follows the conventions the Gateway API asks of controllers:

- conditions are merged by type: those of other types are kept (but a
  route parent's conditions Portico raises only at times, PartiallyInvalid
  and portico.dev/Conflicted, go once they no longer hold), and
  `lastTransitionTime` only moves when a condition's status does;
- a condition whose observedGeneration is newer than the object we built
  from is left alone (our copy is stale; a newer build will come);
- an HTTPRoute's `status.parents` is shared with other controllers: only
  the entries with our controllerName are replaced, and the write carries
  the resourceVersion it was computed from, so a concurrent write by
  another controller makes ours fail (409) and be redone from fresh data;
- a route that stops having our Gateways as parents loses our entries.

A field the installed CRDs do not have (older Gateway API versions prune
`supportedFeatures`) is compared with what was last written, not re-sent.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from ingress.build.gateway.status import (
    CONFLICTED,
    FALSE,
    GROUP,
    TRUE,
    Condition,
    GatewayClassStatus,
    GatewayStatus,
    GatewayStatuses,
    ParentStatus,
)
from ingress.model import ObjectRef
from ingress.operator.api import ApiError, KubeClient
from ingress.operator.status import LoadBalancerIngress
from ingress.store import Store

log = logging.getLogger(__name__)

API = f"/apis/{GROUP}/v1"
Json = dict[str, Any]
# Route parent conditions Portico raises only while they hold.
_OCCASIONAL_ROUTE_CONDITIONS = ("PartiallyInvalid", CONFLICTED)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gateway_addresses(entries: LoadBalancerIngress) -> list[Json]:
    """`status.loadBalancer.ingress` entries as Gateway `status.addresses`."""
    found = []
    for entry in entries:
        value = entry.get("ip") or entry.get("hostname") or ""
        try:
            ipaddress.ip_address(value)
            kind = "IPAddress"
        except ValueError:
            kind = "Hostname"
        found.append({"type": kind, "value": value})
    return found


def merge_conditions(current: Any, ours: tuple[Condition, ...], now: str,
                     owned: Collection[str] = ()) -> list[Json] | None:
    """`current` with our conditions in place, and those of the `owned` types we no longer
    raise removed; None when our copy is older than what is shown."""
    shown = {c.get("type"): c for c in current or [] if isinstance(c, Mapping)}
    replaced = {o.type for o in ours} | set(owned)
    merged = [dict(c) for c in current or [] if isinstance(c, Mapping)
              and c.get("type") not in replaced]
    for condition in ours:
        before = shown.get(condition.type) or {}
        if int(before.get("observedGeneration") or 0) > condition.observed_generation:
            return None
        moved = before.get("status") != condition.status or not before.get("lastTransitionTime")
        merged.append({
            "type": condition.type,
            "status": condition.status,
            "reason": condition.reason,
            "message": condition.message[:32768],
            "observedGeneration": condition.observed_generation,
            "lastTransitionTime": now if moved else before["lastTransitionTime"],
        })
    return merged


def _listener(status: Any, current: Mapping[str, Any], now: str) -> Json | None:
    conditions = merge_conditions(current.get("conditions"), status.conditions, now)
    if conditions is None:
        return None
    return {
        "name": status.name,
        "supportedKinds": [{"group": GROUP, "kind": kind} for kind in status.supported_kinds],
        "attachedRoutes": status.attached_routes,
        "conditions": conditions,
    }


def _addressed(conditions: tuple[Condition, ...], addresses: list[Json]) -> tuple[Condition, ...]:
    """A Gateway without an address is not Programmed, whatever its listeners."""
    if addresses:
        return conditions
    return tuple(
        Condition(c.type, FALSE, "AddressNotAssigned",
                  "no address: set --publish-address or --publish-service", c.observed_generation)
        if c.type == "Programmed" and c.status == TRUE else c
        for c in conditions
    )


class GatewayStatusWriter:
    def __init__(self, client: KubeClient, store: Store, controller_name: str) -> None:
        self._client = client
        self._store = store
        self._controller = controller_name
        # What we last wrote, by (kind, namespace, name): to spot fields the CRDs prune,
        # and the HTTPRoutes whose parents we must clear once they are no longer ours.
        self._written: dict[tuple[str, str, str], Json] = {}
        self.patches = 0

    async def sync(self, statuses: GatewayStatuses, addresses: LoadBalancerIngress) -> None:
        now = _now()
        for cls in statuses.classes:
            await self._gateway_class(cls, now)
        gateway_addresses_ = gateway_addresses(addresses)
        for gateway in statuses.gateways:
            await self._gateway(gateway, gateway_addresses_, now)
        ours = set()
        for route in statuses.routes:
            ours.add(("HTTPRoute", route.ref.namespace, route.ref.name))
            await self._route(route.ref, route.parents, now)
        for kind, namespace, name in sorted(set(self._written) - ours):
            if kind == "HTTPRoute":
                await self._route(ObjectRef(kind, namespace, name), (), now)

    async def _gateway_class(self, status: GatewayClassStatus, now: str) -> None:
        body = self._store.get("GatewayClass", "", status.name)
        if body is None:
            return
        current = body.get("status") or {}
        conditions = merge_conditions(current.get("conditions"), status.conditions, now)
        if conditions is None:
            return
        desired = {"conditions": conditions,
                   "supportedFeatures": [{"name": f} for f in status.supported_features]}
        await self._write(ObjectRef("GatewayClass", "", status.name), current, desired,
                          f"{API}/gatewayclasses/{status.name}/status")

    async def _gateway(self, status: GatewayStatus, addresses: list[Json], now: str) -> None:
        ref = status.ref
        body = self._store.get("Gateway", ref.namespace, ref.name)
        if body is None:
            return
        current = body.get("status") or {}
        conditions = merge_conditions(current.get("conditions"),
                                      _addressed(status.conditions, addresses), now)
        shown = {ls.get("name"): ls for ls in current.get("listeners") or []
                 if isinstance(ls, Mapping)}
        listeners = [_listener(ls, shown.get(ls.name) or {}, now) for ls in status.listeners]
        if conditions is None or None in listeners:
            return
        desired = {"addresses": addresses, "conditions": conditions, "listeners": listeners}
        await self._write(ref, current, desired,
                          f"{API}/namespaces/{ref.namespace}/gateways/{ref.name}/status")

    async def _route(self, ref: ObjectRef, parents: tuple[ParentStatus, ...], now: str) -> None:
        body = self._store.get("HTTPRoute", ref.namespace, ref.name)
        key = (ref.kind, ref.namespace, ref.name)
        if body is None:
            self._written.pop(key, None)
            return
        current = body.get("status") or {}
        shown = [p for p in current.get("parents") or [] if isinstance(p, Mapping)]
        others = [dict(p) for p in shown if p.get("controllerName") != self._controller]
        mine = {_ref_key(p.get("parentRef")): p for p in shown
                if p.get("controllerName") == self._controller}
        entries = []
        for parent in parents:
            before = mine.get(_ref_key(parent.parent_ref)) or {}
            conditions = merge_conditions(before.get("conditions"), parent.conditions, now,
                                          _OCCASIONAL_ROUTE_CONDITIONS)
            if conditions is None:
                return
            entries.append({"parentRef": dict(parent.parent_ref),
                            "controllerName": self._controller, "conditions": conditions})
        if not parents and not mine:
            self._written.pop(key, None)
            return
        desired = {"parents": others + entries}
        version = (body.get("metadata") or {}).get("resourceVersion")
        await self._write(ref, current, desired,
                          f"{API}/namespaces/{ref.namespace}/httproutes/{ref.name}/status",
                          version)
        if not parents:
            self._written.pop(key, None)

    async def _write(self, ref: ObjectRef, current: Mapping[str, Any], desired: Json, path: str,
                     resource_version: str | None = None) -> None:
        key = (ref.kind, ref.namespace, ref.name)
        last = self._written.get(key, {})
        if all(current.get(f, last.get(f)) == value for f, value in desired.items()):
            self._written[key] = desired
            return
        patch: Json = {"status": desired}
        if resource_version:
            patch["metadata"] = {"resourceVersion": resource_version}
        try:
            await self._client.merge_patch(path, patch)
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("%s: status: %s", ref, e)
            return
        self._written[key] = desired
        self.patches += 1


def _ref_key(ref: Any) -> tuple[Any, ...]:
    ref = ref if isinstance(ref, Mapping) else {}
    return (ref.get("group") or GROUP, ref.get("kind") or "Gateway", ref.get("namespace"),
            ref.get("name"), ref.get("sectionName"), ref.get("port"))
