"""HTTP/2 connections to pods (gRPC), a few per pod, each carrying many calls.

nginx opens one upstream connection per gRPC call; here calls to one pod
share `H2EndpointPool.conns`, a new connection opening only when every open
one has as many streams as the pod allows. Pools are keyed by the pod's
address and TLS settings, like the HTTP/1.1 pools, so they survive table
swaps. GRPCS speaks TLS with ALPN `h2` and, as ingress-nginx, verifies the
pod only with `proxy-ssl-verify` (and `proxy-ssl-secret`'s CA).

Flow control passes through: the pod's response DATA is acknowledged to it
only once the client's window took it, and request DATA is acknowledged to
the client only once the pod's window took it (see `GrpcCall`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import TYPE_CHECKING, cast

from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from ingress.model import UpstreamTls
from ingress.proxy.h2.fields import codec_config
from ingress.proxy.h2.writes import BatchedWrites
from ingress.proxy.upstream_tls import check_peer

if TYPE_CHECKING:
    from ingress.proxy.h2.call import GrpcCall

# Streams per connection before another opens, when the pod does not say.
_DEFAULT_STREAMS = 100
_WINDOW = 1024 * 1024

# The pod's fields are checked once by fields.from_pod.
_CONFIG = codec_config(client_side=True)


class H2EndpointPool:
    __slots__ = ("address", "connect_timeout", "conns", "context", "loop", "name", "retired",
                 "tls")

    def __init__(self, address: tuple[str, int], loop: asyncio.AbstractEventLoop,
                 connect_timeout: float, tls: UpstreamTls | None = None,
                 context: ssl.SSLContext | None = None, name: str = "") -> None:
        self.address = address
        self.loop = loop
        self.connect_timeout = connect_timeout
        self.tls = tls
        self.context = context  # with ALPN h2
        self.name = name  # the name the pod's certificate must carry (and maybe the SNI)
        self.conns: list[H2UpstreamConnection] = []
        self.retired = False

    def attach(self, call: GrpcCall) -> None:
        """Open `call` on the least busy connection with room, or on a new one."""
        best: H2UpstreamConnection | None = None
        for conn in self.conns:
            if conn.accepting and conn.load < conn.capacity and (
                best is None or conn.load < best.load
            ):
                best = conn
        if best is None:
            best = H2UpstreamConnection(self)
            self.conns.append(best)
            route = call.exchange.route
            timeout = route.upstream.connect_timeout if route is not None else None
            self.loop.create_task(self._connect(
                best, self.connect_timeout if timeout is None else timeout))
        best.start(call)

    async def _connect(self, conn: H2UpstreamConnection, timeout: float) -> None:
        """Connect within the route's proxy-connect-timeout (that of the call that asked)."""
        host, port = self.address
        tls = self.tls
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await self.loop.create_connection(
                    lambda: conn, host, port, ssl=self.context,
                    server_hostname=None if tls is None else self.name if tls.server_name else "",
                )
        except OSError as error:  # TimeoutError and ssl.SSLError included
            conn.failed("connect_timeout" if isinstance(error, TimeoutError) else
                        "tls" if isinstance(error, ssl.SSLError) else "connect_refused")
            return
        if tls is not None and check_peer(transport.get_extra_info("ssl_object"), tls,
                                          self.name) is not None:
            transport.close()
            conn.failed("tls")

    def forget(self, conn: H2UpstreamConnection) -> None:
        if conn in self.conns:
            self.conns.remove(conn)

    def sweep(self, now: float, idle: float) -> None:
        """Close connections that carried no call for `idle` seconds."""
        for conn in list(self.conns):
            if conn.load == 0 and conn.ready:
                if conn.idle_since == 0.0:
                    conn.idle_since = now
                elif now - conn.idle_since > idle:
                    conn.close()

    def retire(self) -> None:
        """The pod left the table: close each connection once its calls are done."""
        self.retired = True
        for conn in list(self.conns):
            conn.accepting = False
            if conn.load == 0:
                conn.close()


