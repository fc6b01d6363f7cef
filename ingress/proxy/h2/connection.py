"""An HTTP/2 client connection: frames in, streams out, abuse kept out.

Everything one read produces (and everything the upstreams produce in one
turn of the loop) leaves in one transport write: streams call
`schedule_flush`, which is a no-op while a read is being handled (it
flushes at its end) and otherwise writes once, at the end of the loop turn.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, cast

from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    PingReceived,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import DenialOfServiceError, ProtocolError
from h2.settings import SettingCodes, Settings
from hyperframe.frame import GoAwayFrame

from ingress.proxy.h2 import limits
from ingress.proxy.h2.answers import raw_pairs
from ingress.proxy.h2.fields import codec_config
from ingress.proxy.h2.stream import H2Stream
from ingress.proxy.h2.writes import BatchedWrites
from ingress.proxy.peer import NO_PEER, PeerCertificate
from ingress.proxy.target import host_name

if TYPE_CHECKING:
    from ingress.proxy.dataplane import Dataplane, Listener

# Per-stream receive window: how much request body a stream may have in
# flight before the upstream takes it. The connection's window bounds the sum.
_STREAM_WINDOW = 256 * 1024
_CONNECTION_WINDOW = 1024 * 1024

# Request fields are checked in one pass by request.read_request.
_CONFIG = codec_config(client_side=False)


class _AnnouncedStreamLimit(Settings):
    """Our SETTINGS announce the stream limit, but h2 does not enforce it itself.

    h2 answers one stream too many with a connection error, which kills every
    stream of a client that opened its streams before it read our SETTINGS
    (h2load does). `H2ClientConnection` refuses the extra stream alone instead.
    """

    @property
    def max_concurrent_streams(self) -> int:
        return 2**31 - 1

    @max_concurrent_streams.setter
    def max_concurrent_streams(self, value: int) -> None:
        self[SettingCodes.MAX_CONCURRENT_STREAMS] = value


class H2ClientConnection(BatchedWrites):
    __slots__ = (
        "client_ip",
        "closed",
        "deadline",
        "dp",
        "draining",
        "forwarded_cache",
        "forwarded_fixed",
        "forwarded_per_request",
        "headers_trusted",
        "held",
        "last_authority",
        "last_host",
        "listener",
        "max_streams",
        "peer",
        "pings",
        "resets",
        "served_context",
        "settings_frames",
        "streams",
        "write_paused",
    )

    def __init__(self, dp: Dataplane, listener: Listener) -> None:
        self.dp = dp
        self.loop = dp.loop
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.h2 = H2Connection(config=_CONFIG)
        self.streams: dict[int, H2Stream] = {}
        self.held: list[H2Stream] = []  # streams holding body bytes back (H2Stream.write)
        self.closed = False
        self.write_paused = False
        self.draining = False
        self.flush_scheduled = False
        # The client address, as the HTTP/1.1 connection it started as settled it.
        self.client_ip = ""
        self.forwarded_fixed = b""
        self.headers_trusted = False
        self.forwarded_per_request = False
        self.forwarded_cache: list[tuple[bytes, bytes]] = []
        self.deadline = 0.0
        self.served_context: ssl.SSLContext | None = None
        self.last_authority = b"\x00"  # no authority can be this: host_name refuses NUL
        self.last_host = ""
        self.peer: PeerCertificate | None = None
        now = dp.loop.time()
        self.max_streams = max_streams = dp.settings.http2_max_concurrent_streams
        self.resets = limits.Bucket(*limits.reset_limit(max_streams), now)
        self.pings = limits.Bucket(*limits.PING_LIMIT, now)
        self.settings_frames = limits.Bucket(*limits.SETTINGS_LIMIT, now)

    # --- lifecycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Taken over from an HTTP/1.1 `ClientConnection` (h2/handover.py)."""
        self.transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.served_context = ssl_object.context
        dp = self.dp
        settings = dp.settings
        self.deadline = dp.loop.time() + settings.keepalive_timeout
        h2 = self.h2
        h2.local_settings = _AnnouncedStreamLimit(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: settings.http2_max_concurrent_streams,
                SettingCodes.MAX_HEADER_LIST_SIZE: settings.max_header_size,
                SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
                SettingCodes.ENABLE_PUSH: 0,
            },
        )
        h2.decoder.max_header_list_size = settings.max_header_size

    def start(self) -> None:
        """Our SETTINGS, and a connection window for more than one stream's body."""
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        self.flush()

    def start_upgraded(self, settings: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """After `Upgrade: h2c`: stream 1 is the HTTP/1.1 request that asked for it."""
        self.h2.initiate_upgrade_connection(settings)
        self.h2.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        stream = self.streams[1] = H2Stream(self, 1)
        stream.request(headers, True)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.dp.connection_closed(self)
        self._give_up_streams()
        self.transport = None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._give_up_streams()
            if self.transport is not None:
                self.transport.close()

    def _give_up_streams(self) -> None:
        """Nothing more can be sent: the open streams end here (counted as 499)."""
        self.closed = True
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream.reset_by_client()

    def flush(self) -> None:
        held = self.held
        if held:
            self.held = []
            for stream in held:
                stream.release_tail()
        if self.closed:
            self.flush_scheduled = False
        else:
            super().flush()

    def stream_closed(self, stream: H2Stream) -> None:
        self.streams.pop(stream.sid, None)
        if not self.streams:
            dp = self.dp
            self.deadline = dp.loop.time() + dp.settings.keepalive_timeout
            if self.draining:
                self.flush()
                self.close()

    def ssl_object(self) -> ssl.SSLObject | None:
        transport = self.transport
        return transport.get_extra_info("ssl_object") if transport is not None else None

    def peer_certificate(self) -> PeerCertificate | None:
        peer = self.peer
        if peer is None:
            reader = self.dp.peer_certificates
            ssl_object = self.ssl_object()
            peer = NO_PEER if reader is None or ssl_object is None else reader(ssl_object)
            self.peer = peer
        return peer

    def forwarded_fields(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """An exchange's forwarded header lines as fields; the connection's own are parsed
        once (they change only with trusted forwarded headers)."""
        if block is self.forwarded_fixed:
            fields = self.forwarded_cache
            if not fields:
                fields = self.forwarded_cache = raw_pairs(block)
            return fields
        return raw_pairs(block)

    def route_host(self, authority: bytes) -> str | None:
        """The routing name of a request's :authority (Host), by the HTTP/1.1 rules
        (`host_name`, BadTarget when invalid); None when the request must be answered 421:
        on TLS, a request for another host than the SNI's is routed only if this
        connection's certificate is also that host's (RFC 9113 §9.1.1)."""
        if authority == self.last_authority:
            return self.last_host  # a client sends the same authority on every stream
        host = host_name(authority)
        pick = self.dp.certificate_context
        if self.served_context is not None and pick is not None and \
                pick(host) is not self.served_context:
            return None
        self.last_authority = authority
        self.last_host = host
        return host

    # --- flow control of our writes

    def pause_writing(self) -> None:
        self.write_paused = True
        for stream in self.streams.values():
            stream.pause_upstream()

    def resume_writing(self) -> None:
        self.write_paused = False
        for stream in list(self.streams.values()):
            stream.resume_upstream()
        self.flush()

    # --- frames in

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        # Streams answered while this read is handled flush with it, at its end.
        self.flush_scheduled = True
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as error:
            self._protocol_error(error)
            return
        streams = self.streams
        for event in events:
            if self.closed:
                return
            kind = type(event)
            if kind is RequestReceived:
                self._request(cast(RequestReceived, event))
            elif kind is DataReceived:
                received = cast(DataReceived, event)
                sid = received.stream_id or 0
                stream = streams.get(sid)
                if stream is not None:
                    stream.body(received.data or b"", received.flow_controlled_length or 0,
                                received.stream_ended is not None)
                else:
                    self.h2.acknowledge_received_data(received.flow_controlled_length or 0, sid)
            elif kind is StreamEnded:
                stream = streams.get(cast(StreamEnded, event).stream_id or 0)
                if stream is not None:
                    stream.body_end()
            elif kind is WindowUpdated:
                self._window_updated(cast(WindowUpdated, event).stream_id or 0)
            elif kind is StreamReset:
                self._reset(cast(StreamReset, event))
            elif kind is TrailersReceived:
                trailers = cast(TrailersReceived, event)
                stream = streams.get(trailers.stream_id or 0)
                if stream is not None:
                    stream.trailers_received(list(trailers.headers or ()))
            elif kind is PingReceived:
                if not self.pings.take(self.dp.loop.time()):
                    self._abuse(limits.PING_FLOOD)
                    return
            elif kind is RemoteSettingsChanged:
                if not self.settings_frames.take(self.dp.loop.time()):
                    self._abuse(limits.SETTINGS_FLOOD)
                    return
                changed = cast(RemoteSettingsChanged, event).changed_settings
                if SettingCodes.INITIAL_WINDOW_SIZE in changed:
                    self._window_updated(0)
            elif kind is ConnectionTerminated:
                # h2 sends nothing after the client's GOAWAY: streams still open are given up
                # on (connection_lost resets them), as when the client just closes.
                self.flush()
                self.close()
                return
        self.flush()

    def _request(self, event: RequestReceived) -> None:
        sid = event.stream_id or 0
        if self.draining or len(self.streams) >= self.max_streams:
            # Opened after our GOAWAY or beyond the limit: the client may retry it.
            self.h2.reset_stream(sid, ErrorCodes.REFUSED_STREAM)
            return
        stream = self.streams[sid] = H2Stream(self, sid)
        self.deadline = 0.0
        stream.request(list(event.headers or ()), event.stream_ended is not None)

    def _window_updated(self, sid: int) -> None:
        if sid:
            stream = self.streams.get(sid)
            if stream is not None and stream.pending:
                stream.flush_pending()
            return
        for stream in list(self.streams.values()):
            if stream.pending:
                stream.flush_pending()

    def _reset(self, event: StreamReset) -> None:
        stream = self.streams.pop(event.stream_id or 0, None)
        if stream is not None:
            stream.reset_by_client()
            if not self.streams:
                self.deadline = self.dp.loop.time() + self.dp.settings.keepalive_timeout
        if event.remote_reset and not self.resets.take(self.dp.loop.time()):
            self._abuse(limits.RAPID_RESET)

    # --- closing

    def _abuse(self, reason: str) -> None:
        self.dp.stats.http2_closed_for(reason)
        self.h2.close_connection(ErrorCodes.ENHANCE_YOUR_CALM)
        self.flush()
        self.close()

    def _protocol_error(self, error: ProtocolError) -> None:
        if isinstance(error, DenialOfServiceError):
            reason = limits.HEADER_LIST_TOO_LARGE
        elif "continuation" in str(error).lower():
            reason = limits.CONTINUATION_FLOOD
        else:
            reason = limits.PROTOCOL_ERROR
        self.dp.stats.http2_closed_for(reason)
        self.flush()  # h2 has queued the GOAWAY naming the error
        self.close()

    def drain(self) -> None:
        """Shutdown: GOAWAY now, close once the open streams are done."""
        if self.closed or self.draining:
            return
        self.draining = True
        # Our own GOAWAY frame leaves h2's state open, so the streams in flight go on.
        frame = GoAwayFrame(0)
        frame.last_stream_id = self.h2.highest_inbound_stream_id
        frame.error_code = ErrorCodes.NO_ERROR
        self.flush()
        if self.transport is not None:
            self.transport.write(frame.serialize())
        if not self.streams:
            self.close()

    def sweep(self, now: float) -> None:
        """Timeouts: each stream's upstream, and the idle connection."""
        if not self.streams:
            if 0 < self.deadline < now:
                self.drain()
            return
        for stream in list(self.streams.values()):
            stream.sweep(now)
