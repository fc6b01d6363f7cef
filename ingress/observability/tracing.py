"""W3C trace context for proxied requests, and their export as OTLP spans.

With `--otlp-endpoint`, every request of a traced route (enable-opentelemetry)
continues the trace its `traceparent` names (unless the route does not trust
incoming spans) or starts one, sampled at `--trace-sample-ratio`, and the pod
gets a `traceparent` whose parent is Portico's upstream span. A sampled request
becomes two spans: a server span for the whole request, with route
attributes, and a client child span for the upstream attempt that answered.

The request path only draws ids and, when the request is sampled, queues a
tuple; an exporter thread turns those into OpenTelemetry SDK spans and
sends them with its OTLP/HTTP exporter (the optional `tracing` extra).
Without `--otlp-endpoint`, and on routes that are not traced, none of this
runs and `traceparent` headers pass through untouched, like any other header.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from typing import Any, NamedTuple

from ingress.observability.stats import ProxyStats, RouteLabels

log = logging.getLogger(__name__)

# Spans waiting for the exporter beyond which finished requests are not traced.
_MAX_QUEUED = 4096
_BATCH = 512
_BATCH_DELAY = 1.0  # s: the longest a span waits to be sent


class TraceContext(NamedTuple):
    """A request's place in its trace; ids as lower-case hex bytes."""

    trace_id: bytes
    span_id: bytes  # Portico's server span
    upstream_span_id: bytes  # its child span towards the pod: the pod's parent
    parent_id: bytes  # the caller's span, b"" when Portico started the trace
    sampled: bool

    def traceparent(self) -> bytes:
        """The header value sent to the pod."""
        return b"00-%s-%s-%s" % (self.trace_id, self.upstream_span_id,
                                 b"01" if self.sampled else b"00")


class FinishedRequest(NamedTuple):
    """What a span needs, captured when the request ends (times are epoch seconds)."""

    context: TraceContext
    name: str  # of the server span
    started: float
    ended: float
    method: str
    target: str
    host: str
    status: int
    route: RouteLabels  # host, namespace, ingress, service, path, canary
    upstream_addr: str  # "ip:port", '' when no pod answered
    upstream_started: float
    upstream_ended: float


_HEX = frozenset(b"0123456789abcdef")


def parse_traceparent(value: bytes) -> tuple[bytes, bytes, bool] | None:
    """(trace id, parent span id, sampled) of a valid version-00 header, else None."""
    value = value.strip()
    if len(value) < 55 or value[2:3] != b"-" or value[35:36] != b"-" or value[52:53] != b"-":
        return None
    version, trace_id, parent_id, flags = value[:2], value[3:35], value[36:52], value[53:55]
    if version == b"ff" or (version == b"00" and len(value) != 55):
        return None
    if not (set(version) | set(trace_id) | set(parent_id) | set(flags)) <= _HEX:
        return None
    if trace_id == b"0" * 32 or parent_id == b"0" * 16:
        return None
    return trace_id, parent_id, bool(int(flags, 16) & 1)


def tracing_available() -> bool:
    """Whether the optional `tracing` extra is installed."""
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


class Tracer:
    def __init__(self, endpoint: str, sample_ratio: float, stats: ProxyStats,
                 service_name: str = "portico") -> None:
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError(f"--trace-sample-ratio: {sample_ratio} is not between 0 and 1")
        self._exporter = _SpanExporter(endpoint, service_name)  # ImportError without the extra
        self._ratio = sample_ratio
        self._random = random.Random()
        self._stats = stats
        self._queue: queue.SimpleQueue[FinishedRequest | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="otlp-export", daemon=True)
        self._thread.start()

    def start(self, headers: list[tuple[bytes, bytes, bytes]],
              trust_incoming: bool = True) -> TraceContext:
        """Continue the trace the request's `traceparent` names (when trusted), or start one."""
        incoming = None
        if trust_incoming:
            for _, lname, value in headers:
                if lname == b"traceparent":
                    incoming = parse_traceparent(value)
                    break
        bits = self._random.getrandbits
        if incoming is not None:
            trace_id, parent_id, sampled = incoming
        else:
            trace_id, parent_id = b"%032x" % bits(128), b""
            sampled = self._random.random() < self._ratio
        return TraceContext(trace_id, b"%016x" % bits(64), b"%016x" % bits(64), parent_id,
                            sampled)

    def finish(self, request: FinishedRequest) -> None:
        """Queue a sampled request's spans; past `_MAX_QUEUED` waiting, count it dropped."""
        if self._queue.qsize() >= _MAX_QUEUED:
            self._stats.spans_dropped += 1
            return
        self._stats.spans_queued += 1
        self._queue.put(request)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (bounded by `timeout`) and stop the exporter."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        closing = False
        while not closing:
            batch: list[FinishedRequest] = []
            deadline = time.monotonic() + _BATCH_DELAY
            while len(batch) < _BATCH:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
            if batch:
                self._exporter.export(batch)


class _SpanExporter:
    """OpenTelemetry SDK spans from finished requests, sent with the OTLP/HTTP exporter."""

    def __init__(self, endpoint: str, service_name: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource

        url = endpoint.rstrip("/")
        self._exporter = OTLPSpanExporter(
            endpoint=url if url.endswith("/v1/traces") else url + "/v1/traces", timeout=5)
        # OTEL_SERVICE_NAME (the chart's tracing.serviceName) tells installations apart;
        # Resource.create adds what OTEL_RESOURCE_ATTRIBUTES names.
        self._resource = Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})

    def export(self, batch: list[FinishedRequest]) -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        scope = InstrumentationScope("portico")
        spans: list[Any] = []
        flags = TraceFlags(TraceFlags.SAMPLED)
        for r in batch:
            c = r.context
            trace_id = int(c.trace_id, 16)

            def context(span_id: bytes, remote: bool = False, tid: int = trace_id) -> Any:
                return SpanContext(tid, int(span_id, 16), is_remote=remote, trace_flags=flags)

            server = context(c.span_id)
            host, namespace, ingress, service, path, _ = r.route
            status = Status(StatusCode.ERROR) if r.status >= 500 else Status(StatusCode.UNSET)
            spans.append(ReadableSpan(
                name=r.name,
                context=server,
                parent=context(c.parent_id, remote=True) if c.parent_id else None,
                resource=self._resource, kind=SpanKind.SERVER, instrumentation_scope=scope,
                attributes={
                    "http.request.method": r.method, "url.path": r.target,
                    "server.address": r.host, "http.route": path,
                    "http.response.status_code": r.status,
                    "k8s.namespace.name": namespace, "portico.ingress": ingress,
                    "portico.service": service, "portico.rule_host": host,
                },
                status=status, start_time=int(r.started * 1e9), end_time=int(r.ended * 1e9)))
            if r.upstream_addr:
                address, _, port = r.upstream_addr.rpartition(":")
                spans.append(ReadableSpan(
                    name="upstream", context=context(c.upstream_span_id), parent=server,
                    resource=self._resource, kind=SpanKind.CLIENT, instrumentation_scope=scope,
                    attributes={"server.address": address, "server.port": int(port),
                                "http.response.status_code": r.status},
                    status=status, start_time=int(r.upstream_started * 1e9),
                    end_time=int(r.upstream_ended * 1e9)))
        try:
            self._exporter.export(spans)
        except Exception:  # the collector is away: the proxy keeps going without its spans
            log.warning("exporting %d spans to the OTLP endpoint failed", len(spans),
                        exc_info=True)
