"""Kubernetes Events on owned Ingresses: a Warning per problem, a Normal Sync per change.

Builds run on every change of any object, so the same problems come back
again and again; an Event is posted only when a problem first appears (or
reappears after having gone away), and `Sync` only when the Ingress itself
changed (its spec, annotations or labels, not its status, which we write
ourselves). A replica that becomes leader takes the Ingresses as it finds
them as already announced: a leader change (every restart is one) must not
post a `Sync` for each of 10,000 Ingresses.

Events are rate-limited as client-go's recorder limits them: per Ingress a
burst of 25, then one per 5 minutes, and across all Ingresses a burst of
100, then 10 per second. An announcement over the limit is not lost but
waits (`retry_in`), and changes meanwhile collapse into the one `Sync` it
becomes. An Event equal to one already posted (same Ingress, type, reason
and message) is not posted again: the existing one gets its `count` raised
and `lastTimestamp` moved, as client-go's correlator does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from ingress.build.result import BuildResult
from ingress.model import ObjectRef, Problem
from ingress.operator.api import ApiError, KubeClient
from ingress.operator.metrics import OperatorMetrics
from ingress.operator.ratelimit import TokenBucket
from ingress.operator.slices import in_slices
from ingress.store import Store

log = logging.getLogger(__name__)

IngressKey = tuple[str, str]
Announcement = tuple[str, str, str]  # (type, reason, message)

PER_OBJECT_BURST, PER_OBJECT_RATE = 25, 1 / 300
TOTAL_BURST, TOTAL_RATE = 100, 10.0
# Events remembered for aggregation (client-go keeps as many).
REMEMBERED = 4096


def ingress_fingerprint(body: Mapping[str, Any]) -> str:
    md = body.get("metadata") or {}
    relevant = [body.get("spec"), md.get("annotations"), md.get("labels")]
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def problem_message(problem: Problem) -> str:
    return f"{problem.field}: {problem.message}"


class EventRecorder:
    def __init__(self, client: KubeClient, store: Store, metrics: OperatorMetrics,
                 component: str, instance: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._store = store
        self._metrics = metrics
        self._component = component
        self._instance = instance
        self._clock = clock
        self._problems: dict[IngressKey, set[Announcement]] = {}
        self._synced: dict[IngressKey, str] = {}
        # The body each fingerprint was computed from: the store replaces a body when it
        # changes, so an identical object means an unchanged fingerprint (10,000 Ingresses
        # would otherwise cost 0.3 s of JSON and hashing on the loop after every build).
        self._fingerprints: dict[IngressKey, tuple[Mapping[str, Any], str]] = {}
        self._baseline = True
        self._total = TokenBucket(TOTAL_RATE, TOTAL_BURST, clock)
        self._per_object: dict[IngressKey, TokenBucket] = {}
        # (Ingress, its uid, announcement) → (Event name, count) of Events posted, oldest first
        self._posted: OrderedDict[tuple[IngressKey, str, Announcement], tuple[str, int]] = (
            OrderedDict())
        self._waiting = False

    def forget(self) -> None:
        """Start over (on gaining leadership): problems are announced once, Ingresses are not."""
        self._problems.clear()
        self._synced.clear()
        self._baseline = True

    def retry_in(self) -> float | None:
        """Seconds until announcements held back by the overall limit may go; None if none wait.

        At least a second, so that each retry posts a batch rather than one Event per
        pass over every Ingress. (Those held back by their Ingress's own limit wait
        minutes: the next resync takes them.)
        """
        return max(1.0, self._total.wait_time()) if self._waiting else None

    async def sync(self, result: BuildResult) -> None:
        self._waiting = False
        problems: dict[IngressKey, set[Announcement]] = {}
        for problem in result.problems:
            if problem.obj.kind == "Ingress":
                key = (problem.obj.namespace, problem.obj.name)
                problems.setdefault(key, set()).add(
                    ("Warning", problem.reason, problem_message(problem))
                )
        announced_problems: dict[IngressKey, set[Announcement]] = {}
        for key, current in sorted(problems.items()):
            announced = announced_problems[key] = self._problems.get(key, set()) & current
            for announcement in sorted(current - announced):
                if await self._announce(key, announcement):
                    announced.add(announcement)
        self._problems = announced_problems
        synced: dict[IngressKey, str] = {}
        fingerprints: dict[IngressKey, tuple[Mapping[str, Any], str]] = {}
        async for ref in in_slices(result.owned):
            key = (ref.namespace, ref.name)
            body = self._store.get("Ingress", *key)
            if body is None or key in problems:
                continue
            known = self._fingerprints.get(key)
            fingerprint = known[1] if known and known[0] is body else ingress_fingerprint(body)
            fingerprints[key] = (body, fingerprint)
            if self._baseline or self._synced.get(key) == fingerprint or await self._announce(
                    key, ("Normal", "Sync", "Scheduled for sync")):
                synced[key] = fingerprint
            elif key in self._synced:
                synced[key] = self._synced[key]
        self._synced = synced
        self._fingerprints = fingerprints
        self._baseline = False
        for key in [key for key, bucket in self._per_object.items() if bucket.full()]:
            del self._per_object[key]  # as if new: only Ingresses with recent Events cost memory

    async def _announce(self, key: IngressKey, announcement: Announcement) -> bool:
        """Post (or aggregate) one Event unless a rate limit holds it back; False if not sent."""
        bucket = self._per_object.get(key)
        if bucket is None:
            bucket = self._per_object[key] = TokenBucket(PER_OBJECT_RATE, PER_OBJECT_BURST,
                                                         self._clock)
        if self._total.wait_time() > 0:
            self._waiting = True
            self._metrics.events_held_back += 1
            return False
        if not bucket.take():
            self._metrics.events_held_back += 1
            return False
        self._total.take()
        body = self._store.get("Ingress", *key) or {}
        ident = (key, str((body.get("metadata") or {}).get("uid")), announcement)
        earlier = self._posted.pop(ident, None)
        if earlier is not None and await self._raise_count(key, *earlier):
            self._posted[ident] = (earlier[0], earlier[1] + 1)
            return True
        name = await self._post(key, *announcement)
        if name is None:
            return True  # logged; retrying a refused Event would only repeat the refusal
        self._posted[ident] = (name, 1)
        while len(self._posted) > REMEMBERED:
            self._posted.popitem(last=False)
        return True

    async def _raise_count(self, key: IngressKey, name: str, count: int) -> bool:
        namespace = key[0]
        try:
            await self._client.merge_patch(f"/api/v1/namespaces/{namespace}/events/{name}", {
                "count": count + 1, "lastTimestamp": _now()})
        except (ApiError, aiohttp.ClientError, TimeoutError):
            return False  # expired or unreachable: post a new one
        self._metrics.events_posted += 1
        return True

    async def _post(self, key: IngressKey, kind: str, reason: str, message: str) -> str | None:
        """Post a new Event; its name, or None if it could not be posted."""
        namespace, name = key
        body = self._store.get("Ingress", namespace, name)
        md = (body or {}).get("metadata") or {}
        now = _now()
        event_name = f"{name}.{uuid.uuid4().hex[:16]}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "namespace": namespace, "name": name,
                "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion"),
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._client.post(f"/api/v1/namespaces/{namespace}/events", event)
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("%s: cannot post Event %s: %s", ObjectRef("Ingress", namespace, name),
                        reason, e)
            return None
        self._metrics.events_posted += 1
        return event_name


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
