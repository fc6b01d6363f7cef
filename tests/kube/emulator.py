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
  from an older resourceVersion gets `410 Gone` and the client must list anew;
- lists are served in pages (`limit` + `continue`, every page reporting the
  first page's resourceVersion, as the API server's consistent pages do);
- `fieldSelector` on lists and watches: comma-separated `path=value`,
  `path==value` and `path!=value` terms on dotted paths (`type`,
  `metadata.name`, ...), all of which must hold;
- a request naming one object finds it by key, not by scanning every object
  (kmock's way costs a scan of the whole store per GET and PATCH: minutes of
  CPU when a controller writes the status of 10,000 Ingresses).
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
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

    def _KubernetesEmulator__get_objs(self, request: kmock.Request, strict: bool) -> list[Any]:
        if request.name is not None and (strict or request.namespace is not None):
            obj = self.objects._objects.get((request.resource, request.namespace, request.name))
            return [] if obj is None else [obj]
        return [obj for (resource, namespace, name), obj in self.objects.items()
                if resource == request.resource and self._KubernetesEmulator__check(
                    request, resource, namespace, name, strict=strict)]

    async def _serve_list(self, request: kmock.Request) -> Any:
        result = await super()._serve_list(request)
        matches = field_selector(request.params.get("fieldSelector", ""))
        items = [raw for raw in result["items"] if matches(raw)]
        revision, offset = str(self.revision), 0
        if token := request.params.get("continue"):
            revision, offset = _decode_continue(token)
        limit = int(request.params.get("limit") or 0)
        end = offset + limit if limit > 0 else len(items)
        result["items"] = items[offset:end]
        result["metadata"]["resourceVersion"] = revision
        if end < len(items):
            result["metadata"]["continue"] = _encode_continue(revision, end)
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
        matches = field_selector(request.params.get("fieldSelector", ""))
        bus = self._buses[request.resource]
        async with self._lock:
            marker = await bus.mark()
            current = [
                obj.raw for obj in self._KubernetesEmulator__get_objs(request, strict=False)
                if not obj.deleted and matches(obj.raw)
            ]
        try:
            for raw in current:
                if int(raw.get("metadata", {}).get("resourceVersion") or 0) > since_n:
                    yield {"type": "ADDED", "object": raw}
            async for event in bus.stream(since=marker):
                md = event.get("object", {}).get("metadata", {})
                if self._KubernetesEmulator__check(
                    request, request.resource, md.get("namespace"), md.get("name"), strict=False
                ) and matches(event.get("object", {})):
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


def field_selector(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for a `fieldSelector` query value; the empty selector matches everything."""
    terms: list[tuple[list[str], str, bool]] = []
    for term in filter(None, text.split(",")):
        negated = "!=" in term
        path, _, value = term.partition("!=" if negated else "=")
        terms.append((path.strip().split("."), value.lstrip("=").strip(), negated))

    def matches(raw: Mapping[str, Any]) -> bool:
        for path, value, negated in terms:
            found: Any = raw
            for part in path:
                found = found.get(part) if isinstance(found, Mapping) else None
            if (str(found if found is not None else "") == value) == negated:
                return False
        return True

    return matches


def _encode_continue(revision: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([revision, offset]).encode()).decode()


def _decode_continue(token: str) -> tuple[str, int]:
    revision, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
    return str(revision), int(offset)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
