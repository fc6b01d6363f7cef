"""An OTLP/HTTP trace receiver for tests: what arrives at /v1/traces, decoded as a collector does.

It decodes with OpenTelemetry's own protobuf classes (opentelemetry-proto, a
dependency of the `tracing` extra's exporter).
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from e2e.harness import free_port, wait_until


class Receiver:
    """An OTLP/HTTP trace receiver on a loopback port, in a thread of its own."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner = self._call(self._start())

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    async def _start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        return runner

    async def _traces(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource_spans in message.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: json.loads(_value(a.value)) for a in span.attributes}
                    self.spans.append({
                        "service": service.get("service.name"), "name": span.name,
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_id": span.parent_span_id.hex(), "kind": span.kind,
                        "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                        "attributes": attributes})
        return web.Response(body=b"", content_type="application/x-protobuf")

    def trace(self, trace_id: str, count: int) -> list[dict[str, Any]]:
        def found() -> list[dict[str, Any]] | None:
            spans = [s for s in self.spans if s["trace_id"] == trace_id]
            return spans if len(spans) >= count else None
        result: list[dict[str, Any]] = wait_until(found, f"{count} spans of {trace_id}")
        return result

    def close(self) -> None:
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def _value(value: Any) -> str:
    kind = value.WhichOneof("value")
    return json.dumps(getattr(value, kind))
