"""One HTTP/2 stream: a request routed, filtered and forwarded like any other.

An `H2Stream` is the `Forwarder` of its one exchange, so routing, filters,
retries, metrics and the access log are the HTTP/1.1 connection's. To an
HTTP/1.1 upstream it is the exchange's owner: the upstream hands over the
response's status and headers (`response_head`) and its unframed body
(`write`), which become HEADERS and DATA frames. To an HTTP/2 upstream
(gRPC) a `GrpcCall` passes frames through.

Flow control follows both peers. Request DATA is acknowledged to the client
(its window reopens) only once the upstream took it. Response bytes wait in
`pending` while the client's window is closed; past a high-water mark the
upstream stops being read until the client catches up.
"""

from __future__ import annotations

import ssl
from collections import deque
from typing import TYPE_CHECKING

from h2.errors import ErrorCodes

from ingress.proxy.exchange import Exchange
from ingress.proxy.h2 import grpc
from ingress.proxy.h2.answers import answer_headers, head_pairs, raw_pairs
from ingress.proxy.h2.call import GrpcCall
from ingress.proxy.h2.request import read_request
from ingress.proxy.h2.window import ResponseWindow
from ingress.proxy.http import LAST_CHUNK, chunk
from ingress.proxy.peer import PeerCertificate
from ingress.proxy.target import BadTarget
from ingress.proxy.upstream import UpstreamConnection

if TYPE_CHECKING:

    from ingress.proxy.h2.connection import H2ClientConnection
    from ingress.proxy.response_head import ResponseHead



