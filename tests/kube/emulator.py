"""kmock 0.8's KubernetesEmulator, made to behave like an API server where kopf notices.

Pinned to kmock 0.8: this reaches into its name-mangled helpers. What it adds:

- every write stamps `metadata.resourceVersion` (a global counter), and a
  create also fills `uid`, `namespace` (from the URL), `creationTimestamp`
  and `generation`; lists carry the current resourceVersion, `kind` and
  `apiVersion` (kopf copies them onto the listed items);
- a watch with `?resourceVersion=N` streams only what changed after N, and
  takes its snapshot and its event-bus cursor under one lock, so a write
  racing with a new watch is neither lost nor replayed;
- with `forget_served`, each request is dropped from kmock's request log once
  served: kmock finds the reaction for a request by walking that log, so
  otherwise every request costs more than the last (about 9 ms per write at
  first, 50 ms after a hundred), too slow for a test that writes every 100 ms;
- `compact()` forgets the history, as etcd compaction does: a watch resumed
  from an older resourceVersion gets `410 Gone` and the client must list anew.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import attrs
import kmock


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    revision: int = attrs.field(default=0, init=False)
    compacted: int = attrs.field(default=0, init=False)
    forget_served: bool = False

    def compact(self) -> None:
        self.compacted = self.revision

    def next_revision(self) -> str:
        self.revision += 1
        return str(self.revision)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        data = request.data
        if request.resource is not None and isinstance(data, dict):
            md = data.setdefault("metadata", {})
            if request.action == kmock.action.CREATE:
                if request.namespace:
                    md.setdefault("namespace", request.namespace)
                md.setdefault("uid", str(uuid.uuid4()))
                md.setdefault("generation", 1)
                md.setdefault("creationTimestamp", _now())
                md["resourceVersion"] = self.next_revision()
            elif request.action == kmock.action.UPDATE:
                md["resourceVersion"] = self.next_revision()
        try:
            return await super()._handle(request)
        finally:
            if self.forget_served:
                self._requests[:] = [r for r in self._requests if r is not request]

    async def _serve_list(self, request: kmock.Request) -> Any:
        result = await super()._serve_list(request)
        result["metadata"]["resourceVersion"] = str(self.revision)
        resource = request.resource
        if resource in self.resources:
            result["kind"] = f"{self.resources[resource].kind}List"
        result["apiVersion"] = (
            f"{resource.group}/{resource.version}" if resource.group else resource.version
        )
        return result

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        yield b""  # send the headers now, as kmock does
        since = request.params.get("resourceVersion", "")
        since_n = int(since) if since.isdigit() else 0
        if since_n and since_n < self.compacted:
            yield {"type": "ERROR", "object": {
                "apiVersion": "v1", "kind": "Status", "status": "Failure", "code": 410,
                "reason": "Expired", "message": f"too old resource version: {since_n}"}}
            return
        bus = self._buses[request.resource]
        async with self._lock:
            marker = await bus.mark()
            current = [
                obj.raw for obj in self._KubernetesEmulator__get_objs(request, strict=False)
                if not obj.deleted
            ]
        try:
            for raw in current:
                if int(raw.get("metadata", {}).get("resourceVersion") or 0) > since_n:
                    yield {"type": "ADDED", "object": raw}
            async for event in bus.stream(since=marker):
                md = event.get("object", {}).get("metadata", {})
                if self._KubernetesEmulator__check(
                    request, request.resource, md.get("namespace"), md.get("name"), strict=False
                ):
                    yield event
        finally:
            await bus.unmark(marker)

    def put(self, plural: str, body: dict[str, Any]) -> None:
        """Store an object directly (no watch event): the state before the controller starts."""
        md = body.setdefault("metadata", {})
        md.setdefault("uid", str(uuid.uuid4()))
        md.setdefault("creationTimestamp", _now())
        md["resourceVersion"] = self.next_revision()
        self.objects[plural, md.get("namespace"), md["name"]] = body


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
