"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules.

Every replica routes traffic; only the leader writes Ingress status and
Events, so replicas never fight over a field. Expiry is judged by this
process's own clock since it last saw the Lease record change (as client-go
does), never by comparing timestamps written by another machine. The leader
releases the Lease when it stops, so a successor takes over at once instead
of after a full lease duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from ingress.operator.api import ApiError, KubeClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ElectionTiming:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def default_identity() -> str:
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _now_micro() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        timing: ElectionTiming,
        on_change: Callable[[bool], None],
        identity: str | None = None,
    ) -> None:
        self.identity = identity or default_identity()
        self.is_leader = False
        self._client = client
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._name = name
        self._namespace = namespace
        self._timing = timing
        self._on_change = on_change
        # What we last saw of someone else's record, and when (our monotonic clock).
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self._set_leader(await self._try_acquire_or_renew())
                except (ApiError, aiohttp.ClientError, TimeoutError, ValueError) as e:
                    log.warning("leader election: Lease %s/%s: %s", self._namespace, self._name, e)
                    # Keep leading only while inside the renew deadline.
                    held = time.monotonic() - self._last_renew
                    self._set_leader(self.is_leader and held < self._timing.renew_deadline)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._timing.retry_period)
        finally:
            if self.is_leader:
                await self._release()
                self._set_leader(False)

    def _set_leader(self, leader: bool) -> None:
        if leader != self.is_leader:
            self.is_leader = leader
            log.info("leader election: %s %s the Lease %s/%s", self.identity,
                     "acquired" if leader else "lost", self._namespace, self._name)
            self._on_change(leader)

    def _spec(self, transitions: int, acquired: str) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self._timing.lease_duration)),
            "acquireTime": acquired,
            "renewTime": _now_micro(),
            "leaseTransitions": transitions,
        }

    async def _try_acquire_or_renew(self) -> bool:
        try:
            lease = await self._client.get(self._path)
        except ApiError as e:
            if e.status != 404:
                raise
            return await self._create()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        now = time.monotonic()
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        if record != self._observed:
            self._observed, self._observed_at = record, now
        if holder and holder != self.identity:
            duration = float(spec.get("leaseDurationSeconds") or self._timing.lease_duration)
            if now - self._observed_at < duration:
                return False  # someone else holds a live lease
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = str(spec.get("acquireTime") or _now_micro())
        if holder != self.identity:
            transitions, acquired = transitions + 1, _now_micro()
        # The resourceVersion makes the write conditional: if another replica
        # wrote the Lease since our GET, the API server rejects ours (409).
        await self._client.merge_patch(self._path, {
            "metadata": {"resourceVersion": lease.get("metadata", {}).get("resourceVersion")},
            "spec": self._spec(transitions, acquired),
        })
        self._last_renew = time.monotonic()
        return True

    async def _create(self) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": self._spec(0, _now_micro()),
        }
        try:
            await self._client.post(self._collection, body)
        except ApiError as e:
            if e.status == 409:
                return False  # another replica created it first
            raise
        self._last_renew = time.monotonic()
        return True

    async def _release(self) -> None:
        try:
            lease = await self._client.get(self._path)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            await self._client.merge_patch(self._path, {
                "metadata": {"resourceVersion": lease.get("metadata", {}).get("resourceVersion")},
                "spec": {"holderIdentity": "", "leaseDurationSeconds": 1,
                         "renewTime": _now_micro()},
            })
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("leader election: could not release Lease %s/%s: %s",
                        self._namespace, self._name, e)
