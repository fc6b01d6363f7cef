"""`status.loadBalancer.ingress` of the Ingresses this controller serves.

The addresses come from `--publish-address` or from the `--publish-service`
(its load-balancer status, external IPs or cluster IP, the way ingress-nginx
reads it). Each owned Ingress gets them with a merge-PATCH of its status
subresource, only when they differ from what the Ingress already shows (our
own PATCH comes back as a MODIFIED event, so writing blindly would loop).
An Ingress that stops being ours loses the status we wrote; Ingresses of
other classes are never touched.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from ingress.build.result import BuildResult
from ingress.model import ObjectRef
from ingress.operator.api import ApiError, KubeClient
from ingress.operator.metrics import OperatorMetrics
from ingress.operator.slices import in_slices
from ingress.store import Store

log = logging.getLogger(__name__)

LoadBalancerIngress = list[dict[str, str]]


def _entry(address: str) -> dict[str, str]:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return {"hostname": address}
    return {"ip": address}


def addresses_to_status(addresses: list[str]) -> LoadBalancerIngress:
    """Sorted, de-duplicated `ip`/`hostname` entries (sorted so equal sets compare equal)."""
    return [_entry(a) for a in sorted({a.strip() for a in addresses if a.strip()})]


def service_addresses(service: Mapping[str, Any]) -> list[str]:
    """What ingress-nginx publishes for a Service, by its type."""
    spec = service.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external = [str(ip) for ip in spec.get("externalIPs") or []]
    if kind == "ExternalName":
        return [str(spec.get("externalName") or "")]
    if kind == "LoadBalancer":
        found = [
            str(lb.get("ip") or lb.get("hostname") or "")
            for lb in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ]
        return found + external
    if external:
        return external
    cluster_ip = spec.get("clusterIP")
    return [str(cluster_ip)] if cluster_ip and cluster_ip != "None" else []


def split_ref(value: str, flag: str) -> tuple[str, str]:
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name:
        raise ValueError(f"{flag} {value!r}: expected namespace/name")
    return namespace, name


class StatusWriter:
    def __init__(
        self,
        client: KubeClient,
        store: Store,
        metrics: OperatorMetrics,
        publish_address: str | None,
        publish_service: str | None,
    ) -> None:
        self._client = client
        self._store = store
        self._metrics = metrics
        self._fixed = (
            addresses_to_status(publish_address.split(",")) if publish_address else None
        )
        self._service = split_ref(publish_service, "--publish-service") if publish_service else None
        # Ingresses whose status we wrote, with what we wrote: only these are
        # cleared when they stop being ours.
        self._written: dict[tuple[str, str], LoadBalancerIngress] = {}

    async def addresses(self) -> LoadBalancerIngress:
        if self._fixed is not None:
            return self._fixed
        if self._service is None:
            return []
        namespace, name = self._service
        service = self._store.get("Service", namespace, name)
        if service is None:  # outside the watched namespace: ask the API
            try:
                service = await self._client.get(f"/api/v1/namespaces/{namespace}/services/{name}")
            except ApiError as e:
                log.warning("--publish-service Service %s/%s: %s", namespace, name, e)
                return []
        return addresses_to_status(service_addresses(service))

    async def sync(self, result: BuildResult) -> None:
        """Make every owned Ingress show our addresses; clear those no longer ours."""
        wanted = await self.addresses()
        owned = {(ref.namespace, ref.name) for ref in result.owned}
        async for key in in_slices(sorted(owned)):
            await self._ensure(key, wanted)
        async for key in in_slices(sorted(set(self._written) - owned)):
            await self._clear(key)

    def _shown(self, key: tuple[str, str]) -> LoadBalancerIngress | None:
        """What the Ingress shows now, or None if it is gone from the store."""
        body = self._store.get("Ingress", *key)
        if body is None:
            return None
        lb = ((body.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return [dict(entry) for entry in lb]

    async def _ensure(self, key: tuple[str, str], wanted: LoadBalancerIngress) -> None:
        shown = self._shown(key)
        if shown is None or shown == wanted:
            if shown == wanted:
                self._written[key] = wanted
            return
        if await self._patch(key, wanted or None):
            self._written[key] = wanted

    async def _clear(self, key: tuple[str, str]) -> None:
        shown = self._shown(key)
        # Leave it alone if it is gone or another controller has written its own status since.
        if shown and shown == self._written[key]:
            await self._patch(key, None)
        del self._written[key]

    async def _patch(self, key: tuple[str, str], entries: LoadBalancerIngress | None) -> bool:
        namespace, name = key
        path = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}/status"
        try:
            await self._client.merge_patch(path, {"status": {"loadBalancer": {"ingress": entries}}})
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("%s: status.loadBalancer: %s", ObjectRef("Ingress", namespace, name), e)
            return False
        self._metrics.status_patches += 1
        return True
