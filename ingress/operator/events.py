"""Kubernetes Events on owned Ingresses: a Warning per problem, a Normal Sync per change.

Builds run on every change of any object, so the same problems come back
again and again; an Event is posted only when a problem first appears (or
reappears after having gone away), and `Sync` only when the Ingress itself
changed (its spec, annotations or labels, not its status, which we write
ourselves).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from ingress.build.result import BuildResult
from ingress.model import ObjectRef, Problem
from ingress.operator.api import ApiError, KubeClient
from ingress.store import Store

log = logging.getLogger(__name__)

IngressKey = tuple[str, str]
Announcement = tuple[str, str, str]  # (type, reason, message)


def ingress_fingerprint(body: Mapping[str, Any]) -> str:
    md = body.get("metadata") or {}
    relevant = [body.get("spec"), md.get("annotations"), md.get("labels")]
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def problem_message(problem: Problem) -> str:
    return f"{problem.field}: {problem.message}"


class EventRecorder:
    def __init__(self, client: KubeClient, store: Store, component: str, instance: str) -> None:
        self._client = client
        self._store = store
        self._component = component
        self._instance = instance
        self._problems: dict[IngressKey, set[Announcement]] = {}
        self._synced: dict[IngressKey, str] = {}
        self.posted = 0

    def forget(self) -> None:
        """Start over (on gaining leadership): announce the current state once."""
        self._problems.clear()
        self._synced.clear()

    async def sync(self, result: BuildResult) -> None:
        problems: dict[IngressKey, set[Announcement]] = {}
        for problem in result.problems:
            if problem.obj.kind == "Ingress":
                key = (problem.obj.namespace, problem.obj.name)
                problems.setdefault(key, set()).add(
                    ("Warning", problem.reason, problem_message(problem))
                )
        for key, current in sorted(problems.items()):
            for announcement in sorted(current - self._problems.get(key, set())):
                await self._post(key, *announcement)
        self._problems = problems
        synced: dict[IngressKey, str] = {}
        for ref in result.owned:
            key = (ref.namespace, ref.name)
            body = self._store.get("Ingress", *key)
            if body is None or key in problems:
                continue
            synced[key] = ingress_fingerprint(body)
            if self._synced.get(key) != synced[key]:
                await self._post(key, "Normal", "Sync", "Scheduled for sync")
        self._synced = synced

    async def _post(self, key: IngressKey, kind: str, reason: str, message: str) -> None:
        namespace, name = key
        body = self._store.get("Ingress", namespace, name)
        md = (body or {}).get("metadata") or {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
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
            return
        self.posted += 1