class H2Stream(ResponseWindow):
    __slots__ = (
        "body_ended",
        "body_paused",
        "grpc",
        "local_ended",
        "tail",
        "unacked",
    )

    protocol = "HTTP/2.0"
    frames = True

    def __init__(self, conn: H2ClientConnection, sid: int) -> None:
        self.conn = conn
        self.sid = sid
        self.h2 = conn.h2
        self.dp = conn.dp
        self.listener = conn.listener
        self.client_ip = conn.client_ip
        self.forwarded_fixed = conn.forwarded_fixed
        self.headers_trusted = conn.headers_trusted
        self.forwarded_per_request = conn.forwarded_per_request
        self.feeding = False
        self.active: Exchange | None = None
        self.closed = False  # reset, or both sides ended
        self.write_paused = False  # streams pause their upstreams themselves
        self.grpc = False
        self.body_ended = False  # the client sent END_STREAM
        self.local_ended = False  # the response is complete (END_STREAM may still wait)
        self.end_pending = False
        self.trailers = None
        self.body_paused = False  # the upstream does not take the request body as fast
        self.unacked = 0  # request bytes received but not yet given back to the client
        self.tail = b""  # response bytes held until the loop turn ends (`write`)
        self.pending = deque()
        self.pending_size = 0
        self.upstream_paused = False
        self.call = None  # to a pod that speaks HTTP/2

    # --- the request, as the connection hands it over

    def request(self, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        request = read_request(headers, ended)
        if request is None:
            self._reset(ErrorCodes.PROTOCOL_ERROR)
            return
        self.grpc = request.grpc
        dp = self.dp
        exchange = Exchange(self, request.method, request.path, dp.loop.time())
        exchange.request_bytes = request.size
        exchange.headers = request.fields
        exchange.request_id = request.request_id
        exchange.content_length = request.content_length
        exchange.chunked_request = not ended and request.content_length < 0
        exchange.client_ip = self.client_ip
        exchange.forwarded = self.forwarded_fixed
        exchange.response_headers = self.listener.response_headers
        exchange.body_done = self.body_ended = ended
        self.active = exchange
        if len(request.path) > dp.settings.max_url_size:
            self.answer(exchange, 414)
            return
        try:
            host = self.conn.route_host(request.authority)
        except BadTarget:
            self.answer(exchange, 400)  # as an HTTP/1.1 request without a valid Host
            return
        if host is None:
            self.answer(exchange, 421)
            return
        exchange.host = host
        exchange.host_header = request.authority
        self._start(exchange)

    def body(self, data: bytes, flow_length: int, ended: bool) -> None:
        """Request DATA from the client (`ended`: with END_STREAM; `body_end` follows)."""
        padding = flow_length - len(data)
        if padding:
            self.h2.acknowledge_received_data(padding, self.sid)
        exchange = self.active
        if exchange is not None and exchange.copies is not None:
            for copy in exchange.copies:  # mirrors get the body as it arrives, as over HTTP/1.1
                copy.add(data)
        if exchange is None or exchange.answered or self.local_ended:
            if data:
                self.h2.acknowledge_received_data(len(data), self.sid)
            return
        exchange.body_bytes += len(data)
        limit = self._body_limit(exchange.route)
        if limit and exchange.body_bytes > limit and not exchange.response_started:
            self._abandon_upstream(exchange)
            self._cancel_call()
            self.answer(exchange, 413)
            return
        if self.call is not None:
            self.body_ended = ended  # so the pod's last DATA frame carries END_STREAM too
            self.call.body(data)
        elif exchange.body is not None:
            exchange.body.add(data)
            self.h2.acknowledge_received_data(len(data), self.sid)
        elif self._body_to_upstream(exchange, chunk(data) if exchange.chunked_request else data) \
                and not self.body_paused:
            self.h2.acknowledge_received_data(len(data), self.sid)
        else:
            self.unacked += len(data)

    def body_end(self) -> None:
        self.body_ended = True
        exchange = self.active
        if exchange is None:
            return
        exchange.body_done = True
        if exchange.chunked_request and exchange.copies is not None:
            for copy in exchange.copies:
                copy.end()  # a copy of a body with a length ends with its last byte
        if self.local_ended:
            self._maybe_closed()
        elif self.call is not None:
            self.call.body_end()
        elif exchange.body is not None:
            exchange.body.finish()
        elif exchange.chunked_request:
            self._body_to_upstream(exchange, LAST_CHUNK)

    def trailers_received(self, trailers: list[tuple[bytes, bytes]]) -> None:
        if self.call is not None:
            self.call.trailers = trailers  # gRPC clients may send some; the pod gets them
        self.body_end()

    def reset_by_client(self) -> None:
        """RST_STREAM from the client, or its connection is gone."""
        if self.closed:
            return
        self.closed = True
        exchange, self.active = self.active, None
        self._cancel_call()
        if exchange is not None and not self.local_ended:
            self._abandon_upstream(exchange)
            self._finished(exchange, 499)

    # --- what the shared Forwarder asks of the protocol

    def ssl_object(self) -> ssl.SSLObject | None:
        return self.conn.ssl_object()

    def peer_certificate(self) -> PeerCertificate | None:
        return self.conn.peer_certificate() if self.listener.tls else None

    def response_head(self, exchange: Exchange, status: int, head: ResponseHead,
                      no_body: bool) -> None:
        """The HTTP/1.1 upstream's status and headers (interim ones are not passed on)."""
        if self.closed or self.local_ended:
            return
        headers = head_pairs(status, head, exchange.response_headers)
        if no_body:
            self.local_ended = True
        self.h2.send_headers(self.sid, headers, end_stream=no_body)
        self.conn.schedule_flush()

    def write(self, data: bytes) -> None:
        """Response body bytes, unframed."""
        if self.closed or self.local_ended:
            return
        # Held until the loop turn ends: when the response ends in the same turn (as a
        # small one does), its last DATA frame carries END_STREAM instead of a frame more.
        if self.tail:
            self.send_body(self.tail)
        else:
            self.conn.held.append(self)
        self.tail = data
        self.conn.schedule_flush()

    def release_tail(self) -> None:
        """The loop turn ends: the body bytes held back go out now."""
        tail, self.tail = self.tail, b""
        if tail and not self.closed:
            self.send_body(tail)

    def send_answer(self, exchange: Exchange, status: int,
                    extra: tuple[tuple[bytes, bytes], ...]) -> None:
        if self.closed or self.local_ended:
            return
        self._cancel_call()
        if exchange.response_started:  # a call the pod began answering went wrong
            if not self.grpc:
                self.upstream_aborted(exchange)
                return
            self.send_trailers(grpc.trailers(status))
            self.response_done(exchange)
            return
        headers, body = answer_headers(status, extra, raw_pairs(exchange.response_headers),
                                       self.grpc)
        if exchange.head_only:
            body = b""
        exchange.sent_bytes = len(body)
        self.local_ended = not body
        self.h2.send_headers(self.sid, headers, end_stream=not body)
        if body:
            self.send_body(body)
        self.response_done(exchange)

    def response_done(self, exchange: Exchange) -> None:
        self._finished(exchange, exchange.status)
        if exchange.timed:
            self._observe(exchange)
        self._end_response()
        self.conn.schedule_flush()

    def _send(self, exchange: Exchange, upstream: UpstreamConnection, read_timeout: float) -> None:
        upstream.send(exchange, read_timeout)
        if exchange.body is not None and not exchange.error_page:
            exchange.body.send_to(upstream)
        if not self.body_paused and self.unacked:
            self.h2.acknowledge_received_data(self.unacked, self.sid)
            self.unacked = 0
            self.conn.schedule_flush()
        if (self.conn.write_paused or self.upstream_paused) and upstream.transport is not None:
            upstream.transport.pause_reading()

    def pause_request_body(self) -> None:
        self.body_paused = True

    def resume_request_body(self) -> None:
        self.body_paused = False
        if self.unacked and not self.closed:
            self.h2.acknowledge_received_data(self.unacked, self.sid)
            self.unacked = 0
            self.conn.schedule_flush()

    def upstream_aborted(self, exchange: Exchange) -> None:
        if exchange is self.active:
            self._finished(exchange, exchange.status)
            self._reset(ErrorCodes.INTERNAL_ERROR)

    def start_tunnel(self, exchange: Exchange, upstream: UpstreamConnection, data: bytes) -> None:
        # HTTP/2 requests carry no Upgrade, so an upstream's 101 is a broken answer.
        upstream.tunnel_owner = None
        upstream.close()
        self.upstream_aborted(exchange)

    def tunnel_closed(self) -> None:
        return None  # never a tunnel's owner (see start_tunnel)

    def _forward_h2(self, exchange: Exchange) -> None:
        self.call = GrpcCall(self, exchange)
        self.call.start()

    # --- ending

    def _end_response(self) -> None:
        if self.closed or self.end_pending or self.trailers is not None:
            return
        tail, self.tail = self.tail, b""
        if tail:
            h2 = self.h2
            if (not self.pending and not self.conn.write_paused
                    and len(tail) <= min(h2.local_flow_control_window(self.sid),
                                         h2.max_outbound_frame_size)):
                self.local_ended = True
                h2.send_data(self.sid, tail, end_stream=True)
                self._maybe_closed()
                return
            self.send_body(tail)
        if self.pending:
            self.local_ended = self.end_pending = True
        elif not self.local_ended:
            self.local_ended = True
            self.h2.end_stream(self.sid)
            self._maybe_closed()
        else:
            self._maybe_closed()

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        if self.local_ended or self.closed:
            return
        self.release_tail()
        self.local_ended = True
        if self.pending:
            self.trailers = trailers
        else:
            self.h2.send_headers(self.sid, trailers, end_stream=True)
            self._maybe_closed()

    def _maybe_closed(self) -> None:
        """Both directions are over once END_STREAM went out; stop any request body left."""
        if self.closed or self.end_pending or self.trailers is not None:
            return
        self.closed = True
        self.active = None
        if not self.body_ended:
            # Answered before the request body ended: the client may stop sending it.
            self._send_reset(ErrorCodes.NO_ERROR)
        self.conn.stream_closed(self)

    def _send_reset(self, code: ErrorCodes) -> None:
        # h2 has read all frames of this read already: the client may have ended the stream.
        state = self.h2.streams.get(self.sid)
        if state is not None and not state.closed:
            self.h2.reset_stream(self.sid, code)

    def _reset(self, code: ErrorCodes) -> None:
        if self.closed:
            return
        self.closed = True
        self.active = None
        self._cancel_call()
        self._send_reset(code)
        self.conn.stream_closed(self)
        self.conn.schedule_flush()

    def _cancel_call(self) -> None:
        call, self.call = self.call, None
        if call is not None:
            call.cancel()

    def sweep(self, now: float) -> None:
        """The upstream's read timeout (HTTP/1.1), or the call's deadlines (gRPC)."""
        exchange = self.active
        if exchange is None:
            return
        upstream = exchange.upstream
        if upstream is not None:
            if upstream.exchange is exchange and 0 < upstream.deadline < now:
                upstream.timed_out()
        elif self.call is not None:
            self.call.sweep(now)