class H2UpstreamConnection(BatchedWrites):
    __slots__ = (
        "accepting",
        "calls",
        "capacity",
        "closed",
        "idle_since",
        "load",
        "pool",
        "ready",
        "waiting",
    )

    def __init__(self, pool: H2EndpointPool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.h2 = H2Connection(config=_CONFIG)
        self.h2.local_settings = Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW,
            },
        )
        self.calls: dict[int, GrpcCall] = {}
        self.waiting: list[GrpcCall] = []  # calls that arrived while connecting
        self.load = 0  # calls open or waiting
        self.capacity = _DEFAULT_STREAMS
        self.accepting = True
        self.ready = False
        self.closed = False
        self.flush_scheduled = False
        self.idle_since = 0.0

    # --- lifecycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        h2 = self.h2
        h2.initiate_connection()
        h2.increment_flow_control_window(_WINDOW - 65535)
        self.ready = True
        waiting, self.waiting = self.waiting, []
        for call in waiting:
            self._open(call)
        self.flush()

    def failed(self, reason: str) -> None:
        """Could not connect: every call waiting for this connection fails over."""
        self.closed = True
        self.accepting = False
        self.pool.forget(self)
        waiting, self.waiting = self.waiting, []
        self.load = 0
        for call in waiting:
            call.up_failed(reason, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.accepting = False
        self.transport = None
        self.pool.forget(self)
        calls, self.calls = self.calls, {}
        self.load = 0
        for call in calls.values():
            call.up_failed("reset", False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.accepting = False
            self.pool.forget(self)
            if self.transport is not None:
                self.h2.close_connection()
                self.flush()
                self.transport.close()

    # --- calls

    def start(self, call: GrpcCall) -> None:
        self.load += 1
        self.idle_since = 0.0
        if self.ready:
            self._open(call)
            self.schedule_flush()
        else:
            self.waiting.append(call)

    def _open(self, call: GrpcCall) -> None:
        if call.stream.call is not call:  # the client went away, or was answered, meanwhile
            self.load -= 1
            return
        h2 = self.h2
        sid = h2.get_next_available_stream_id()
        h2.send_headers(sid, call.request_headers(self.pool.tls is not None))
        self.calls[sid] = call
        call.attached(self, sid)

    def send_body(self, call: GrpcCall, pending: deque[bytes], end: bool) -> int:
        """Send what the pod's window allows of `pending`, the last frame with END_STREAM
        when `end` and all of it goes; the number of bytes sent."""
        h2 = self.h2
        sid = call.sid
        if sid not in self.calls:
            return 0
        sent = 0
        frame = h2.max_outbound_frame_size
        while pending:
            data = pending[0]
            allowed = min(len(data), h2.local_flow_control_window(sid), frame)
            if allowed <= 0:
                break
            if allowed < len(data):
                h2.send_data(sid, data[:allowed])
                pending[0] = data[allowed:]
            else:
                pending.popleft()
                h2.send_data(sid, data, end_stream=end and not pending)
            sent += allowed
        if sent:
            self.schedule_flush()
        return sent

    def end_body(self, call: GrpcCall, trailers: list[tuple[bytes, bytes]] | None) -> None:
        if call.sid in self.calls:
            if trailers:
                self.h2.send_headers(call.sid, trailers, end_stream=True)
            else:
                self.h2.end_stream(call.sid)
            self.schedule_flush()

    def acknowledge(self, call: GrpcCall, size: int) -> None:
        """The client took `size` bytes of this call's response: the pod may send more."""
        if call.sid in self.calls:
            self.h2.acknowledge_received_data(size, call.sid)
            self.schedule_flush()

    def detach(self, call: GrpcCall) -> None:
        """The call ended normally."""
        if self.calls.pop(call.sid, None) is not None:
            self._call_done()

    def cancel(self, call: GrpcCall) -> None:
        """The client went away or the call timed out: tell the pod to stop."""
        if self.calls.pop(call.sid, None) is not None:
            if not self.closed:
                self.h2.reset_stream(call.sid, ErrorCodes.CANCEL)
                self.schedule_flush()
            self._call_done()
        elif call in self.waiting:
            self.waiting.remove(call)
            self.load -= 1

    def _call_done(self) -> None:
        self.load -= 1
        if self.load == 0 and (not self.accepting or self.pool.retired):
            self.close()

    # --- frames from the pod

    def data_received(self, data: bytes) -> None:
        self.flush_scheduled = True  # what the calls answer goes out with this read's flush
        try:
            events = self.h2.receive_data(data)
        except ProtocolError:
            self.flush()
            if self.transport is not None:
                self.transport.close()
            return
        calls = self.calls
        for event in events:
            kind = type(event)
            if kind is DataReceived:
                received = cast(DataReceived, event)
                sid = received.stream_id or 0
                call = calls.get(sid)
                payload = received.data or b""
                padding = (received.flow_controlled_length or 0) - len(payload)
                if padding:
                    self.h2.acknowledge_received_data(padding, sid)
                if call is not None:
                    call.from_up_data(payload)
                elif payload:
                    self.h2.acknowledge_received_data(len(payload), sid)
            elif kind is ResponseReceived:
                response = cast(ResponseReceived, event)
                call = calls.get(response.stream_id or 0)
                if call is not None:
                    ended = response.stream_ended is not None
                    call.from_up_response(list(response.headers or ()), ended)
            elif kind is TrailersReceived:
                trailers = cast(TrailersReceived, event)
                call = calls.get(trailers.stream_id or 0)
                if call is not None:
                    call.from_up_trailers(list(trailers.headers or ()))
            elif kind is StreamEnded:
                call = calls.get(cast(StreamEnded, event).stream_id or 0)
                if call is not None:
                    call.from_up_end()
            elif kind is WindowUpdated:
                sid = cast(WindowUpdated, event).stream_id or 0
                targets = list(calls.values()) if sid == 0 else [calls[sid]] if sid in calls else []
                for call in targets:
                    if call.pending:
                        call.flush_up()
            elif kind is StreamReset:
                reset = cast(StreamReset, event)
                call = calls.pop(reset.stream_id or 0, None)
                if call is not None:
                    self._call_done()
                    if reset.error_code == ErrorCodes.REFUSED_STREAM:
                        call.up_failed("connect_refused", True)
                    else:
                        call.up_reset(int(reset.error_code or 0))
            elif kind is RemoteSettingsChanged:
                changed = cast(RemoteSettingsChanged, event).changed_settings
                limit = changed.get(SettingCodes.MAX_CONCURRENT_STREAMS)
                if limit is not None:
                    self.capacity = max(1, min(limit.new_value, 1000))
            elif kind is ConnectionTerminated:
                self._goaway(cast(ConnectionTerminated, event).last_stream_id or 0)
        self.flush()

    def _goaway(self, last_stream_id: int) -> None:
        """The pod is going away: calls it never saw try again elsewhere."""
        self.accepting = False
        self.pool.forget(self)
        for sid in [s for s in self.calls if s > last_stream_id]:
            call = self.calls.pop(sid)
            self._call_done()
            call.up_failed("connect_refused", True)
        if not self.calls:
            self.close()
