"""A call to a pod that speaks HTTP/2 (backend-protocol GRPC or GRPCS), for one client stream.

The call picks an endpoint as any request does, opens a stream on one of
that pod's shared connections (`H2EndpointPool`) and passes frames through
both ways: HEADERS, DATA and trailers, with flow control end to end (the
client's request DATA is acknowledged to it once the pod's window took it,
the pod's response DATA once the client's window took it).

`proxy-read-timeout` is the idle time between frames, as in ingress-nginx,
so a long stream lives as long as it talks; `grpc-timeout` bounds the whole
call, capped at that timeout, and is forwarded to the pod.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from h2.errors import ErrorCodes
from hpack import NeverIndexedHeaderTuple

from ingress.proxy.exchange import Exchange
from ingress.proxy.filters import apply_response_filters
from ingress.proxy.h2 import grpc
from ingress.proxy.h2.fields import from_pod
from ingress.proxy.http import HOP_BY_HOP, SET_BY_PROXY

if TYPE_CHECKING:
    from ingress.proxy.endpoint_pool import EndpointPool
    from ingress.proxy.h2.stream import H2Stream
    from ingress.proxy.h2.upstream import H2UpstreamConnection

Field = tuple[bytes, bytes]

# Request headers not passed to an HTTP/2 pod: hop-by-hop ones and what the proxy sets
# (`te: trailers` goes on: gRPC servers require it; the client's X-Forwarded-For is in
# `exchange.forwarded` when it is to be believed).
_NOT_PASSED = HOP_BY_HOP | SET_BY_PROXY | {b"http2-settings"}
# Values new on every call: kept out of the connection's HPACK table, where each would
# push the values that do repeat out (and make every header's table search a full scan).
_UNIQUE = frozenset((b"x-request-id", b"grpc-timeout", b"traceparent"))
_TRACEPARENT = frozenset((b"traceparent",))


class GrpcCall:
    __slots__ = (
        "counted",
        "deadline",
        "ended",
        "exchange",
        "expires",
        "pending",
        "read_timeout",
        "sid",
        "stream",
        "trailers",
        "up",
    )

    def __init__(self, stream: H2Stream, exchange: Exchange) -> None:
        self.stream = stream
        self.exchange = exchange
        self.up: H2UpstreamConnection | None = None
        self.sid = 0  # the stream id on `up`
        self.ended = False  # END_STREAM sent to the pod
        self.pending: deque[bytes] = deque()  # request DATA the pod has no window for yet
        self.trailers: list[Field] | None = None  # the client's request trailers
        self.read_timeout = 0.0
        self.deadline = 0.0  # idle limit between frames
        self.expires = 0.0  # grpc-timeout
        # The pod's HTTP/1.1 pool, whose `active` count least_conn reads: a call in flight
        # counts as that pod's load as a request does.
        self.counted: EndpointPool | None = None

    # --- choosing a pod

    def start(self) -> None:
        exchange = self.exchange
        stream = self.stream
        endpoint = stream._pick(exchange)
        if endpoint is None:
            return
        assert exchange.backend is not None
        if not self.read_timeout:
            self._start_clock()
        dp = stream.dp
        self.counted = dp.pool(endpoint.address)
        self.counted.active += 1
        dp.h2_pool(endpoint.address, exchange.backend).attach(self)

    def _start_clock(self) -> None:
        """The idle limit between frames, and the call's own deadline from grpc-timeout."""
        exchange = self.exchange
        assert exchange.route is not None
        now = self.stream.dp.loop.time()
        self.read_timeout = self.stream._read_timeout(exchange.route)
        self.deadline = now + self.read_timeout
        headers = exchange.headers
        for index, (_, lname, value) in enumerate(headers):
            if lname == b"grpc-timeout":
                seconds = grpc.parse_timeout(value)
                if seconds is None:
                    continue
                if seconds > self.read_timeout:
                    seconds = self.read_timeout
                    headers[index] = (lname, lname, grpc.format_timeout(seconds))
                self.expires = now + seconds

    def request_headers(self, tls: bool) -> list[Field]:
        """The request as the pod gets it: the client's fields, forwarding headers, edits."""
        stream = self.stream
        exchange = self.exchange
        assert exchange.route is not None
        authority = exchange.host.encode("latin-1")
        host = exchange.route.upstream.host
        dropped = _NOT_PASSED
        edits = exchange.header_edits
        if edits is not None:
            for edit in edits:
                dropped = dropped | edit.replaced
        trace = exchange.trace
        if trace is not None:
            dropped = dropped | _TRACEPARENT  # the pod gets Portico's, as over HTTP/1.1
        fields: list[Field] = []
        for _, lname, value in exchange.headers:
            if lname == b"host":
                authority = value
            elif lname in dropped and (lname != b"te" or value != b"trailers"):
                continue
            elif lname in _UNIQUE:
                fields.append(NeverIndexedHeaderTuple(lname, value))
            else:
                fields.append((lname, value))
        if host is not None:
            authority = host.encode("latin-1")
        headers = [
            (b":method", exchange.method),
            (b":scheme", b"https" if tls else b"http"),
            (b":path", exchange.target),
            (b":authority", authority),
            *fields,
            # X-Forwarded-For/-Proto/-Port and X-Real-IP as the HTTP/1.1 head has them.
            *stream.conn.forwarded_fields(exchange.forwarded),
            (b"x-forwarded-host", exchange.forwarded_host or exchange.host.encode("latin-1")),
        ]
        if edits is not None:
            for edit in edits:
                headers += [(name.lower(), value) for name, value in (*edit.set, *edit.add)]
        if exchange.request_id_generated:
            headers.append(NeverIndexedHeaderTuple(b"x-request-id", exchange.request_id))
        if trace is not None:
            headers.append(NeverIndexedHeaderTuple(b"traceparent", trace.traceparent()))
        return headers

    # --- the request, to the pod

    def attached(self, up: H2UpstreamConnection, sid: int) -> None:
        """The call's stream to the pod is open: send what the client sent meanwhile."""
        self.up = up
        self.sid = sid
        self.ended = False
        self.exchange.sent_at = self.stream.dp.loop.time()
        self.flush_up()

    def body(self, data: bytes) -> None:
        if data:
            self.pending.append(data)
        self.touch()
        if self.up is not None:
            self.flush_up()

    def body_end(self) -> None:
        self.touch()
        if self.up is not None:
            self.flush_up()

    def flush_up(self) -> None:
        """Send the request body the pod has window for; give the client its window back."""
        up = self.up
        stream = self.stream
        if up is None or stream.closed:
            return
        # When the client's body has ended, its last DATA frame to the pod says so.
        end = stream.body_ended and self.trailers is None and not self.ended
        sent = up.send_body(self, self.pending, end)
        if end and sent and not self.pending:
            self.ended = True
        if sent:
            stream.h2.acknowledge_received_data(sent, stream.sid)
            stream.conn.schedule_flush()
        if not self.pending and stream.body_ended and not self.ended:
            self.ended = True
            up.end_body(self, self.trailers)

    def touch(self) -> None:
        self.deadline = self.stream.dp.loop.time() + self.read_timeout

    def acknowledge(self, size: int) -> None:
        """The client took `size` bytes of the response: the pod may send as much more."""
        if self.up is not None:
            self.up.acknowledge(self, size)

    # --- the response, from the pod

    def from_up_response(self, headers: list[Field], ended: bool) -> None:
        stream = self.stream
        exchange = self.exchange
        if stream.closed or stream.local_ended:
            return
        self.touch()
        headers = from_pod(headers)
        status = headers[0][1] if headers and headers[0][0] == b":status" else b""
        exchange.status = int(status) if status.isdigit() else 502
        exchange.response_started = True
        exchange.headers_at = stream.dp.loop.time()
        if exchange.response_filters:
            apply_response_filters(exchange, headers)
        if ended:
            stream.local_ended = True
        stream.h2.send_headers(stream.sid, headers, end_stream=ended)
        if ended:
            self._done()
            stream.response_done(exchange)
        stream.conn.schedule_flush()

    def from_up_data(self, data: bytes) -> None:
        self.touch()
        stream = self.stream
        if not stream.local_ended and not stream.closed:
            self.exchange.sent_bytes += len(data)
            stream.write(data)

    def from_up_trailers(self, trailers: list[Field]) -> None:
        self._done()
        stream = self.stream
        if stream.closed:
            return
        stream.send_trailers(from_pod(trailers))
        stream.response_done(self.exchange)

    def from_up_end(self) -> None:
        self._done()
        stream = self.stream
        if not stream.closed and not stream.local_ended:
            stream.response_done(self.exchange)

    def up_failed(self, reason: str, retryable: bool) -> None:
        """The pod's connection failed, or the pod refused the stream, before answering."""
        self.up = None
        self._uncount()
        stream = self.stream
        exchange = self.exchange
        if stream.closed or stream.call is not self:
            return
        dp = stream.dp
        backend = exchange.backend
        dp.stats.upstream_failed(backend.key if backend is not None else "", reason)
        if exchange.response_started:
            stream.upstream_aborted(exchange)
        elif retryable and stream._retry(exchange, reason, False):
            dp.stats.retried(reason)
            self.start()
        elif reason == "connect_timeout" and not stream.grpc:
            stream.answer(exchange, 504)
        else:
            # A pod not connected to in time is UNAVAILABLE to a gRPC client, as an
            # unreachable one is (504 would say DEADLINE_EXCEEDED).
            stream.answer(exchange, 502)

    def up_reset(self, code: int) -> None:
        """The pod reset its stream: pass the reset on (gRPC clients map it to a status)."""
        self._done()
        stream = self.stream
        if stream.closed or stream.local_ended:
            return
        exchange = self.exchange
        stream._finished(exchange, exchange.status or 502)
        stream._reset(ErrorCodes(code) if code in set(ErrorCodes) else ErrorCodes.INTERNAL_ERROR)

    def _done(self) -> None:
        self._uncount()
        up, self.up = self.up, None
        if up is not None:
            up.detach(self)

    def _uncount(self) -> None:
        counted, self.counted = self.counted, None
        if counted is not None:
            counted.active -= 1

    def cancel(self) -> None:
        """The client went away, or Portico answered: the pod may stop."""
        self._uncount()
        up, self.up = self.up, None
        if up is not None:
            up.cancel(self)

    def sweep(self, now: float) -> None:
        """Idle between frames for longer than the read timeout, or past grpc-timeout."""
        if 0 < self.deadline < now or 0 < self.expires < now:
            self.stream.answer(self.exchange, 504)  # DEADLINE_EXCEEDED for gRPC clients
